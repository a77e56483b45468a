using SockWatch.Collectors.Facts;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// A quiet namespace's connections, carried from its last full dump: when they may stand for a
/// dump (the counters unchanged, no timer due, the redump interval not over), and how they age.
/// </summary>
public sealed class CarriedSocketsTests : IDisposable
{
    private static readonly TimeSpan Redump = TimeSpan.FromMinutes(10);
    private static readonly CollectRequest Request = new() { TcpInfoStateMask = TcpStateMask.Of(TcpState.CloseWait) };

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sockwatch-carried-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Connections_are_carried_while_the_counters_stand_still_and_listeners_never_are()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        SocketRecord[] dumped = [Row(TcpState.Listen, 1), Row(TcpState.Established, 2), Row(TcpState.CloseWait, 3)];

        carried.Remember(dumped, Activity(inSegs: 10), Request, Redump, clock.GetTimestamp());
        clock.Advance(TimeSpan.FromSeconds(15));

        Assert.True(carried.TryCarry(Activity(inSegs: 10), Request));
        var table = new SocketTable();
        table.Append() = Row(TcpState.Listen, 9); // the listeners the caller dumped afresh
        carried.AppendTo(table);
        Assert.Equal([9UL, 2UL, 3UL], table.Records.ToArray().Select(r => r.Cookie));
        Assert.Equal(2, carried.Count);
    }

    [Fact]
    public void Any_counter_that_moved_a_changed_request_or_no_counters_at_all_mean_a_dump()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        carried.Remember([Row(TcpState.Established, 1)], Activity(inSegs: 10), Request, Redump, clock.GetTimestamp());

        Assert.False(carried.TryCarry(Activity(inSegs: 11), Request));
        Assert.False(carried.TryCarry(Activity(inSegs: 10) with { OutSegs = 1 }, Request));
        Assert.False(carried.TryCarry(Activity(inSegs: 10) with { TimeWait = 1 }, Request));
        Assert.False(carried.TryCarry(null, Request));
        Assert.False(carried.TryCarry(Activity(inSegs: 10), CollectRequest.All));
        Assert.True(carried.TryCarry(Activity(inSegs: 10), Request with { })); // an equal request is the same request

        carried.Remember([Row(TcpState.Established, 1)], null, Request, Redump, clock.GetTimestamp());
        Assert.False(carried.TryCarry(null, Request));
        Assert.Equal(0, carried.Count);
    }

    [Fact]
    public void A_carried_timer_that_comes_due_means_a_dump()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        var keepalive = Row(TcpState.Established, 1);
        keepalive.Timer = SocketTimer.Keepalive;
        keepalive.TimerExpiresMs = 20_000;
        var started = clock.GetTimestamp();
        clock.Advance(TimeSpan.FromSeconds(2)); // the dump took 2 s: the timer counts from its start
        carried.Remember([Row(TcpState.Established, 2), keepalive], Activity(inSegs: 3), Request, Redump, started);

        clock.Advance(TimeSpan.FromSeconds(17));
        Assert.True(carried.TryCarry(Activity(inSegs: 3), Request)); // 19 s after the dump began
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(carried.TryCarry(Activity(inSegs: 3), Request)); // 20 s: it has fired (a probe sent, or not)
    }

    [Fact]
    public void Minisockets_that_ended_on_time_are_dropped_when_tw_fell_by_exactly_their_number()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        SocketRecord[] dumped = [TimeWait(1, 10_000), TimeWait(2, 12_000), TimeWait(3, 50_000), Row(TcpState.CloseWait, 4)];
        dumped[1].State = TcpState.FinWait2; // an orphan's fin_wait2: a minisocket too
        var before = Activity(inSegs: 3) with { TimeWait = 3 };
        carried.Remember(dumped, before, Request, Redump, clock.GetTimestamp());

        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.True(carried.TryCarry(before, Request)); // due, but the timer wheel has not reached them: still there
        Assert.False(carried.TryCarry(before with { TimeWait = 2 }, Request)); // one of the two due ended: which one cannot be told
        Assert.False(carried.TryCarry(before with { TimeWait = 1, OutSegs = 1 }, Request)); // and something else happened
        Assert.True(carried.TryCarry(before with { TimeWait = 1 }, Request)); // both ended

        var table = new SocketTable();
        carried.AppendTo(table);
        Assert.Equal([3UL, 4UL], table.Records.ToArray().Select(r => r.Cookie));
        Assert.Equal(35_000u, table[0].TimerExpiresMs);

        // The activity they were carried under is the new one now.
        Assert.True(carried.TryCarry(before with { TimeWait = 1 }, Request));
        Assert.False(carried.TryCarry(before, Request));
    }

    [Fact]
    public void A_tw_count_that_fell_with_no_minisocket_due_means_a_dump()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        var before = Activity(inSegs: 3) with { TimeWait = 1 };
        carried.Remember([TimeWait(1, 50_000)], before, Request, Redump, clock.GetTimestamp());

        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.False(carried.TryCarry(before with { TimeWait = 0 }, Request)); // ended early: a segment we did not count, say
    }

    [Fact]
    public void A_timer_already_due_at_the_dump_is_never_carried()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        var retransmitting = Row(TcpState.SynSent, 1);
        retransmitting.Timer = SocketTimer.Retransmit;
        retransmitting.TimerExpiresMs = 0;
        carried.Remember([retransmitting], Activity(inSegs: 3), Request, Redump, clock.GetTimestamp());

        Assert.False(carried.TryCarry(Activity(inSegs: 3), Request));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(4026531840UL)]
    [InlineData(4026532451UL)]
    [InlineData(ulong.MaxValue)]
    public void Each_namespace_is_dumped_again_between_half_and_all_of_the_redump_interval(ulong inode)
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(inode, clock);
        carried.Remember([Row(TcpState.Established, 1)], Activity(inSegs: 3), Request, Redump, clock.GetTimestamp());

        clock.Advance(Redump / 2 - TimeSpan.FromMilliseconds(1));
        Assert.True(carried.TryCarry(Activity(inSegs: 3), Request));
        clock.Advance(Redump / 2 + TimeSpan.FromMilliseconds(1));
        Assert.False(carried.TryCarry(Activity(inSegs: 3), Request));
    }

    [Fact]
    public void Namespaces_are_spread_over_the_second_half_of_the_interval()
    {
        var dueAt = new List<double>();
        for (var inode = 4026531840UL; inode < 4026531840UL + 200; inode++)
        {
            var clock = new ManualClock();
            var carried = new CarriedSockets(inode, clock);
            carried.Remember([Row(TcpState.Established, 1)], Activity(inSegs: 3), Request, Redump, clock.GetTimestamp());
            var minutes = 0.0;
            while (carried.TryCarry(Activity(inSegs: 3), Request))
            {
                clock.Advance(TimeSpan.FromSeconds(15));
                minutes += 0.25;
            }

            dueAt.Add(minutes);
        }

        // Inodes are consecutive on a host: they must not come due in the same poll.
        Assert.True(dueAt.Distinct().Count() >= 15, string.Join(' ', dueAt));
        Assert.InRange(dueAt.Average(), 6.5, 8.5);
    }

    [Fact]
    public void Nothing_is_kept_for_a_large_namespace_or_with_a_zero_interval()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        var many = Enumerable.Range(0, CarriedSockets.MaxRows + 1).Select(i => Row(TcpState.Established, (ulong)i)).ToArray();

        carried.Remember(many, Activity(inSegs: 3), Request, Redump, clock.GetTimestamp());
        Assert.False(carried.TryCarry(Activity(inSegs: 3), Request));

        carried.Remember([Row(TcpState.Established, 1)], Activity(inSegs: 3), Request, TimeSpan.Zero, clock.GetTimestamp());
        Assert.False(carried.TryCarry(Activity(inSegs: 3), Request));
    }

    [Fact]
    public void Carried_rows_age_timers_run_down_and_times_since_the_last_segment_grow()
    {
        var clock = new ManualClock();
        var carried = new CarriedSockets(7, clock);
        var closeWait = Row(TcpState.CloseWait, 1);
        closeWait.Timer = SocketTimer.Keepalive;
        closeWait.TimerExpiresMs = 60_000;
        closeWait.TcpInfo = new TcpInfoSummary
        {
            LastDataSentMs = 1_000, LastDataReceivedMs = 2_000, LastAckReceivedMs = TcpInfoSummary.Absent, RttMicroseconds = 50, Length = 232,
        };
        var noInfo = Row(TcpState.Established, 2);
        carried.Remember([closeWait, noInfo], Activity(inSegs: 3), Request, Redump, clock.GetTimestamp());

        clock.Advance(TimeSpan.FromSeconds(15));
        var table = new SocketTable();
        carried.AppendTo(table);

        var aged = table[0];
        Assert.Equal(45_000u, aged.TimerExpiresMs);
        Assert.Equal(16_000u, aged.TcpInfo.LastDataSentMs);
        Assert.Equal(17_000u, aged.TcpInfo.LastDataReceivedMs);
        Assert.Equal(TcpInfoSummary.Absent, aged.TcpInfo.LastAckReceivedMs); // the kernel did not send it
        Assert.Equal(50u, aged.TcpInfo.RttMicroseconds);
        Assert.Equal(0u, table[1].TcpInfo.LastDataSentMs); // no tcp_info: nothing to age
        Assert.Equal(SocketTimer.Off, table[1].Timer);
    }

    [Fact]
    public void Listeners_are_asked_for_alone_and_only_when_the_request_wants_them()
    {
        var listeners = CarriedSockets.ListenersOf(Request);
        Assert.Equal(TcpStateMask.Of(TcpState.Listen), listeners!.StateMask);
        Assert.Equal(Request.TcpInfoStateMask, listeners.TcpInfoStateMask);
        Assert.Null(CarriedSockets.ListenersOf(new CollectRequest { StateMask = TcpStateMask.Of(TcpState.CloseWait) }));
    }

    [Fact]
    public void Activity_takes_the_per_namespace_counters_and_ignores_the_host_wide_ones()
    {
        var sockstat = Write("sockstat", "sockets: used 9\nTCP: inuse 4 orphan 0 tw 2 alloc 6 mem 1\nUDP: inuse 0 mem 0\n");
        var sockstat6 = Write("sockstat6", "TCP6: inuse 3\nUDP6: inuse 0\n");
        var snmp = Write("snmp", Snmp(inSegs: 285));
        using var a = new ProcFile(sockstat, keepOpen: false);
        using var b = new ProcFile(sockstat6, keepOpen: false);
        using var c = new ProcFile(snmp, keepOpen: false);

        var first = TcpActivity.Read(a, b, c);
        Assert.Equal(new TcpActivity(4, 2, 3, 10, 2, 1, 0, 5, 285, 174, 7, 0, 2), first);
        Assert.False(first!.Value.ShowsNoSockets);

        File.WriteAllText(sockstat, "sockets: used 12\nTCP: inuse 4 orphan 3 tw 2 alloc 90 mem 40\n"); // other namespaces' orphans and memory
        Assert.Equal(first, TcpActivity.Read(a, b, c));

        File.WriteAllText(snmp, Snmp(inSegs: 286));
        Assert.NotEqual(first, TcpActivity.Read(a, b, c));
    }

    [Fact]
    public void Activity_without_sockstat6_counts_no_ipv6_and_unreadable_counters_give_none()
    {
        using var sockstat = new ProcFile(Write("sockstat", "TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n"), keepOpen: false);
        using var noIpv6 = new ProcFile(Path.Combine(_dir.FullName, "absent"), keepOpen: false);
        using var snmp = new ProcFile(Write("snmp", Snmp(inSegs: 1)), keepOpen: false);
        Assert.True(TcpActivity.Read(sockstat, noIpv6, snmp)!.Value.ShowsNoSockets);

        using var truncated = new ProcFile(Write("snmp-short", "Tcp: RtoAlgorithm RtoMin InSegs\nTcp: 1 200 5\n"), keepOpen: false);
        Assert.Null(TcpActivity.Read(sockstat, noIpv6, truncated));
        using var garbled = new ProcFile(Write("snmp-bad", Snmp(inSegs: 1).Replace(" 174 ", " x ", StringComparison.Ordinal)), keepOpen: false);
        Assert.Null(TcpActivity.Read(sockstat, noIpv6, garbled));
        using var noTcpLine = new ProcFile(Write("sockstat-bad", "sockets: used 1\n"), keepOpen: false);
        Assert.Null(TcpActivity.Read(noTcpLine, noIpv6, snmp));
    }

    private static string Snmp(long inSegs) =>
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
        + "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
        + $"Tcp: 1 200 120000 -1 10 2 1 0 5 {inSegs} 174 7 0 2 0\n"
        + "Udp: InDatagrams NoPorts\nUdp: 0 0\n";

    private static TcpActivity Activity(long inSegs) => new(1, 0, 0, 0, 0, 0, 0, 1, inSegs, 0, 0, 0, 0);

    private static SocketRecord TimeWait(ulong cookie, uint expiresMs)
    {
        var r = Row(TcpState.TimeWait, cookie);
        r.Timer = SocketTimer.TimeWait;
        r.TimerExpiresMs = expiresMs;
        return r;
    }

    private static SocketRecord Row(TcpState state, ulong cookie) => new() { State = state, Cookie = cookie, HasCookie = true, Family = SocketFamily.Inet };

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }
}
