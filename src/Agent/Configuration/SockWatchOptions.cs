using SockWatch.Core.Detection;

namespace SockWatch.Agent.Configuration;

/// <summary>Every setting of SockWatch: the options of the options/defaults/validation triplet.</summary>
internal sealed record SockWatchOptions
{
    public string Collector { get; init; } = SockWatchOptionsDefaults.Collector;

    public string ProcRoot { get; init; } = SockWatchOptionsDefaults.ProcRoot;

    public TimeSpan PollInterval { get; init; } = SockWatchOptionsDefaults.PollInterval;

    public string ListenAddress { get; init; } = SockWatchOptionsDefaults.ListenAddress;

    public TimeSpan CloseWaitLeakAfter { get; init; } = SockWatchOptionsDefaults.CloseWaitLeakAfter;

    public double EphemeralPortUtilization { get; init; } = SockWatchOptionsDefaults.EphemeralPortUtilization;

    public double AcceptQueueUtilization { get; init; } = SockWatchOptionsDefaults.AcceptQueueUtilization;

    public double TimeWaitBucketUtilization { get; init; } = SockWatchOptionsDefaults.TimeWaitBucketUtilization;

    public TimeSpan LastAckStuckAfter { get; init; } = SockWatchOptionsDefaults.LastAckStuckAfter;

    public int SynSentRetries { get; init; } = SockWatchOptionsDefaults.SynSentRetries;

    /// <summary>Owner series (unit, process) per metric; the rest are folded into "other".</summary>
    public int MaxOwnerSeries { get; init; } = SockWatchOptionsDefaults.MaxOwnerSeries;

    /// <summary>Destination and listener series per metric; the rest are folded into "other".</summary>
    public int MaxDestinationSeries { get; init; } = SockWatchOptionsDefaults.MaxDestinationSeries;

    /// <summary>Which network namespaces: self, all, or names and patterns; null: the command's default (run: all; snapshot and check: self).</summary>
    public string? Netns { get; init; }

    /// <summary>Namespace name patterns left out of <see cref="Netns"/>.</summary>
    public string NetnsExclude { get; init; } = "";

    /// <summary>Namespaces with their own series in the per-namespace metrics; the rest fold into netns="other".</summary>
    public int MaxNetnsSeries { get; init; } = SockWatchOptionsDefaults.MaxNetnsSeries;

    /// <summary>
    /// How long the connections of another namespace whose TCP counters have not moved may be
    /// carried from its last full dump; zero: every namespace is dumped every poll.
    /// </summary>
    public TimeSpan NetnsRedumpAfter { get; init; } = SockWatchOptionsDefaults.NetnsRedumpAfter;

    /// <summary>The full OTLP metrics URL (http/protobuf: ending in /v1/metrics); empty: no OTLP.</summary>
    public string OtlpEndpoint { get; init; } = "";

    /// <summary>http/protobuf (what Prometheus's OTLP receiver takes) or grpc.</summary>
    public string OtlpProtocol { get; init; } = SockWatchOptionsDefaults.OtlpProtocol;

    public TimeSpan OtlpInterval { get; init; } = SockWatchOptionsDefaults.OtlpInterval;

    /// <summary>The exporter-toolkit web configuration file (TLS, basic auth); empty: plain HTTP, open.</summary>
    public string WebConfigFile { get; init; } = "";

    /// <summary>The detectors' thresholds.</summary>
    public DetectorOptions ToDetectorOptions() => new()
    {
        CloseWaitLeakAfter = CloseWaitLeakAfter,
        EphemeralPortUtilization = EphemeralPortUtilization,
        AcceptQueueUtilization = AcceptQueueUtilization,
        TimeWaitBucketUtilization = TimeWaitBucketUtilization,
        LastAckStuckAfter = LastAckStuckAfter,
        SynSentRetries = SynSentRetries,
    };
}

/// <summary>The defaults, as constants in one place.</summary>
internal static class SockWatchOptionsDefaults
{
    public const string Collector = "auto";
    public const string ProcRoot = "/proc";
    public const string ListenAddress = ":9859";
    public const string ConfigFile = "/etc/sockwatch/sockwatch.json";
    public const string EnvironmentPrefix = "SOCKWATCH_";
    public const double EphemeralPortUtilization = 0.8;
    public const double AcceptQueueUtilization = 0.8;
    public const double TimeWaitBucketUtilization = 0.8;
    public const int SynSentRetries = 3;
    public const int MaxOwnerSeries = 50;
    public const int MaxDestinationSeries = 20;
    public const int MaxNetnsSeries = 100;
    public const string OtlpProtocol = "http/protobuf";

    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(15);

    /// <summary>A close_wait older than this is a leak: normal ones last milliseconds, until the application reads the EOF and closes.</summary>
    public static readonly TimeSpan CloseWaitLeakAfter = TimeSpan.FromMinutes(2);

    public static readonly TimeSpan LastAckStuckAfter = TimeSpan.FromMinutes(1);

    public static readonly TimeSpan OtlpInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A quiet namespace is dumped in full at least this often (each one between half of it and
    /// all of it): what a carried connection can miss is queue bytes, never its state.
    /// </summary>
    public static readonly TimeSpan NetnsRedumpAfter = TimeSpan.FromMinutes(10);
}
