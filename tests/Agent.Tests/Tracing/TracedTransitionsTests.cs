using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Core;

namespace SockWatch.Agent.Tests.Tracing;

/// <summary>The page's traced edges: the tracer's cumulative counters turned into each poll's changes.</summary>
public sealed class TracedTransitionsTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static TraceMetrics Traced(params StateChange[] changes) => new(changes, [], [], [], [], 0, 0, 0, 0);

    [Fact]
    public void Each_poll_gets_the_changes_since_the_previous_one_over_that_interval()
    {
        var traced = new TracedTransitions();
        Assert.Null(traced.Since(Traced(new StateChange("host", TcpState.Established, TcpState.CloseWait, 10)), At)); // no interval yet

        var counters = Traced(
            new StateChange("host", TcpState.Established, TcpState.CloseWait, 14),
            new StateChange("host", TcpState.CloseWait, TcpState.LastAck, 3),
            new StateChange("web", TcpState.SynSent, TcpState.Established, 2));
        var second = traced.Since(counters, At.AddSeconds(15));

        Assert.NotNull(second);
        Assert.Equal((At, At.AddSeconds(15)), (second.Since, second.Until));
        Assert.Equal(
            [
                new TransitionCount("host", TcpState.Established, TcpState.CloseWait, 4),
                new TransitionCount("host", TcpState.CloseWait, TcpState.LastAck, 3),
                new TransitionCount("web", TcpState.SynSent, TcpState.Established, 2),
            ],
            second.Counts.OrderBy(c => c.Netns, StringComparer.Ordinal).ThenBy(c => c.From).ThenBy(c => c.To));

        // Nothing changed: an interval with no counts, which the page shows as traced zeros.
        var third = traced.Since(counters, At.AddSeconds(30));
        Assert.NotNull(third);
        Assert.Empty(third.Counts);
        Assert.Equal(At.AddSeconds(15), third.Since);
    }

    [Fact]
    public void A_count_that_goes_down_is_no_change_and_tracing_off_falls_back_to_the_polls()
    {
        var traced = new TracedTransitions();
        traced.Since(Traced(new StateChange("other", TcpState.Established, TcpState.FinWait1, 9)), At);

        // A namespace folded into `other` one poll and named the next makes `other` go down.
        var down = traced.Since(Traced(new StateChange("other", TcpState.Established, TcpState.FinWait1, 4)), At.AddSeconds(15));
        Assert.NotNull(down);
        Assert.Empty(down.Counts);

        Assert.Null(traced.Since(null, At.AddSeconds(30))); // tracing stopped: the polls' inferred edges
        Assert.Null(traced.Since(Traced(new StateChange("other", TcpState.Established, TcpState.FinWait1, 5)), At.AddSeconds(45))); // and a new start needs a new interval
    }
}
