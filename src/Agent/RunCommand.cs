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
        var settings = CommonOptions.For(SockWatchCommands.Run);
        var command = new Command("run", "The daemon: poll the socket table every interval, track every socket across polls, log findings as they appear and clear, and serve the latest poll as Prometheus metrics on /metrics. Stops on SIGTERM or Ctrl+C.");
        settings.AddTo(command);

        command.SetAction(parse =>
        {
            var options = settings.Load(parse);
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

        using var tracer = Tracing.Tracer.Start(options.Trace, out var traceStatus);
        if (tracer is null && options.Trace == "on")
        {
            Console.Error.WriteLine($"sockwatch run: --trace on: tracing is impossible here ({traceStatus.Reason}): {traceStatus.Message}");
            return ExitCodes.Usage;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "sockwatch" });
        builder.Logging.ClearProviders();
        if (JournalStream.IsStdout(Environment.GetEnvironmentVariable("JOURNAL_STREAM"), JournalStream.ReadStdoutLink))
        {
            // Under systemd: `<4>` and the like in front of each line, so the journal knows a warning.
            builder.Logging.AddSystemdConsole(o => o.IncludeScopes = false);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.IncludeScopes = false;
            });
        }
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        try
        {
            Web.WebAccess.AddTo(builder, options.WebConfigFile);
        }
        catch (Web.WebConfigException e)
        {
            // Validated at start already; this is a file changed in the meantime.
            throw new UsageException("configuration: web_config_file: " + e.Message);
        }
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
        builder.Services.AddSingleton(services => new PollResultStore(services.GetRequiredService<Metrics.MetricsPipeline>(), options.CloseWaitLeakAfter) { TraceStatus = traceStatus });
        if (tracer is not null)
        {
            builder.Services.AddSingleton(tracer);
        }

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<HttpPages>();
        builder.Services.AddSingleton<Metrics.MetricsPipeline>();
        builder.Services.AddSingleton(new SystemdConnection(SystemdNotifier.FromEnvironment(Environment.GetEnvironmentVariable, Environment.ProcessId)));
        builder.Services.AddHostedService<PollLoop>();
        builder.Services.AddHostedService<SystemdService>();
        if (MemoryReport.Enabled(Environment.GetEnvironmentVariable))
        {
            builder.Logging.AddFilter(typeof(MemoryReport).FullName, LogLevel.Debug);
            builder.Logging.AddFilter(typeof(PollLoop).FullName, LogLevel.Debug);
            builder.Services.AddHostedService<MemoryReport>();
        }

        using var app = builder.Build();
        Web.WebAccess.UseIn(app);
        var pages = app.Services.GetRequiredService<HttpPages>();
        var metrics = app.Services.GetRequiredService<Metrics.MetricsPipeline>();
        var logger = app.Services.GetRequiredService<ILogger<HttpPages>>();
        app.MapGet("/metrics", HttpErrorBoundary.Wrap(context => MetricsEndpoint.Serve(context, metrics.Scrape), logger));
        app.MapGet("/healthz", HttpErrorBoundary.Wrap(HttpPages.Healthz, logger));
        app.MapGet("/readyz", HttpErrorBoundary.Wrap(pages.Readyz, logger));
        app.MapGet("/", HttpErrorBoundary.Wrap(pages.Landing, logger));
        app.MapGet("/api/v1/poll", HttpErrorBoundary.Wrap(pages.Poll, logger));
        app.MapGet("/api/v1/history", HttpErrorBoundary.Wrap(pages.History, logger));
        app.MapGet("/runbook", HttpErrorBoundary.Wrap(HttpPages.Runbook, logger));
        app.MapGet("/static/{name}", HttpErrorBoundary.Wrap(HttpPages.Static, logger));

        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"sockwatch run: cannot listen on {options.ListenAddress}: {e.Message}");
            return ExitCodes.Usage;
        }

        if (tracer is not null)
        {
            LogTracing(logger);
        }
        else if (options.Trace == "auto")
        {
            LogTraceFallback(logger, traceStatus.Reason, traceStatus.Message);
        }

        var addresses = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        LogListening(logger, addresses);
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        return ExitCodes.Ok;
    }

    [LoggerMessage(EventId = 3600, Level = LogLevel.Information, Message = "tracing every TCP state change in the kernel (sock:inet_sock_set_state, tcp:tcp_send_reset, tcp:tcp_receive_reset)")]
    private static partial void LogTracing(ILogger logger);

    [LoggerMessage(EventId = 3601, Level = LogLevel.Warning, Message = "tracing off ({Reason}): {Message}; polling alone, transitions between polls are inferred")]
    private static partial void LogTraceFallback(ILogger logger, string reason, string message);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "listening on {Addresses}: /metrics, / (the state diagram), /api/v1/poll, /api/v1/history, /runbook, /healthz, /readyz")]
    private static partial void LogListening(ILogger logger, string addresses);
}
