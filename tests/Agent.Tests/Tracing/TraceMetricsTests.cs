using SockWatch.Agent.Metrics;
using SockWatch.Agent.Tracing;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tests.Tracing;

/// <summary>The tracer's counters as metrics and findings, without a kernel: buckets, names, caps, and the traced words of findings.</summary>
public sealed class TraceMetricsTests
{
    [Fact]
    public void Exposed_buckets_are_every_other_kernel_slot_and_cumulative()
    {
        var slots = new long[NetStatsLayout.Slots];
        slots[9] = 1;   // [256 ns, 512 ns): under the first bound, 2^10 ns
        slots[30] = 3;  // [0.54 s, 1.07 s): in le=2^30 ns, not in le=2^28 ns
        slots[31] = 2;  // [1.07 s, 2.15 s): in le=2^32 ns
        slots[60] = 1;  // beyond 2^42 ns: only in +Inf
        var h = TraceMetrics.Histogram(slots, 7.5);
        Assert.Equal(TraceMetrics.ExposedSlots.Count + 1, h.UpperBounds.Count);
        Assert.Equal(Math.Pow(2, 10) / 1e9, h.UpperBounds[0]);
        Assert.Equal(Math.Pow(2, 42) / 1e9, h.UpperBounds[^2]);
        Assert.Equal(1, h.CumulativeCounts[0]);
        Assert.Equal(1, h.CumulativeCounts[TraceMetrics.ExposedSlots.ToList().IndexOf(28)]);
        Assert.Equal(4, h.CumulativeCounts[TraceMetrics.ExposedSlots.ToList().IndexOf(30)]);
        Assert.Equal(6, h.CumulativeCounts[TraceMetrics.ExposedSlots.ToList().IndexOf(32)]);
        Assert.Equal(6, h.CumulativeCounts[^2]);
        Assert.Equal(7, h.Count);
        Assert.Equal(7.5, h.Sum);
    }

    [Fact]
    public void A_namespaces_kernel_stats_read_as_changes_histograms_and_resets_at_the_programs_offsets()
    {
        // struct netstats of bpf/sockwatch.bpf.c, as the sum of its per-CPU copies
        Assert.Equal(10_624, NetStatsLayout.Size);
        var stats = new ulong[NetStatsLayout.Size / sizeof(ulong)];
        stats[(NetStatsLayout.ChangesOffset / 8) + ((int)TcpState.Established * 16) + (int)TcpState.CloseWait] = 7;
        stats[(NetStatsLayout.ChangesOffset / 8) + ((int)TcpState.Close * 16) + (int)TcpState.SynSent] = 9;
        stats[(NetStatsLayout.SlotsOffset / 8) + ((int)TcpState.CloseWait * 64) + 31] = 2;
        stats[(NetStatsLayout.SumOffset / 8) + (int)TcpState.CloseWait] = 3_000_000_000;
        stats[(NetStatsLayout.ResetsOffset / 8) + ((int)TcpState.Established * 2) + 1] = 4;
        stats[(NetStatsLayout.ResetsOffset / 8) + ((int)TcpState.Close * 2)] = 5;
        List<Agent.Tracing.TransitionCount> transitions = [];
        List<StateDurations> durations = [];
        List<ResetCount> resets = [];

        TraceSession.AddNamespace(42, stats, transitions, durations, resets);

        Assert.Equal([new(42, TcpState.Established, TcpState.CloseWait, 7), new(42, TcpState.Close, TcpState.SynSent, 9)], transitions);
        var closeWait = Assert.Single(durations);
        Assert.Equal((42u, TcpState.CloseWait, 2L, 3.0), (closeWait.Netns, closeWait.State, closeWait.Slots[31], closeWait.SumSeconds));
        Assert.Equal(2, closeWait.Count);
        Assert.Equal([new(42, TcpState.Established, "received", 4), new(42, TcpState.Close, "sent", 5)], resets);
    }

    [Fact]
    public void Namespaces_take_the_poll_names_and_owners_fold_into_other_beyond_the_cap()
    {
        var counters = TraceCounters.Empty with
        {
            Transitions = [new(1, TcpState.Close, TcpState.SynSent, 5), new(2, TcpState.Close, TcpState.SynSent, 3)],
            Opens = [new(1, "active", 0, "curl", 5), new(1, "active", 0, "wget", 2), new(1, "active", 0, "nc", 1)],
        };
        var m = TraceMetrics.Build(counters, new Dictionary<uint, string> { [1] = "host" }, _ => null, new SeriesCaps(Owners: 1, Destinations: 5, Namespaces: 10));
        Assert.Equal([("host", 5L), ("netns-2", 3L)], m.StateChanges.Select(c => (c.Netns, c.Count)));
        Assert.Equal(
            [("curl", "active", 5L), ("other", "active", 3L)],
            m.Connections.Select(c => (c.Process, c.Direction, c.Count)));
    }

    [Fact]
    public void A_leak_finding_says_how_long_the_application_usually_closes_after_the_fin()
    {
        var aggregator = new TraceAggregator();
        foreach (var ms in new[] { 3, 5, 400 })
        {
            var entry = Record(TcpState.Established, TcpState.CloseWait, "api", 0);
            aggregator.Add(entry);
            aggregator.Add(Record(TcpState.CloseWait, TcpState.LastAck, "api", ms * 1_000_000L));
        }

        var leak = new Finding(FindingKind.CloseWaitLeak, FindingSeverity.Warning, new SocketOwner(7, 0, "api", 0, "root", null, null, null), "api", 3, null, "leak", new Dictionary<string, double>());
        var quiet = leak with { Owner = new SocketOwner(8, 0, "batch", 0, "root", null, null, null) };
        var enriched = new TraceFindings().Enrich([leak, quiet], TraceCounters.Empty, aggregator, DateTimeOffset.UnixEpoch, _ => 1);
        Assert.Equal("leak; traced: api usually closes 5.0 ms after the peer's FIN (the median of its recent closes)", enriched[0].Explanation);
        Assert.Equal("leak; traced: no close of batch after a peer's FIN has been seen since tracing started", enriched[1].Explanation);

        // A close_wait of pid 7 whose entry the tracer saw, 10 minutes ago: its age is exact.
        var held = Record(TcpState.Established, TcpState.CloseWait, "api", 0) with { Socket = 43, AtNs = TraceAggregator.MonotonicNow() - 600_000_000_000L };
        aggregator.Add(held);
        var exact = new TraceFindings().Enrich([leak], TraceCounters.Empty, aggregator, DateTimeOffset.UnixEpoch, _ => 1);
        Assert.EndsWith("; the oldest of its close_wait sockets whose entry was seen got the peer's FIN 600 s ago (exact)", exact[0].Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Pressure_findings_give_the_close_rate_per_destination_and_per_client_address_for_accepted_connections()
    {
        var traced = new TraceFindings();
        var at = DateTimeOffset.UnixEpoch;
        Dictionary<Peer, long> Closes(long toDb, long toClients) => new() { [new(1, "10.0.0.7", 5432)] = toDb, [new(1, "10.0.0.9", 0)] = toClients };
        var ports = new Finding(FindingKind.EphemeralPortPressure, FindingSeverity.Warning, null, "10.0.0.1 -> 10.0.0.7:5432", 1, null, "ports", new Dictionary<string, double>());
        var buckets = new Finding(FindingKind.TimeWaitBucketPressure, FindingSeverity.Warning, null, "time_wait", 1, null, "buckets", new Dictionary<string, double>());
        _ = traced.Enrich([ports, buckets], TraceCounters.Empty with { ActiveCloses = Closes(100, 1_000) }, new TraceAggregator(), at, _ => 1);

        var enriched = traced.Enrich([ports, buckets], TraceCounters.Empty with { ActiveCloses = Closes(300, 6_000) }, new TraceAggregator(), at.AddSeconds(10), _ => 1);

        Assert.Equal("ports; traced: this host closes 20 connections a second toward 10.0.0.7:5432 first (established -> fin_wait1), each leaving a time_wait", enriched[0].Explanation);
        Assert.Equal("buckets; traced: the closes behind it, by destination: clients at 10.0.0.9 500/s, 10.0.0.7:5432 20/s", enriched[1].Explanation);
    }

    [Fact]
    public void A_close_wait_entry_whose_exit_was_lost_is_forgotten_once_a_poll_of_its_namespace_shows_it_gone()
    {
        var aggregator = new TraceAggregator();
        TraceRecord Entered(ulong cookie, uint netns, long atNs) => Record(TcpState.Established, TcpState.CloseWait, "api", 0) with { Socket = cookie, Netns = netns, AtNs = atNs };
        aggregator.Add(Entered(1, netns: 1, atNs: 100)); // still in close_wait
        aggregator.Add(Entered(2, netns: 1, atNs: 100)); // gone: its exit record was lost
        aggregator.Add(Entered(3, netns: 2, atNs: 100)); // a namespace the poll did not read
        aggregator.Add(Entered(4, netns: 1, atNs: 900)); // entered after the poll began

        var forgotten = aggregator.Forget(netns => netns == 1, new HashSet<ulong> { 1 }, seenBeforeNs: 500);

        Assert.Equal(1, forgotten);
        Assert.Equal(new ulong[] { 1, 3, 4 }, aggregator.CloseWaitEntriesAt(DateTimeOffset.UnixEpoch).Keys.Order());
    }

    private static TraceRecord Record(TcpState from, TcpState to, string comm, long inStateNs)
    {
        var r = new TraceRecord { Netns = 1, Socket = 42, FromValue = (byte)from, ToValue = (byte)to, InStateNs = inStateNs, Family = 2, Pid = 7 };
        System.Text.Encoding.ASCII.GetBytes(comm, r.Comm);
        return r;
    }
}
