using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;

namespace SockWatch.Agent;

/// <summary>`sockwatch run` (also bare `sockwatch`): the daemon's poll loop, until SIGTERM.</summary>
internal static class RunCommand
{
    /// <summary>How long a stop may take before the host gives up on the loop (systemd's TimeoutStopSec is larger).</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var config = CommonOptions.Config();
        var interval = new Option<string>("--poll-interval") { Description = "Time between polls (default 15s).", HelpName = "DURATION" };
        var collector = new Option<string>("--collector") { Description = "auto, netlink or proc (default auto).", HelpName = "auto|netlink|proc" };
        var procRoot = new Option<string>("--proc-root") { Description = "Where proc is mounted (default /proc).", HelpName = "DIR" };
        var thresholds = CommonOptions.DetectorThresholds();
        var command = new Command("run", "The daemon: poll the socket table every interval, track every socket across polls, and log findings as they appear and clear. Stops on SIGTERM or Ctrl+C.")
        {
            config, interval, collector, procRoot,
        };
        foreach (var t in thresholds)
        {
            command.Options.Add(t.Option);
        }

        command.SetAction(parse =>
        {
            var flags = CommonOptions.ConfigurationFlags(parse, thresholds);
            void Flag(Option<string> o, string key)
            {
                if (parse.GetValue(o) is { } v)
                {
                    flags[key] = v;
                }
            }

            Flag(interval, "poll_interval");
            Flag(collector, "collector");
            Flag(procRoot, "proc_root");
            SockWatchOptions options;
            try
            {
                options = ConfigurationLoader.Load(parse.GetValue(config), ConfigurationLoader.ProcessEnvironment(), flags);
            }
            catch (ConfigurationException e)
            {
                throw new UsageException("configuration: " + e.Message);
            }

            return Run(options);
        });
        return command;
    }

    private static int Run(SockWatchOptions options)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = false;
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<PollResultStore>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(new SystemdConnection(SystemdNotifier.FromEnvironment(Environment.GetEnvironmentVariable, Environment.ProcessId)));
        builder.Services.AddHostedService<PollLoop>();
        builder.Services.AddHostedService<SystemdService>();
        using var host = builder.Build();
        host.Run();
        return ExitCodes.Ok;
    }
}
