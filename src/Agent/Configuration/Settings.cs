using SockWatch.Core.Detection;
using static SockWatch.Agent.Configuration.SockWatchCommands;

namespace SockWatch.Agent.Configuration;

/// <summary>
/// Every setting of SockWatch, each declared once: key, flag, environment variable, default,
/// rule, help, and the commands that take it as a flag. The file loader, the environment, the
/// flags of snapshot, check and run, the validation and the help are made from this table, and a
/// test holds the README's configuration table to it. The detector thresholds take their
/// defaults and their rules from Core (<see cref="DetectorDefaults"/>, <see cref="DetectorLimits"/>),
/// which checks the same rule when <see cref="DetectorOptions"/> reach the detectors.
/// </summary>
internal static class Settings
{
    public const string ConfigFile = "/etc/sockwatch/sockwatch.json";

    private static readonly Bounds<TimeSpan> AtLeastOneSecond = Bounds.AtLeast(TimeSpan.FromSeconds(1));
    private static readonly Bounds<TimeSpan> NotNegative = Bounds.AtLeast(TimeSpan.Zero);
    private static readonly Bounds<int> SeriesCap = Bounds.Between(1, 1000);

    public static readonly Setting<string> Collector = new(
        "collector", ValueKinds.Text, "auto", o => o.Collector, (o, v) => o with { Collector = v },
        (v, _) => Collectors.CollectorKinds.TryParse(v, out var _) ? null : $"'{v}' is not a collector; accepted: {string.Join(", ", Collectors.CollectorKinds.Names)}",
        "auto, netlink or proc",
        "Where to read sockets: auto (netlink sock_diag, falling back to /proc), netlink, or proc.", "auto|netlink|proc", SockWatchCommands.All);

    public static readonly Setting<string> ProcRoot = new(
        "proc_root", ValueKinds.Text, "/proc", o => o.ProcRoot, (o, v) => o with { ProcRoot = v },
        (v, _) => string.IsNullOrWhiteSpace(v) ? "empty; give the directory where proc is mounted, such as /proc"
            : Directory.Exists(v) ? null : $"'{v}' is not a directory",
        "directory",
        "The proc file system to read (/proc, /host/proc in a container, or a fixture tree).", "DIR", SockWatchCommands.All);

    public static readonly Setting<string?> Netns = new(
        "netns", ValueKinds.OptionalText, null, o => o.Netns, (o, v) => o with { Netns = v },
        (v, _) => Collectors.Namespaces.NamespaceSelection.TryParse(v, null, out var why) is null ? why : null,
        "self, all, or names and patterns, comma-separated",
        "Network namespaces: self, all, or names and patterns, comma-separated. Others than its own need CAP_SYS_ADMIN.", "self|all|NAMES", SockWatchCommands.All)
    {
        CommandDefaults = [(Run, "all"), (Snapshot | Check, "self")],
    };

    public static readonly Setting<string> NetnsExclude = new(
        "netns_exclude", ValueKinds.Text, "", o => o.NetnsExclude, (o, v) => o with { NetnsExclude = v },
        (v, o) => Collectors.Namespaces.NamespaceSelection.TryParse(o.Netns ?? "all", v, out var why) is null ? why : null,
        "name patterns, comma-separated (* and ?)",
        "Namespace name patterns to leave out (comma-separated; * and ?).", "PATTERNS", SockWatchCommands.All);

    public static readonly Setting<TimeSpan> CloseWaitLeakAfter = Setting.Within(
        "close_wait_leak_after", ValueKinds.Duration, TimeSpan.FromSeconds(DetectorDefaults.CloseWaitLeakAfterSeconds),
        o => o.CloseWaitLeakAfter, (o, v) => o with { CloseWaitLeakAfter = v }, DetectorLimits.CloseWaitLeakAfter,
        "A close_wait older than this is a leak.", "DURATION", CheckAndRun);

    public static readonly Setting<double> EphemeralPortUtilization = Setting.Within(
        "ephemeral_port_utilization", ValueKinds.Ratio, DetectorDefaults.EphemeralPortUtilization,
        o => o.EphemeralPortUtilization, (o, v) => o with { EphemeralPortUtilization = v }, DetectorLimits.Ratio,
        "Report a destination using this share of the ephemeral port range.", "RATIO", CheckAndRun);

    public static readonly Setting<double> AcceptQueueUtilization = Setting.Within(
        "accept_queue_utilization", ValueKinds.Ratio, DetectorDefaults.AcceptQueueUtilization,
        o => o.AcceptQueueUtilization, (o, v) => o with { AcceptQueueUtilization = v }, DetectorLimits.Ratio,
        "Report a listener whose accept queue is this full.", "RATIO", CheckAndRun);

    public static readonly Setting<double> TimeWaitBucketUtilization = Setting.Within(
        "time_wait_bucket_utilization", ValueKinds.Ratio, DetectorDefaults.TimeWaitBucketUtilization,
        o => o.TimeWaitBucketUtilization, (o, v) => o with { TimeWaitBucketUtilization = v }, DetectorLimits.Ratio,
        "Report time_wait at this share of tcp_max_tw_buckets.", "RATIO", CheckAndRun);

    public static readonly Setting<TimeSpan> LastAckStuckAfter = Setting.Within(
        "last_ack_stuck_after", ValueKinds.Duration, TimeSpan.FromSeconds(DetectorDefaults.LastAckStuckAfterSeconds),
        o => o.LastAckStuckAfter, (o, v) => o with { LastAckStuckAfter = v }, DetectorLimits.LastAckStuckAfter,
        "A last_ack older than this is stuck.", "DURATION", CheckAndRun);

    public static readonly Setting<int> SynSentRetries = Setting.Within(
        "syn_sent_retries", ValueKinds.Count, DetectorDefaults.SynSentRetries,
        o => o.SynSentRetries, (o, v) => o with { SynSentRetries = v }, DetectorLimits.SynSentRetries,
        "Report syn_sent sockets with this many SYN retransmits.", "N", CheckAndRun);

    public static readonly Setting<string> ListenAddress = new(
        "listen_address", ValueKinds.Text, ":9859", o => o.ListenAddress, (o, v) => o with { ListenAddress = v },
        (v, _) => Configuration.ListenAddress.TryParse(v, out var _) ? null : $"'{v}' is not HOST:PORT (like :9859, 127.0.0.1:9859, [::1]:9859)",
        "HOST:PORT",
        "Where to serve /metrics, / (summary), /healthz and /readyz.", "HOST:PORT", Run);

    public static readonly Setting<TimeSpan> PollInterval = Setting.Within(
        "poll_interval", ValueKinds.Duration, TimeSpan.FromSeconds(15), o => o.PollInterval, (o, v) => o with { PollInterval = v },
        AtLeastOneSecond, "Time between polls.", "DURATION", Run);

    public static readonly Setting<int> MaxOwnerSeries = Setting.Within(
        "max_owner_series", ValueKinds.Count, 50, o => o.MaxOwnerSeries, (o, v) => o with { MaxOwnerSeries = v },
        SeriesCap, "Owner series (unit, process) per metric; the rest are summed into process=\"other\".", "N", Run);

    public static readonly Setting<int> MaxDestinationSeries = Setting.Within(
        "max_destination_series", ValueKinds.Count, 20, o => o.MaxDestinationSeries, (o, v) => o with { MaxDestinationSeries = v },
        SeriesCap, "Destination and listener series per metric; the rest fold into \"other\".", "N", Run);

    public static readonly Setting<int> MaxNetnsSeries = Setting.Within(
        "max_netns_series", ValueKinds.Count, 100, o => o.MaxNetnsSeries, (o, v) => o with { MaxNetnsSeries = v },
        Bounds.Between(1, 10_000), "Namespaces with series of their own in the per-namespace metrics; the rest fold into netns=\"other\".", "N", Run);

    /// <summary>
    /// A quiet namespace is dumped in full at least this often (each one between half of it and
    /// all of it): what a carried connection can miss is queue bytes, never its state.
    /// </summary>
    public static readonly Setting<TimeSpan> NetnsRedumpAfter = Setting.Within(
        "netns_redump_after", ValueKinds.Duration, TimeSpan.FromMinutes(10), o => o.NetnsRedumpAfter, (o, v) => o with { NetnsRedumpAfter = v },
        NotNegative,
        "Dump a namespace whose TCP counters have not moved at least this often; meanwhile its listeners are read afresh and its connections carried from the last dump (0: dump every namespace every poll).",
        "DURATION", Run);

    public static readonly Setting<string> OtlpEndpoint = new(
        "otlp_endpoint", ValueKinds.Text, "", o => o.OtlpEndpoint, (o, v) => o with { OtlpEndpoint = v },
        (v, _) => v.Length == 0 || (Uri.TryCreate(v, UriKind.Absolute, out var otlp) && otlp.Scheme is "http" or "https") ? null
            : $"'{v}' is not an http:// or https:// URL (for Prometheus: http://HOST:9090/api/v1/otlp/v1/metrics)",
        "full http(s) URL of an OTLP metrics receiver",
        "Also push metrics over OTLP to this full URL (http/protobuf: .../v1/metrics; none: no OTLP).", "URL", Run);

    public static readonly Setting<string> OtlpProtocol = new(
        "otlp_protocol", ValueKinds.Text, "http/protobuf", o => o.OtlpProtocol, (o, v) => o with { OtlpProtocol = v },
        (v, _) => v is "http/protobuf" or "grpc" ? null : $"'{v}' is not a protocol; accepted: http/protobuf, grpc",
        "http/protobuf or grpc",
        "The OTLP protocol: http/protobuf (what Prometheus's OTLP receiver takes) or grpc.", "PROTOCOL", Run);

    public static readonly Setting<TimeSpan> OtlpInterval = Setting.Within(
        "otlp_interval", ValueKinds.Duration, TimeSpan.FromSeconds(15), o => o.OtlpInterval, (o, v) => o with { OtlpInterval = v },
        AtLeastOneSecond, "Time between OTLP pushes.", "DURATION", Run);

    public static readonly Setting<string> WebConfigFile = new(
        "web_config_file", ValueKinds.Text, "", o => o.WebConfigFile, (o, v) => o with { WebConfigFile = v },
        (v, _) => v.Length == 0 ? null : WebConfigProblem(v),
        "the web configuration file",
        "TLS and basic auth for every endpoint, from a web configuration file in the format of Prometheus's exporter-toolkit (none: plain HTTP, open).",
        "FILE", Run, flag: "--web.config.file");

    /// <summary>
    /// Tracing of every TCP state change in the kernel (bpf/sockwatch.bpf.c): auto traces when it
    /// can and otherwise runs poll-only, saying why once; on refuses to start without it.
    /// </summary>
    public static readonly Setting<string> Trace = new(
        "trace", ValueKinds.Text, "auto", o => o.Trace, (o, v) => o with { Trace = v },
        (v, _) => v is "auto" or "on" or "off" ? null : $"'{v}' is not a trace mode; accepted: auto, on, off",
        "auto, on or off",
        "Trace every TCP state change in the kernel (needs CAP_BPF and CAP_PERFMON, or root): auto (when possible, else poll-only), on (exit 2 when impossible), off.",
        "auto|on|off", Run);

    /// <summary>Every setting, in the order of help pages and of the README's table; validation reports the first problem in this order.</summary>
    public static readonly IReadOnlyList<Setting> All =
    [
        Collector, ProcRoot, Netns, NetnsExclude,
        CloseWaitLeakAfter, EphemeralPortUtilization, AcceptQueueUtilization, TimeWaitBucketUtilization, LastAckStuckAfter, SynSentRetries,
        ListenAddress, PollInterval, MaxOwnerSeries, MaxDestinationSeries, MaxNetnsSeries, NetnsRedumpAfter,
        OtlpEndpoint, OtlpProtocol, OtlpInterval, WebConfigFile, Trace,
    ];

    /// <summary>The setting of a key, or null.</summary>
    public static Setting? Find(string key) => All.FirstOrDefault(s => s.Key == key);

    /// <summary>The settings a command takes as flags.</summary>
    public static IEnumerable<Setting> For(SockWatchCommands command) => All.Where(s => s.Commands.HasFlag(command));

    /// <summary>Every setting at the command's default.</summary>
    public static SockWatchOptions Defaults(SockWatchCommands command) =>
        All.Aggregate(new SockWatchOptions(), (o, s) => s.WithDefault(o, command));

    /// <summary>Everything the file names is loaded too (certificates, keys, client CAs), so that a mistake stops the start instead of every scrape.</summary>
    private static string? WebConfigProblem(string path)
    {
        try
        {
            _ = Web.WebConfigLoader.Load(path);
            return null;
        }
        catch (Web.WebConfigException e)
        {
            return e.Message;
        }
    }
}
