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

/// <summary>Thresholds of the detectors; see <see cref="DetectorDefaults"/> for why each default is what it is.</summary>
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
        NotNegative(errors, nameof(CloseWaitLeakAfter), CloseWaitLeakAfter);
        NotNegative(errors, nameof(LastAckStuckAfter), LastAckStuckAfter);
        Ratio(errors, nameof(EphemeralPortUtilization), EphemeralPortUtilization);
        Ratio(errors, nameof(EphemeralPortCriticalUtilization), EphemeralPortCriticalUtilization);
        Ratio(errors, nameof(AcceptQueueUtilization), AcceptQueueUtilization);
        Ratio(errors, nameof(TimeWaitBucketUtilization), TimeWaitBucketUtilization);
        Ratio(errors, nameof(DescriptorCriticalUtilization), DescriptorCriticalUtilization);
        if (SynSentRetries < 1)
        {
            errors.Add((nameof(SynSentRetries), "must be at least 1 retransmit"));
        }

        if (GrowthWindowPolls is < 1 or > DetectorDefaults.MaxGrowthWindowPolls)
        {
            errors.Add((nameof(GrowthWindowPolls), $"must be between 1 and {DetectorDefaults.MaxGrowthWindowPolls} polls"));
        }

        if (CloseWaitCriticalCount < 1)
        {
            errors.Add((nameof(CloseWaitCriticalCount), "must be at least 1 socket"));
        }

        if (EphemeralPortCriticalUtilization < EphemeralPortUtilization)
        {
            errors.Add((nameof(EphemeralPortCriticalUtilization), $"must not be below {nameof(EphemeralPortUtilization)}"));
        }

        return errors;
    }

    private static void NotNegative(List<(string, string)> errors, string key, TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            errors.Add((key, "must not be negative"));
        }
    }

    private static void Ratio(List<(string, string)> errors, string key, double value)
    {
        // Written so that NaN fails too.
        if (!(value > 0 && value <= 1))
        {
            errors.Add((key, "must be a ratio greater than 0 and at most 1"));
        }
    }
}
