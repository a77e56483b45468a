using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;

namespace SockWatch.Agent;

/// <summary>`sockwatch run` (also bare `sockwatch`): the daemon's poll loop, until SIGTERM.</summary>
internal static partial class RunCommand
{
    /// <summary>How long a stop may take before the host gives up on the loop (systemd's TimeoutStopSec is larger).</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var config = CommonOptions.Config();
        var configured = CommonOptions.ConfigurationOptions(
            new("listen_address", new Option<string>("--listen-address") { Description = "Where to serve /metrics, / (summary), /healthz and /readyz (default :9859).", HelpName = "HOST:PORT" }),
            new("poll_interval", new Option<string>("--poll-interval") { Description = "Time between polls (default 15s).", HelpName = "DURATION" }),
            new("max_owner_series", new Option<string>("--max-owner-series") { Description = "Owner series (unit, process) per metric; the rest are summed into process=\"other\" (default 50).", HelpName = "N" }),
            new("netns_redump_after", new Option<string>("--netns-redump-after") { Description = "Dump a namespace whose TCP counters have not moved at least this often; meanwhile its listeners are read afresh and its connections carried from the last dump (default 10m; 0: dump every namespace every poll).", HelpName = "DURATION" }),
            new("max_destination_series", new Option<string>("--max-destination-series") { Description = "Destination and listener series per metric; the rest fold into \"other\" (default 20).", HelpName = "N" }),
            new("otlp_endpoint", new Option<string>("--otlp-endpoint") { Description = "Also push metrics over OTLP to this full URL (http/protobuf: .../v1/metrics; default: off).", HelpName = "URL" }),
            new("otlp_protocol", new Option<string>("--otlp-protocol") { Description = "http/protobuf (default) or grpc.", HelpName = "PROTOCOL" }),
            new("otlp_interval", new Option<string>("--otlp-interval") { Description = "Time between OTLP pushes (default 15s).", HelpName = "DURATION" }),
            new("web_config_file", new Option<string>("--web.config.file") { Description = "TLS and basic auth for every endpoint, from a web configuration file in the format of Prometheus's exporter-toolkit (default: none, plain HTTP).", HelpName = "FILE" }));
        var command = new Command("run", "The daemon: poll the socket table every interval, track every socket across polls, log findings as they appear and clear, and serve the latest poll as Prometheus metrics on /metrics. Stops on SIGTERM or Ctrl+C.");
        CommonOptions.AddTo(command, config, configured);

        command.SetAction(parse =>
        {
            var options = CommonOptions.LoadConfiguration(parse, config, configured);
            return Run(options);
        });
        return command;
    }

    private static int Run(SockWatchOptions options)
    {
        if (!ListenAddress.TryParse(options.ListenAddress, out var listen))
        {
            throw new UsageException($"--listen-address: '{options.ListenAddress}' is not HOST:PORT"); // validated before; kept for safety
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "sockwatch" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = false;
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        Web.WebAccess.AddTo(builder, options);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (listen.Address is { } ip)
            {
                k.Listen(ip, listen.Port);
            }
            else if (listen.Host is not null)
            {
                k.ListenLocalhost(listen.Port);
            }
            else
            {
                k.ListenAnyIP(listen.Port);
            }
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(services => new PollResultStore(services.GetRequiredService<Metrics.MetricsPipeline>(), options.CloseWaitLeakAfter));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<HttpPages>();
        builder.Services.AddSingleton<Metrics.MetricsPipeline>();
        builder.Services.AddSingleton(new SystemdConnection(SystemdNotifier.FromEnvironment(Environment.GetEnvironmentVariable, Environment.ProcessId)));
        builder.Services.AddHostedService<PollLoop>();
        builder.Services.AddHostedService<SystemdService>();

        using var app = builder.Build();
        Web.WebAccess.UseIn(app);
        var pages = app.Services.GetRequiredService<HttpPages>();
        var metrics = app.Services.GetRequiredService<Metrics.MetricsPipeline>();
        var logger = app.Services.GetRequiredService<ILogger<HttpPages>>();
        app.MapGet("/metrics", HttpErrorBoundary.Wrap(context => MetricsEndpoint.Serve(context, metrics.Scrape), logger));
        app.MapGet("/healthz", HttpErrorBoundary.Wrap(HttpPages.Healthz, logger));
        app.MapGet("/readyz", HttpErrorBoundary.Wrap(pages.Readyz, logger));
        app.MapGet("/", HttpErrorBoundary.Wrap(pages.Landing, logger));

        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"sockwatch run: cannot listen on {options.ListenAddress}: {e.Message}");
            return ExitCodes.Usage;
        }

        var addresses = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        LogListening(logger, addresses);
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        return ExitCodes.Ok;
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "listening on {Addresses}: /metrics, / (summary), /healthz, /readyz")]
    private static partial void LogListening(ILogger logger, string addresses);
}
