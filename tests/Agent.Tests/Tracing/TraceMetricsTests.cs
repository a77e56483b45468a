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
        // the kernel's histogram of api's close_wait exits: 3 ms (slot 22), 5 ms (slot 23), 400 ms (slot 29)
        var slots = new long[NetStatsLayout.Slots];
        slots[22] = slots[23] = slots[29] = 1;
        var delays = new Dictionary<(uint, string), long[]> { [(1, "api")] = slots };
        var leak = new Finding(FindingKind.CloseWaitLeak, FindingSeverity.Warning, new SocketOwner(7, 0, "api", 0, "root", null, null, null), "api", 3, null, "leak", new Dictionary<string, double>());
        var quiet = leak with { Owner = new SocketOwner(8, 0, "batch", 0, "root", null, null, null) };
        var at = DateTimeOffset.UnixEpoch.AddDays(1);
        var enriched = new TraceFindings().Enrich([leak, quiet], TraceCounters.Empty, delays, (_, _) => null, at, _ => 1);
        // the median, 5 ms, is in slot 23, [4.19 ms, 8.39 ms): placed at its middle on a log scale
        Assert.Equal("leak; traced: api usually closes about 5.9 ms after the peer's FIN (the median of its 3 closes since tracing started, within a factor of two)", enriched[0].Explanation);
        Assert.Equal("leak; traced: no close of batch after a peer's FIN has been seen since tracing started", enriched[1].Explanation);

        // A close_wait of pid 7 in namespace 1 whose entry the tracer holds, 10 minutes before the poll: its age is exact.
        var exact = new TraceFindings().Enrich([leak], TraceCounters.Empty, delays, (netns, pid) => netns == 1 && pid == 7 ? at.AddMinutes(-10) : null, at, _ => 1);
        Assert.EndsWith("; the oldest of its close_wait sockets whose entry was seen got the peer's FIN 600 s ago (exact)", exact[0].Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void The_median_of_a_log2_histogram_stays_in_the_slot_of_the_true_median()
    {
        Assert.Null(TraceFindings.Median(new long[NetStatsLayout.Slots]));
        var zeros = new long[NetStatsLayout.Slots];
        zeros[0] = 3;
        Assert.Equal((TimeSpan.Zero, 3L), TraceFindings.Median(zeros));

        var random = new Random(17);
        for (var trial = 0; trial < 200; trial++)
        {
            // from 1 µs up: a TimeSpan counts 100 ns
            var values = Enumerable.Range(0, random.Next(1, 40)).Select(_ => (long)Math.Pow(2, 10 + (random.NextDouble() * 30))).Order().ToArray();
            var slots = new long[NetStatsLayout.Slots];
            foreach (var v in values)
            {
                slots[Slot(v)]++;
            }

            var (median, count) = TraceFindings.Median(slots)!.Value;
            var trueMedian = values[(values.Length - 1) / 2];
            Assert.Equal(values.Length, count);
            Assert.Equal(Slot(trueMedian), Slot(median.Ticks * 100));
        }

        // slot k holds [2^(k-1), 2^k) ns, slot 0 holds 0 (bpf/sockwatch.bpf.c, log2_slot)
        static int Slot(long ns) => ns == 0 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)ns);
    }

    [Fact]
    public void Pressure_findings_give_the_close_rate_per_destination_and_per_client_address_for_accepted_connections()
    {
        var traced = new TraceFindings();
        var at = DateTimeOffset.UnixEpoch;
        Dictionary<Peer, long> Closes(long toDb, long toClients) => new() { [new(1, "10.0.0.7", 5432)] = toDb, [new(1, "10.0.0.9", 0)] = toClients };
        var ports = new Finding(FindingKind.EphemeralPortPressure, FindingSeverity.Warning, null, "10.0.0.1 -> 10.0.0.7:5432", 1, null, "ports", new Dictionary<string, double>());
        var buckets = new Finding(FindingKind.TimeWaitBucketPressure, FindingSeverity.Warning, null, "time_wait", 1, null, "buckets", new Dictionary<string, double>());
        var none = new Dictionary<(uint, string), long[]>();
        _ = traced.Enrich([ports, buckets], TraceCounters.Empty with { ActiveCloses = Closes(100, 1_000) }, none, (_, _) => null, at, _ => 1);

        var enriched = traced.Enrich([ports, buckets], TraceCounters.Empty with { ActiveCloses = Closes(300, 6_000) }, none, (_, _) => null, at.AddSeconds(10), _ => 1);

        Assert.Equal("ports; traced: this host closes 20 connections a second toward 10.0.0.7:5432 first (established -> fin_wait1), each leaving a time_wait", enriched[0].Explanation);
        Assert.Equal("buckets; traced: the closes behind it, by destination: clients at 10.0.0.9 500/s, 10.0.0.7:5432 20/s", enriched[1].Explanation);
    }

    [Fact]
    public void A_close_wait_entry_is_read_from_its_set_only_for_that_cookie_in_close_wait()
    {
        // the program's set of a cookie: the high 16 bits of cookie * 0x9E3779B97F4A7C15
        Assert.Equal(0x9E37u, SocketTableLayout.SetOf(1));
        Assert.Equal(unchecked((uint)(((3UL * 0x9E3779B97F4A7C15UL) >> 48) & 0xffff)), SocketTableLayout.SetOf(3));

        // ways: cookies 11, 12, 0 (free), 14; entry times with their state in the low 4 bits
        ulong[] set = [11, 12, 0, 14, (1_000UL << 4) | (ulong)TcpState.CloseWait, (2_000UL << 4) | (ulong)TcpState.LastAck, 0, (3_000UL << 4) | (ulong)TcpState.CloseWait];
        Assert.True(SocketTableLayout.TryEntry(set, 11, TcpState.CloseWait, out var entered));
        Assert.Equal(16_000L, entered);
        Assert.True(SocketTableLayout.TryEntry(set, 14, TcpState.CloseWait, out entered));
        Assert.Equal(48_000L, entered);
        Assert.False(SocketTableLayout.TryEntry(set, 12, TcpState.CloseWait, out _)); // left close_wait since the dump
        Assert.False(SocketTableLayout.TryEntry(set, 13, TcpState.CloseWait, out _)); // not held (evicted, or before tracing)
    }

    [Fact]
    public void Traced_entries_are_placed_against_the_polls_time_and_never_after_it()
    {
        var at = DateTimeOffset.UnixEpoch.AddDays(3);
        var atTimestamp = System.Diagnostics.Stopwatch.Frequency * 1_000; // 1,000 s on the monotonic clock
        var entries = new Dictionary<ulong, long> { [1] = 400_000_000_000, [2] = 1_000_500_000_000 };

        var wall = SockWatch.Agent.Polling.PollPipeline.WallTimes(entries, at, atTimestamp);

        Assert.Equal(at.AddSeconds(-600), wall[1]);
        Assert.Equal(at, wall[2]); // entered during the dump, after the poll's instant
    }

    private static TraceRecord Record(TcpState from, TcpState to, string comm, long inStateNs)
    {
        var r = new TraceRecord { Netns = 1, Socket = 42, FromValue = (byte)from, ToValue = (byte)to, InStateNs = inStateNs, Family = 2, Pid = 7 };
        System.Text.Encoding.ASCII.GetBytes(comm, r.Comm);
        return r;
    }
}
