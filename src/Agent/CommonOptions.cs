using System.CommandLine;
using SockWatch.Collectors;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>Options shared by snapshot, check and run, and their validation.</summary>
internal static class CommonOptions
{
    public const string DefaultProcRoot = "/proc";

    public static Option<string> Collector() => new("--collector")
    {
        Description = "Where to read sockets: auto (netlink sock_diag, falling back to /proc), netlink, or proc.",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|netlink|proc",
    };

    public static Option<string> ProcRoot() => new("--proc-root")
    {
        Description = "The proc file system to read (/proc, /host/proc in a container, or a fixture tree).",
        DefaultValueFactory = _ => DefaultProcRoot,
        HelpName = "DIR",
    };

    public static Option<string> Config() => new("--config")
    {
        Description = "A JSON configuration file (default: /etc/sockwatch/sockwatch.json when it exists). Environment variables SOCKWATCH_* override it, flags override both.",
        HelpName = "FILE",
    };

    /// <summary>A detector threshold flag and the configuration key it sets.</summary>
    internal sealed record Threshold(string Key, Option<string> Option);

    /// <summary>The detector thresholds as flags, shared by check and run.</summary>
    public static IReadOnlyList<Threshold> DetectorThresholds() =>
    [
        new("close_wait_leak_after", new Option<string>("--close-wait-leak-after") { Description = "A close_wait older than this is a leak (default 2m).", HelpName = "DURATION" }),
        new("ephemeral_port_utilization", new Option<string>("--ephemeral-port-utilization") { Description = "Report a destination using this share of the ephemeral port range (default 0.8).", HelpName = "RATIO" }),
        new("accept_queue_utilization", new Option<string>("--accept-queue-utilization") { Description = "Report a listener whose accept queue is this full (default 0.8).", HelpName = "RATIO" }),
        new("time_wait_bucket_utilization", new Option<string>("--time-wait-bucket-utilization") { Description = "Report time_wait at this share of tcp_max_tw_buckets (default 0.8).", HelpName = "RATIO" }),
        new("last_ack_stuck_after", new Option<string>("--last-ack-stuck-after") { Description = "A last_ack older than this is stuck (default 1m).", HelpName = "DURATION" }),
        new("syn_sent_retries", new Option<string>("--syn-sent-retries") { Description = "Report syn_sent sockets with this many SYN retransmits (default 3).", HelpName = "N" }),
    ];

    /// <summary>
    /// The flags that set configuration keys, shared by check and run: the collector, the proc
    /// root and the detector thresholds, after any command-specific ones.
    /// </summary>
    public static IReadOnlyList<Threshold> ConfigurationOptions(params Threshold[] specific) =>
    [
        .. specific,
        new("collector", new Option<string>("--collector") { Description = "auto, netlink or proc (default auto).", HelpName = "auto|netlink|proc" }),
        new("proc_root", new Option<string>("--proc-root") { Description = "Where proc is mounted (default /proc).", HelpName = "DIR" }),
        new("netns", new Option<string>("--netns") { Description = "Network namespaces: self, all, or names and patterns, comma-separated (run: all; check: self). Others than its own need CAP_SYS_ADMIN.", HelpName = "self|all|NAMES" }),
        new("netns_exclude", new Option<string>("--netns-exclude") { Description = "Namespace name patterns to leave out (comma-separated; * and ?).", HelpName = "PATTERNS" }),
        .. DetectorThresholds(),
    ];

    /// <summary>Adds the configuration flags and --config to a command.</summary>
    public static void AddTo(Command command, Option<string> config, IReadOnlyList<Threshold> options)
    {
        command.Options.Add(config);
        foreach (var o in options)
        {
            command.Options.Add(o.Option);
        }
    }

    /// <summary>File, SOCKWATCH_ environment, then the flags given: validated, or a usage error naming the key.</summary>
    public static Configuration.SockWatchOptions LoadConfiguration(ParseResult parse, Option<string> config, IReadOnlyList<Threshold> options)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var o in options)
        {
            if (parse.GetValue(o.Option) is { } value)
            {
                flags[o.Key] = value;
            }
        }

        try
        {
            return Configuration.ConfigurationLoader.Load(parse.GetValue(config), Configuration.ConfigurationLoader.ProcessEnvironment(), flags);
        }
        catch (Configuration.ConfigurationException e)
        {
            throw new UsageException("configuration: " + e.Message);
        }
    }

    /// <summary>The namespace selection of validated options, with the command's default.</summary>
    public static Collectors.Namespaces.NamespaceSelection Namespaces(Configuration.SockWatchOptions options, string commandDefault) =>
        Collectors.Namespaces.NamespaceSelection.TryParse(options.Netns ?? commandDefault, options.NetnsExclude, out var why)
        ?? throw new UsageException("--netns: " + why);

    public static CollectorKind ParseCollector(string? value) =>
        CollectorKinds.TryParse(value, out var kind)
            ? kind
            : throw new UsageException($"--collector: '{value}' is not a collector; accepted: {string.Join(", ", CollectorKinds.Names)}");

    public static string ParseProcRoot(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new UsageException("--proc-root: empty; give the directory where proc is mounted, such as /proc");
        }

        return Directory.Exists(value)
            ? value
            : throw new UsageException($"--proc-root: '{value}' is not a directory");
    }

    /// <summary>State names, repeatable and comma-separated; null when none were given.</summary>
    public static IReadOnlyList<TcpState>? ParseStates(string[]? values)
    {
        if (values is null || values.Length == 0)
        {
            return null;
        }

        var states = new List<TcpState>();
        foreach (var value in values)
        {
            foreach (var name in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Lifecycle.TryParse(name, out var state))
                {
                    throw new UsageException($"--state: '{name}' is not a TCP state; accepted: {string.Join(", ", Lifecycle.Names)}");
                }

                if (!states.Contains(state))
                {
                    states.Add(state);
                }
            }
        }

        if (states.Count == 0)
        {
            throw new UsageException($"--state: no state given; accepted: {string.Join(", ", Lifecycle.Names)}");
        }

        states.Sort();
        return states;
    }
}
