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

    /// <summary>What the page and /api/v1 show of this poll; null when the poll was published without it (tests of the store alone).</summary>
    public Diagram.DiagramPoll? Diagram { get; init; }

    /// <summary>
    /// What the kernel tracer counted up to this poll (exact state changes per netns, from and
    /// to; time in state; resets; connections; connect failures); null while tracing is off.
    /// The pages read <see cref="Metrics.TraceMetrics.StateChanges"/> from here.
    /// </summary>
    public Metrics.TraceMetrics? Trace { get; init; }
}

/// <summary>Watched namespaces of one poll: dumped, carried from their last dump, and empty by their counters.</summary>
internal readonly record struct NamespaceReads(int Dumped, int Carried, int Empty);

/// <summary>
/// The latest poll result and the latest failure, for readers on other threads; and the
/// daemon's counters since start. Every poll published or failed is handed to the metrics
/// pipeline as one <see cref="Metrics.MetricsState"/> before the pages and readiness see it, so
/// a scraper that finds the daemon ready finds that poll on <c>/metrics</c>.
/// </summary>
/// <param name="metrics">The pipeline each state is published to; none in tests of the store alone.</param>
/// <param name="closeWaitLeakAfter">The configured close_wait_leak_after, for the metrics (default 2m).</param>
internal sealed class PollResultStore(Metrics.MetricsPipeline? metrics = null, TimeSpan? closeWaitLeakAfter = null)
{
    /// <summary>Whether the daemon traces state changes, and why not; set once at start.</summary>
    public Tracing.TraceStatus TraceStatus { get; init; } = Tracing.TraceStatus.Disabled;

    private readonly TimeSpan _closeWaitLeakAfter = closeWaitLeakAfter ?? Configuration.Settings.CloseWaitLeakAfter.Default;
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
    private readonly Metrics.PollDurationHistogram _durations = new();
    private long _version;

    private readonly TaskCompletionSource _firstPublished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first poll is published: what READY=1 waits for, without polling the store.</summary>
    public Task FirstPublished => _firstPublished.Task;

    /// <summary>The last hour of polls for the page and /api/v1/history, kept as each poll is published.</summary>
    public Diagram.PollHistory History { get; } = new();

    /// <summary>Changes with every poll, published or failed: what a cached scrape body is keyed on.</summary>
    public long Version => Interlocked.Read(ref _version);

    public void Publish(PollResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        lock (_malformed)
        {
            _malformed[result.Collector] = _malformed.GetValueOrDefault(result.Collector) + result.Stats.Malformed;
        }

        _durations.Record(result.Duration);
        var version = Interlocked.Increment(ref _version);
        metrics?.Publish(State(version, result));
        if (result.Diagram is { } diagram)
        {
            History.Add(diagram);
        }

        Volatile.Write(ref _latest, result);
        Volatile.Write(ref _lastAttemptFailed, false);
        Interlocked.Increment(ref _polls);
        _firstPublished.TrySetResult();
    }

    public void Failed(string collector, string reason)
    {
        lock (_errors)
        {
            _errors[(collector, reason)] = _errors.GetValueOrDefault((collector, reason)) + 1;
        }

        var version = Interlocked.Increment(ref _version);
        metrics?.Publish(State(version, Latest));
        Volatile.Write(ref _lastAttemptFailed, true);
        Interlocked.Increment(ref _failures);
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

    /// <summary>What the metrics say now: the latest poll and the counters since start.</summary>
    public Metrics.MetricsState ToMetricsState() => State(Version, Latest);

    private Metrics.MetricsState State(long version, PollResult? latest)
    {
        var poll = latest is null ? null : new Metrics.PublishedPoll(
            latest.At,
            latest.Duration,
            latest.Collector,
            latest.Metrics,
            latest.Reads.Dumped,
            latest.Reads.Carried,
            latest.Reads.Empty,
            [.. latest.Stages.Select(s => new Metrics.StageFigure(Polling.PollStages.NameOf(s.Stage), s.Duration.TotalSeconds, s.Success))])
        {
            Trace = latest.Trace,
        };
        return new Metrics.MetricsState(version, poll, ErrorCounts(), MalformedCounts(), _durations.Snapshot(), _closeWaitLeakAfter)
        {
            Trace = TraceStatus,
        };
    }
}
