using SockWatch.Collectors;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// What one poll of the daemon found: immutable, swapped in whole, so every reader (the metrics,
/// the pages) sees one complete poll and never half of one.
/// </summary>
internal sealed record PollResult(
    DateTimeOffset At,
    TimeSpan Duration,
    string Collector,
    int Sockets,
    IReadOnlyList<int> CountByState,
    CollectionStats Stats,
    IReadOnlyList<Finding> Findings,
    int Unowned);

/// <summary>The latest poll result and the latest failure, for readers on other threads.</summary>
internal sealed class PollResultStore
{
    private PollResult? _latest;

    public PollResult? Latest => Volatile.Read(ref _latest);

    public DateTimeOffset? LastSuccess => Latest?.At;

    public long Polls => Interlocked.Read(ref _polls);

    public long Failures => Interlocked.Read(ref _failures);

    private long _polls;
    private long _failures;

    /// <summary>Whether the most recent poll attempt failed (the latest result is then older).</summary>
    public bool LastAttemptFailed => Volatile.Read(ref _lastAttemptFailed);

    private bool _lastAttemptFailed;

    public void Publish(PollResult result)
    {
        Volatile.Write(ref _latest, result);
        Volatile.Write(ref _lastAttemptFailed, false);
        Interlocked.Increment(ref _polls);
    }

    public void Failed()
    {
        Volatile.Write(ref _lastAttemptFailed, true);
        Interlocked.Increment(ref _failures);
    }
}
