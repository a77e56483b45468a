using SockWatch.Core;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// The page's exact transitions while the kernel tracer runs: the tracer's state-change counters
/// are cumulative since the daemon started, so each poll's edges are the difference from the
/// previous poll's counters over the time between the two (docs/web.md, "Transitions").
/// </summary>
internal sealed class TracedTransitions
{
    private Dictionary<(string Netns, TcpState From, TcpState To), long>? _previous;
    private DateTimeOffset _previousAt;

    /// <summary>
    /// The changes counted between the previous call and <paramref name="at"/>; null on the first
    /// call (no interval yet) and whenever <paramref name="traced"/> is null (tracing is off), so
    /// the page shows the inferred transitions and says so.
    /// </summary>
    public ExactTransitions? Since(Metrics.TraceMetrics? traced, DateTimeOffset at)
    {
        if (traced is null)
        {
            _previous = null;
            return null;
        }

        var current = new Dictionary<(string, TcpState, TcpState), long>(traced.StateChanges.Count);
        foreach (var change in traced.StateChanges)
        {
            current[(change.Netns, change.From, change.To)] = change.Count;
        }

        var previous = _previous;
        var since = _previousAt;
        _previous = current;
        _previousAt = at;
        if (previous is null || at <= since)
        {
            return null;
        }

        var counts = new List<TransitionCount>();
        foreach (var ((netns, from, to), count) in current)
        {
            // A namespace folded into `other` (or a counter the kernel restarted) can make a
            // count go down between polls: no change is ever counted negative.
            var delta = count - previous.GetValueOrDefault((netns, from, to));
            if (delta > 0)
            {
                counts.Add(new TransitionCount(netns, from, to, delta));
            }
        }

        return new ExactTransitions(since, at, counts);
    }
}
