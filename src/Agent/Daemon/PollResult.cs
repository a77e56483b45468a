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
    int Unowned,
    Metrics.PollMetrics Metrics,
    int Namespaces = 1)
{
    /// <summary>The watched namespaces by how their sockets were read (this process's is always dumped).</summary>
    public NamespaceReads Reads { get; init; } = new(Namespaces, 0, 0);

    /// <summary>How each stage of the poll went, in the order they ran; empty when the poll did not report its stages.</summary>
    public IReadOnlyList<Polling.StageReport> Stages { get; init; } = [];
}

/// <summary>Watched namespaces of one poll: dumped, carried from their last dump, and empty by their counters.</summary>
internal readonly record struct NamespaceReads(int Dumped, int Carried, int Empty);

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

    private readonly Dictionary<(string Collector, string Reason), long> _errors = [];
    private readonly Dictionary<string, long> _malformed = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Changes with every poll, published or failed: what a cached scrape body is keyed on.</summary>
    public long Version => Interlocked.Read(ref _version);

    public void Publish(PollResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        lock (_malformed)
        {
            _malformed[result.Collector] = _malformed.GetValueOrDefault(result.Collector) + result.Stats.Malformed;
        }

        Volatile.Write(ref _latest, result);
        Volatile.Write(ref _lastAttemptFailed, false);
        Interlocked.Increment(ref _polls);
        Interlocked.Increment(ref _version);
    }

    public void Failed(string collector, string reason)
    {
        lock (_errors)
        {
            _errors[(collector, reason)] = _errors.GetValueOrDefault((collector, reason)) + 1;
        }

        Volatile.Write(ref _lastAttemptFailed, true);
        Interlocked.Increment(ref _failures);
        Interlocked.Increment(ref _version);
    }

    /// <summary>Failed polls by collector and reason, since start (a copy).</summary>
    public IReadOnlyList<KeyValuePair<(string Collector, string Reason), long>> ErrorCounts()
    {
        lock (_errors)
        {
            return [.. _errors.OrderBy(e => e.Key.Collector, StringComparer.Ordinal).ThenBy(e => e.Key.Reason, StringComparer.Ordinal)];
        }
    }

    /// <summary>Malformed kernel records by collector, since start (a copy).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> MalformedCounts()
    {
        lock (_malformed)
        {
            return [.. _malformed.OrderBy(e => e.Key, StringComparer.Ordinal)];
        }
    }
}
