namespace SockWatch.Agent.Metrics;

/// <summary>How one stage of the latest poll went, as the metrics take it.</summary>
/// <param name="Stage">The stage's label value: <c>discover</c>, <c>dump</c>, <c>owners</c>, <c>facts</c>, <c>track</c>, <c>detect</c>.</param>
internal readonly record struct StageFigure(string Stage, double Seconds, bool Success);

/// <summary>The latest successful poll, as the metrics take it.</summary>
/// <param name="At">When the poll was made.</param>
/// <param name="Duration">How long it took.</param>
/// <param name="Collector">The collector that read it (<c>netlink</c>, <c>proc</c>).</param>
/// <param name="Metrics">Its capped, label-ready view.</param>
/// <param name="Dumped">Watched namespaces whose table was dumped.</param>
/// <param name="Carried">Watched namespaces whose connections were carried from their last dump.</param>
/// <param name="Empty">Watched namespaces whose counters showed no socket.</param>
/// <param name="Stages">How each stage went; empty when the poll did not report its stages.</param>
internal sealed record PublishedPoll(
    DateTimeOffset At,
    TimeSpan Duration,
    string Collector,
    PollMetrics Metrics,
    int Dumped,
    int Carried,
    int Empty,
    IReadOnlyList<StageFigure> Stages)
{
    /// <summary>The tracer's counters at this poll; null while tracing is off.</summary>
    public TraceMetrics? Trace { get; init; }
}

/// <summary>
/// Everything <c>/metrics</c> (and OTLP) says for one version of the daemon's state: the latest
/// successful poll and the daemon's own counters. Immutable; the daemon builds one after every
/// poll, published or failed, and hands it to <see cref="MetricsPipeline.Publish"/>.
/// </summary>
/// <param name="Version">Changes with every poll, published or failed.</param>
/// <param name="Latest">The latest successful poll; null before the first.</param>
/// <param name="Errors">Failed polls by collector and reason, since start, sorted.</param>
/// <param name="Malformed">Kernel records skipped as malformed, by collector, since start, sorted.</param>
/// <param name="PollDurations">The durations of the successful polls, since start.</param>
/// <param name="CloseWaitLeakAfter">The configured close_wait_leak_after.</param>
internal sealed record MetricsState(
    long Version,
    PublishedPoll? Latest,
    IReadOnlyList<KeyValuePair<(string Collector, string Reason), long>> Errors,
    IReadOnlyList<KeyValuePair<string, long>> Malformed,
    HistogramValue PollDurations,
    TimeSpan CloseWaitLeakAfter)
{
    /// <summary>Whether the daemon traces state changes, and why not.</summary>
    public Tracing.TraceStatus Trace { get; init; } = Tracing.TraceStatus.Disabled;

    /// <summary>The state before any poll: only SockWatch's own constant series.</summary>
    public static MetricsState Initial(TimeSpan closeWaitLeakAfter) =>
        new(-1, null, [], [], new PollDurationHistogram().Snapshot(), closeWaitLeakAfter);
}
