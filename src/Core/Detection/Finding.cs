namespace SockWatch.Core.Detection;

/// <summary>What is stuck, and where on the lifecycle.</summary>
public enum FindingKind
{
    /// <summary>close_wait sockets the application never closes (wave 3 never sent).</summary>
    CloseWaitLeak,

    /// <summary>Connections to one destination use up the ephemeral port range.</summary>
    EphemeralPortPressure,

    /// <summary>time_wait sockets near net.ipv4.tcp_max_tw_buckets.</summary>
    TimeWaitBucketPressure,

    /// <summary>The kernel dropped time_wait sockets early (TCPTimeWaitOverflow rose).</summary>
    TimeWaitOverflow,

    /// <summary>A listener's accept queue is near its backlog.</summary>
    AcceptQueueFull,

    /// <summary>Listeners dropped connections (ListenOverflows or ListenDrops rose).</summary>
    ListenOverflow,

    /// <summary>fin_wait2 sockets still held by the application past tcp_fin_timeout.</summary>
    FinWait2Stuck,

    /// <summary>last_ack sockets whose final ACK does not come.</summary>
    LastAckStuck,

    /// <summary>syn_sent sockets retransmitting their SYN.</summary>
    SynSentRetrying,
}

/// <summary>How bad a finding is.</summary>
public enum FindingSeverity
{
    Warning,
    Critical,
}

/// <summary>
/// The names of finding kinds and severities, as in <c>check --format json</c>, the log, the
/// <c>kind</c> label of <c>sockwatch_findings</c> and the runbook's sections: one place for each.
/// </summary>
public static class FindingKinds
{
    /// <summary>Every kind, in declaration order.</summary>
    public static IReadOnlyList<FindingKind> All { get; } = Enum.GetValues<FindingKind>();

    public static string NameOf(FindingKind kind) => kind switch
    {
        FindingKind.CloseWaitLeak => "close_wait_leak",
        FindingKind.EphemeralPortPressure => "ephemeral_port_pressure",
        FindingKind.TimeWaitBucketPressure => "time_wait_bucket_pressure",
        FindingKind.TimeWaitOverflow => "time_wait_overflow",
        FindingKind.AcceptQueueFull => "accept_queue_full",
        FindingKind.ListenOverflow => "listen_overflow",
        FindingKind.FinWait2Stuck => "fin_wait2_stuck",
        FindingKind.LastAckStuck => "last_ack_stuck",
        FindingKind.SynSentRetrying => "syn_sent_retrying",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string NameOf(FindingSeverity severity) => severity == FindingSeverity.Critical ? "critical" : "warning";

    /// <summary>
    /// The state a finding of this kind is about, where it sits on the lifecycle: a close_wait
    /// leak at close_wait, port pressure at syn_sent (where a connect() needs a free port), a full
    /// accept queue at listen.
    /// </summary>
    public static TcpState StateOf(FindingKind kind) => kind switch
    {
        FindingKind.CloseWaitLeak => TcpState.CloseWait,
        FindingKind.EphemeralPortPressure => TcpState.SynSent,
        FindingKind.TimeWaitBucketPressure or FindingKind.TimeWaitOverflow => TcpState.TimeWait,
        FindingKind.AcceptQueueFull or FindingKind.ListenOverflow => TcpState.Listen,
        FindingKind.FinWait2Stuck => TcpState.FinWait2,
        FindingKind.LastAckStuck => TcpState.LastAck,
        FindingKind.SynSentRetrying => TcpState.SynSent,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>
/// One thing that is stuck: what, how bad, whose, how many, how old, and why, in one sentence
/// an operator can act on.
/// </summary>
/// <param name="Kind">What is stuck.</param>
/// <param name="Severity">How bad.</param>
/// <param name="Owner">The process that holds the sockets, when there is one and it is known.</param>
/// <param name="Subject">What the finding is about: an owner (<c>api (api.service)</c>, <c>unowned</c>), a destination (<c>10.0.0.1 -> 10.0.0.5:5432</c>), a listener (<c>0.0.0.0:8080</c>) or a host limit.</param>
/// <param name="Count">Sockets (or, for counter findings, events since the previous poll).</param>
/// <param name="OldestAge">The oldest socket's time in its state (a lower bound), when ages apply.</param>
/// <param name="Explanation">One plain sentence placing the finding on the lifecycle, with its numbers.</param>
/// <param name="Values">The numbers behind the sentence, by snake_case name (see <see cref="FindingValues"/>).</param>
public sealed record Finding(
    FindingKind Kind,
    FindingSeverity Severity,
    SocketOwner? Owner,
    string Subject,
    int Count,
    TimeSpan? OldestAge,
    string Explanation,
    IReadOnlyDictionary<string, double> Values)
{
    /// <summary>The network namespace the finding is in, when more than one is watched (null from the detectors themselves).</summary>
    public string? Netns { get; init; }
}

/// <summary>Names of <see cref="Finding.Values"/> entries.</summary>
public static class FindingValues
{
    public const string OldestAgeSeconds = "oldest_age_seconds";
    public const string UnreadBytes = "unread_bytes";
    public const string Growth = "growth";
    public const string GrowthPolls = "growth_polls";
    public const string OpenDescriptors = "open_descriptors";
    public const string DescriptorLimit = "descriptor_limit";
    public const string DescriptorUtilization = "descriptor_utilization";
    public const string Processes = "processes";
    public const string Utilization = "utilization";
    public const string PortsInUse = "ports_in_use";
    /// <summary>The usable ephemeral ports (the range less reserved ports): the denominator of the utilization, not the ports left.</summary>
    public const string PortsAvailable = "ports_available";
    public const string TimeWait = "time_wait";
    public const string MaxTimeWaitBuckets = "max_time_wait_buckets";
    /// <summary>How much a kernel counter rose since the previous poll.</summary>
    public const string Increase = "increase";
    public const string Total = "total";
    public const string AcceptQueue = "accept_queue";
    public const string Backlog = "backlog";
    public const string ListenOverflows = "listen_overflows";
    public const string ListenDrops = "listen_drops";
    public const string FinTimeoutSeconds = "fin_timeout_seconds";
    public const string ThresholdSeconds = "threshold_seconds";
    public const string MaxRetransmits = "max_retransmits";
    /// <summary>systemd's restart count (NRestarts) of the leaking unit, asked over D-Bus; absent without the bus.</summary>
    public const string UnitRestarts = "unit_restarts";
    /// <summary>The leaking unit's descriptor limit (LimitNOFILE, soft), from systemd; absent without the bus.</summary>
    public const string UnitDescriptorLimit = "unit_descriptor_limit";
}
