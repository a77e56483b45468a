using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Configuration;

/// <summary>
/// Every setting of SockWatch, as values. What each one is (key, flag, variable, default, rule,
/// help) is declared once, in <see cref="Settings"/>; the defaults here are read from there.
/// </summary>
internal sealed record SockWatchOptions
{
    public string Collector { get; init; } = Settings.Collector.Default;

    public string ProcRoot { get; init; } = Settings.ProcRoot.Default;

    public TimeSpan PollInterval { get; init; } = Settings.PollInterval.Default;

    public string ListenAddress { get; init; } = Settings.ListenAddress.Default;

    public TimeSpan CloseWaitLeakAfter { get; init; } = Settings.CloseWaitLeakAfter.Default;

    public double EphemeralPortUtilization { get; init; } = Settings.EphemeralPortUtilization.Default;

    public double AcceptQueueUtilization { get; init; } = Settings.AcceptQueueUtilization.Default;

    public double TimeWaitBucketUtilization { get; init; } = Settings.TimeWaitBucketUtilization.Default;

    public TimeSpan LastAckStuckAfter { get; init; } = Settings.LastAckStuckAfter.Default;

    public int SynSentRetries { get; init; } = Settings.SynSentRetries.Default;

    /// <summary>Owner series (unit, process) per metric; the rest are folded into "other".</summary>
    public int MaxOwnerSeries { get; init; } = Settings.MaxOwnerSeries.Default;

    /// <summary>Destination and listener series per metric; the rest are folded into "other".</summary>
    public int MaxDestinationSeries { get; init; } = Settings.MaxDestinationSeries.Default;

    /// <summary>
    /// Which network namespaces: self, all, or names and patterns. The loader sets the command's
    /// default (run: all; snapshot and check: self); null only in options built without it.
    /// </summary>
    public string? Netns { get; init; } = Settings.Netns.Default;

    /// <summary>Namespace name patterns left out of <see cref="Netns"/>.</summary>
    public string NetnsExclude { get; init; } = Settings.NetnsExclude.Default;

    /// <summary>Namespaces with their own series in the per-namespace metrics; the rest fold into netns="other".</summary>
    public int MaxNetnsSeries { get; init; } = Settings.MaxNetnsSeries.Default;

    /// <summary>
    /// How long the connections of another namespace whose TCP counters have not moved may be
    /// carried from its last full dump; zero: every namespace is dumped every poll.
    /// </summary>
    public TimeSpan NetnsRedumpAfter { get; init; } = Settings.NetnsRedumpAfter.Default;

    /// <summary>The full OTLP metrics URL (http/protobuf: ending in /v1/metrics); empty: no OTLP.</summary>
    public string OtlpEndpoint { get; init; } = Settings.OtlpEndpoint.Default;

    /// <summary>http/protobuf (what Prometheus's OTLP receiver takes) or grpc.</summary>
    public string OtlpProtocol { get; init; } = Settings.OtlpProtocol.Default;

    public TimeSpan OtlpInterval { get; init; } = Settings.OtlpInterval.Default;

    /// <summary>The exporter-toolkit web configuration file (TLS, basic auth); empty: plain HTTP, open.</summary>
    public string WebConfigFile { get; init; } = Settings.WebConfigFile.Default;

    /// <summary>auto, on or off: tracing of every TCP state change in the kernel.</summary>
    public string Trace { get; init; } = Settings.Trace.Default;

    /// <summary>The collector of validated options.</summary>
    public CollectorKind CollectorKind => CollectorKinds.TryParse(Collector, out var kind) ? kind : CollectorKind.Auto;

    /// <summary>The detectors' thresholds. Core checks them by the same rules (<see cref="DetectorLimits"/>) the loader did.</summary>
    public DetectorOptions ToDetectorOptions() => new()
    {
        CloseWaitLeakAfter = CloseWaitLeakAfter,
        EphemeralPortUtilization = EphemeralPortUtilization,
        AcceptQueueUtilization = AcceptQueueUtilization,
        TimeWaitBucketUtilization = TimeWaitBucketUtilization,
        LastAckStuckAfter = LastAckStuckAfter,
        SynSentRetries = SynSentRetries,
    };

    /// <summary>The namespace selection of validated options; <paramref name="commandDefault"/> when <see cref="Netns"/> is unset.</summary>
    public NamespaceSelection Namespaces(string commandDefault) =>
        NamespaceSelection.TryParse(Netns ?? commandDefault, NetnsExclude, out var why)
        ?? throw new UsageException("--netns: " + why);
}
