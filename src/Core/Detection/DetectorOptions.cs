namespace SockWatch.Core.Detection;

/// <summary>The defaults of <see cref="DetectorOptions"/>, as constants (durations in seconds).</summary>
public static class DetectorDefaults
{
    /// <summary>A close_wait older than this is a leak: a healthy application closes within milliseconds of reading EOF; two minutes covers a slow request still finishing.</summary>
    public const int CloseWaitLeakAfterSeconds = 120;

    /// <summary>Ports in use toward one destination over the usable ephemeral range.</summary>
    public const double EphemeralPortUtilization = 0.8;

    /// <summary>Above this the ephemeral-port finding is critical: connect() is about to fail with EADDRNOTAVAIL.</summary>
    public const double EphemeralPortCriticalUtilization = 0.95;

    /// <summary>Accept queue over backlog.</summary>
    public const double AcceptQueueUtilization = 0.8;

    /// <summary>Host time_wait sockets over net.ipv4.tcp_max_tw_buckets.</summary>
    public const double TimeWaitBucketUtilization = 0.8;

    /// <summary>last_ack waits for one ACK; the FIN is retransmitted with backoff, and a minute is many round trips.</summary>
    public const int LastAckStuckAfterSeconds = 60;

    /// <summary>SYN retransmits (the kernel gives up after net.ipv4.tcp_syn_retries, 6 by default, about 127 s).</summary>
    public const int SynSentRetries = 3;

    /// <summary>Polls over which close_wait growth is measured (10 polls of 15 s: the last 2.5 minutes).</summary>
    public const int GrowthWindowPolls = 10;

    /// <summary>Leaked close_wait sockets of one owner that make the finding critical by number alone.</summary>
    public const int CloseWaitCriticalCount = 1000;

    /// <summary>Descriptor use of the owner (open / RLIMIT_NOFILE) that makes a close_wait leak critical: accept() and open() are about to fail with EMFILE.</summary>
    public const double DescriptorCriticalUtilization = 0.9;

    /// <summary>The largest growth window accepted: the detectors keep this many counts per leaking owner.</summary>
    public const int MaxGrowthWindowPolls = 10_000;
}

/// <summary>
/// What each threshold accepts: the one rule. It lives here, beside the defaults, rather than
/// only in the Agent's settings table, because <see cref="Detectors"/> is built by other callers
/// too (the bench harness, the tests) and must refuse bad thresholds by itself; the Agent's
/// table (SockWatch.Agent.Configuration.Settings) refers to these objects for its validation and
/// its wording instead of restating them, so the CLI, the file, the environment and Core cannot
/// disagree. (Core references nothing of the Agent: the rule has to be on this side.)
/// </summary>
public static class DetectorLimits
{
    /// <summary>Ratios: more than 0 (nothing at all would be a finding) and at most 1.</summary>
    public static readonly Bounds<double> Ratio = Bounds.AboveAtMost(0.0, 1.0);

    /// <summary>close_wait_leak_after: above zero; at zero every close_wait, even one closing normally, is a leak.</summary>
    public static readonly Bounds<TimeSpan> CloseWaitLeakAfter = Bounds.Above(TimeSpan.Zero);

    /// <summary>last_ack_stuck_after: above zero, as for close_wait.</summary>
    public static readonly Bounds<TimeSpan> LastAckStuckAfter = Bounds.Above(TimeSpan.Zero);

    /// <summary>SYN retransmits: at least one; the kernel's tcp_syn_retries stops at 127, and above 100 nothing would ever be reported.</summary>
    public static readonly Bounds<int> SynSentRetries = Bounds.Between(1, 100);

    /// <summary>Polls of close_wait growth kept per leaking owner.</summary>
    public static readonly Bounds<int> GrowthWindowPolls = Bounds.Between(1, DetectorDefaults.MaxGrowthWindowPolls);

    /// <summary>Leaked sockets that make a close_wait leak critical.</summary>
    public static readonly Bounds<int> CloseWaitCriticalCount = Bounds.AtLeast(1);

    /// <summary>How Core writes a duration bound in its own messages.</summary>
    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + "s";
}

/// <summary>Thresholds of the detectors; see <see cref="DetectorDefaults"/> for why each default is what it is and <see cref="DetectorLimits"/> for what each accepts.</summary>
public sealed record DetectorOptions
{
    public TimeSpan CloseWaitLeakAfter { get; init; } = TimeSpan.FromSeconds(DetectorDefaults.CloseWaitLeakAfterSeconds);

    public double EphemeralPortUtilization { get; init; } = DetectorDefaults.EphemeralPortUtilization;

    public double EphemeralPortCriticalUtilization { get; init; } = DetectorDefaults.EphemeralPortCriticalUtilization;

    public double AcceptQueueUtilization { get; init; } = DetectorDefaults.AcceptQueueUtilization;

    public double TimeWaitBucketUtilization { get; init; } = DetectorDefaults.TimeWaitBucketUtilization;

    public TimeSpan LastAckStuckAfter { get; init; } = TimeSpan.FromSeconds(DetectorDefaults.LastAckStuckAfterSeconds);

    public int SynSentRetries { get; init; } = DetectorDefaults.SynSentRetries;

    public int GrowthWindowPolls { get; init; } = DetectorDefaults.GrowthWindowPolls;

    public int CloseWaitCriticalCount { get; init; } = DetectorDefaults.CloseWaitCriticalCount;

    public double DescriptorCriticalUtilization { get; init; } = DetectorDefaults.DescriptorCriticalUtilization;

    /// <summary>Every problem with these options, as (option name, what is wrong); empty when they are usable.</summary>
    public IReadOnlyList<(string Key, string Reason)> Validate()
    {
        var errors = new List<(string Key, string Reason)>();
        Check(errors, nameof(CloseWaitLeakAfter), CloseWaitLeakAfter, DetectorLimits.CloseWaitLeakAfter, DetectorLimits.Seconds);
        Check(errors, nameof(LastAckStuckAfter), LastAckStuckAfter, DetectorLimits.LastAckStuckAfter, DetectorLimits.Seconds);
        Check(errors, nameof(EphemeralPortUtilization), EphemeralPortUtilization, DetectorLimits.Ratio);
        Check(errors, nameof(EphemeralPortCriticalUtilization), EphemeralPortCriticalUtilization, DetectorLimits.Ratio);
        Check(errors, nameof(AcceptQueueUtilization), AcceptQueueUtilization, DetectorLimits.Ratio);
        Check(errors, nameof(TimeWaitBucketUtilization), TimeWaitBucketUtilization, DetectorLimits.Ratio);
        Check(errors, nameof(DescriptorCriticalUtilization), DescriptorCriticalUtilization, DetectorLimits.Ratio);
        Check(errors, nameof(SynSentRetries), SynSentRetries, DetectorLimits.SynSentRetries);
        Check(errors, nameof(GrowthWindowPolls), GrowthWindowPolls, DetectorLimits.GrowthWindowPolls);
        Check(errors, nameof(CloseWaitCriticalCount), CloseWaitCriticalCount, DetectorLimits.CloseWaitCriticalCount);
        if (EphemeralPortCriticalUtilization < EphemeralPortUtilization)
        {
            errors.Add((nameof(EphemeralPortCriticalUtilization), $"must not be below {nameof(EphemeralPortUtilization)}"));
        }

        return errors;
    }

    private static void Check<T>(List<(string, string)> errors, string key, T value, Bounds<T> bounds, Func<T, string>? format = null)
        where T : struct, IComparable<T>
    {
        if (!bounds.Allows(value))
        {
            errors.Add((key, "must be " + bounds.Describe(format)));
        }
    }
}
