namespace SockWatch.Agent.Metrics;

/// <summary>
/// The poll-duration histogram, kept by us: a count per bucket, the sum and the count of every
/// poll since start. A duration lands in the first bucket whose upper bound it does not exceed
/// (bounds are inclusive, as Prometheus's <c>le</c> and OpenTelemetry's explicit buckets are).
/// Thread-safe: the poll thread records, any thread may take a snapshot.
/// </summary>
internal sealed class PollDurationHistogram
{
    /// <summary>Upper bounds, seconds: a poll of 1,000 sockets takes about a millisecond, of 100,000 a few hundred.</summary>
    public static readonly IReadOnlyList<double> Bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Lock _gate = new();
    private readonly long[] _buckets = new long[Bounds.Count + 1]; // the last one is +Inf
    private double _sum;
    private long _count;

    public void Record(TimeSpan duration)
    {
        var seconds = duration.TotalSeconds;
        var i = 0;
        while (i < Bounds.Count && seconds > Bounds[i])
        {
            i++;
        }

        lock (_gate)
        {
            _buckets[i]++;
            _sum += seconds;
            _count++;
        }
    }

    /// <summary>The histogram now, with cumulative bucket counts and <c>+Inf</c> last.</summary>
    public HistogramValue Snapshot()
    {
        var bounds = new double[Bounds.Count + 1];
        var cumulative = new long[bounds.Length];
        lock (_gate)
        {
            long running = 0;
            for (var i = 0; i < bounds.Length; i++)
            {
                running += _buckets[i];
                bounds[i] = i < Bounds.Count ? Bounds[i] : double.PositiveInfinity;
                cumulative[i] = running;
            }

            return new HistogramValue(bounds, cumulative, _sum, _count);
        }
    }
}
