using SockWatch.Core.Detection;

namespace SockWatch.Core.Tests.Detection;

public class SocketTrackerTests
{
    private readonly TestClock _clock = new();
    private readonly SocketTracker _tracker = new();

    [Fact]
    public void Age_in_state_grows_across_polls_and_first_seen_stays()
    {
        var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 7);
        var start = _clock.Now;
        var first = _tracker.Update(PollBuilder.Of(start, s));
        Assert.Equal(TimeSpan.Zero, first.AgeInState[0]);
        Assert.Equal(1, first.NewSockets);

        _clock.Advance(TimeSpan.FromSeconds(15));
        _tracker.Update(PollBuilder.Of(_clock.Now, s));
        _clock.Advance(TimeSpan.FromSeconds(15));
        var third = _tracker.Update(PollBuilder.Of(_clock.Now, s));

        Assert.Equal(TimeSpan.FromSeconds(30), third.AgeInState[0]);
        Assert.Equal(start, third.FirstSeen[0]);
        Assert.Equal(start, third.StateSince[0]);
        Assert.Equal(0, third.NewSockets);
    }

    [Fact]
    public void A_state_change_restarts_the_age_and_counts_the_transition()
    {
        var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 7);
        var start = _clock.Now;
        _tracker.Update(PollBuilder.Of(start, s));
        s.State = TcpState.FinWait1;
        var changedAt = _clock.Advance(TimeSpan.FromSeconds(15));
        var second = _tracker.Update(PollBuilder.Of(changedAt, s));
        s.State = TcpState.TimeWait; // fin_wait2 skipped between polls: still legal
        _clock.Advance(TimeSpan.FromSeconds(15));
        var third = _tracker.Update(PollBuilder.Of(_clock.Now, s));
        _clock.Advance(TimeSpan.FromSeconds(10));
        var fourth = _tracker.Update(PollBuilder.Of(_clock.Now, s));

        Assert.Equal(1, second.TransitionsObserved);
        Assert.Equal(TimeSpan.Zero, second.AgeInState[0]);
        Assert.Equal(start, fourth.FirstSeen[0]);
        Assert.Equal(TimeSpan.FromSeconds(10), fourth.AgeInState[0]);
        Assert.Equal(1, _tracker.Transitions[(TcpState.Established, TcpState.FinWait1)]);
        Assert.Equal(1, _tracker.Transitions[(TcpState.FinWait1, TcpState.TimeWait)]);
        Assert.Equal(2, _tracker.Transitions.Count);
        Assert.Empty(_tracker.Anomalies);
        Assert.Equal(0, third.AnomaliesObserved);
    }

    [Fact]
    public void Transitions_are_counted_cumulatively_over_sockets_and_polls()
    {
        for (ulong c = 1; c <= 3; c++)
        {
            var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: c);
            _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(1)), s));
            s.State = TcpState.CloseWait;
            _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(1)), s));
        }

        Assert.Equal(3, _tracker.Transitions[(TcpState.Established, TcpState.CloseWait)]);
    }

    [Fact]
    public void An_illegal_pair_is_counted_as_an_anomaly_with_its_last_example()
    {
        var a = Sock.Make(TcpState.CloseWait, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 0x2a);
        var b = Sock.Make(TcpState.CloseWait, "10.0.0.1:40001", "10.0.0.5:5432", cookie: 0x2b);
        _tracker.Update(PollBuilder.Of(_clock.Now, a, b));
        a.State = TcpState.Established;
        var firstAt = _clock.Advance(TimeSpan.FromSeconds(15));
        var r1 = _tracker.Update(PollBuilder.Of(firstAt, a, b));
        b.State = TcpState.Established;
        var lastAt = _clock.Advance(TimeSpan.FromSeconds(15));
        var r2 = _tracker.Update(PollBuilder.Of(lastAt, a, b));

        var pair = (TcpState.CloseWait, TcpState.Established);
        Assert.Equal(1, r1.AnomaliesObserved);
        Assert.Equal(2, _tracker.Anomalies[pair]);
        Assert.Equal(2, _tracker.Transitions[pair]);
        var example = _tracker.AnomalyExamples[pair];
        Assert.Equal("10.0.0.1:40001 -> 10.0.0.5:5432 cookie 0x2b", example.Socket);
        Assert.Equal(TcpState.CloseWait, example.From);
        Assert.Equal(TcpState.Established, example.To);
        Assert.Equal(lastAt, example.At);

        // The result holds a copy: later polls do not change what an earlier result said.
        Assert.Equal(1, r1.Anomalies[pair]);
        Assert.Equal(2, r2.Anomalies[pair]);
    }

    [Fact]
    public void Without_a_cookie_the_tuple_and_inode_identify_the_socket()
    {
        var a = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", inode: 100);
        _tracker.Update(PollBuilder.Of(_clock.Now, a));
        _clock.Advance(TimeSpan.FromMinutes(1));

        // Same tuple, new inode: a new connection, not the old one aged a minute.
        var reused = a;
        reused.Inode = 200;
        var sameTuple = a;
        var r = _tracker.Update(PollBuilder.Of(_clock.Now, sameTuple, reused));

        Assert.Equal(TimeSpan.FromMinutes(1), r.AgeInState[0]);
        Assert.Equal(TimeSpan.Zero, r.AgeInState[1]);
        Assert.Equal(1, r.NewSockets);
    }

    [Fact]
    public void Time_wait_sockets_without_inode_are_told_apart_by_their_tuple()
    {
        var a = Sock.Make(TcpState.TimeWait, "10.0.0.1:40000", "10.0.0.5:5432");
        var b = Sock.Make(TcpState.TimeWait, "10.0.0.1:40001", "10.0.0.5:5432");
        _tracker.Update(PollBuilder.Of(_clock.Now, a));
        _clock.Advance(TimeSpan.FromSeconds(20));
        var r = _tracker.Update(PollBuilder.Of(_clock.Now, a, b));

        Assert.Equal(2, _tracker.Count);
        Assert.Equal(TimeSpan.FromSeconds(20), r.AgeInState[0]);
        Assert.Equal(TimeSpan.Zero, r.AgeInState[1]);
    }

    [Fact]
    public void Sockets_missing_from_a_poll_are_dropped_so_memory_follows_the_poll()
    {
        const int PerPoll = 500;
        ulong next = 1;
        var live = new Queue<SocketRecord>();
        for (var poll = 0; poll < 200; poll++)
        {
            // Churn: a fifth of the sockets close and new ones open every poll; the poll size varies.
            var size = PerPoll + (poll % 7 * 13);
            while (live.Count > size * 4 / 5)
            {
                live.Dequeue();
            }

            while (live.Count < size)
            {
                var port = (int)(next % 28000) + 32768;
                live.Enqueue(Sock.Make(TcpState.Established, "10.0.0.1:" + port, "10.0.0.5:5432", cookie: next++));
            }

            var r = _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(1)), [.. live]));
            Assert.Equal(live.Count, _tracker.Count);
            if (poll > 0)
            {
                Assert.True(r.DroppedSockets > 0);
            }
        }

        var empty = _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(1))));
        Assert.Equal(0, _tracker.Count);
        Assert.Equal(live.Count, empty.DroppedSockets);
    }

    [Fact]
    public void A_socket_that_comes_back_after_missing_a_poll_is_new()
    {
        var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 9);
        _tracker.Update(PollBuilder.Of(_clock.Now, s));
        _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(15))));
        var back = _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(15)), s));

        Assert.Equal(1, back.NewSockets);
        Assert.Equal(_clock.Now, back.FirstSeen[0]);
    }

    [Fact]
    public void A_restarted_daemon_sees_a_close_wait_three_hours_old_from_tcp_info()
    {
        const uint ThreeHoursMs = 3 * 3600 * 1000;
        var s = Sock.Make(TcpState.CloseWait, "10.0.0.1:8080", "10.0.0.9:51000", cookie: 11, inode: 5, rx: 1, lastAckMs: ThreeHoursMs);
        var fresh = new SocketTracker();

        var r = fresh.Update(PollBuilder.Of(_clock.Now, s));
        Assert.Equal(TimeSpan.FromHours(3), r.AgeInState[0]);
        Assert.Equal(_clock.Now - TimeSpan.FromHours(3), r.StateSince[0]);
        Assert.Equal(_clock.Now, r.FirstSeen[0]);

        // The bound is kept: later polls add to it, whatever tcp_info says then.
        s.TcpInfo.LastAckReceivedMs = 1000;
        var later = fresh.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromMinutes(5)), s));
        Assert.Equal(TimeSpan.FromHours(3) + TimeSpan.FromMinutes(5), later.AgeInState[0]);
    }

    [Fact]
    public void A_close_wait_entry_the_tracer_saw_is_its_exact_age_even_when_a_chatty_peer_keeps_tcp_info_near_zero()
    {
        // tcp_info says 2 s (a keepalive came); the tracer saw the peer's FIN 40 minutes ago.
        var leaked = Sock.Make(TcpState.CloseWait, "10.0.0.1:8080", "10.0.0.9:51000", cookie: 11, inode: 5, lastAckMs: 2_000);
        var untraced = Sock.Make(TcpState.CloseWait, "10.0.0.1:8080", "10.0.0.9:51001", cookie: 12, inode: 6, lastAckMs: 2_000);
        var open = Sock.Make(TcpState.Established, "10.0.0.1:8080", "10.0.0.9:51002", cookie: 13, inode: 7);
        var entered = _clock.Now - TimeSpan.FromMinutes(40);
        var entries = new Dictionary<ulong, DateTimeOffset> { [11] = entered, [13] = entered, [12] = _clock.Now + TimeSpan.FromSeconds(1) };
        var fresh = new SocketTracker();

        var r = fresh.Update(PollBuilder.Of(_clock.Now, leaked, untraced, open) with { CloseWaitEntries = entries });
        Assert.Equal(TimeSpan.FromMinutes(40), r.AgeInState[0]);
        Assert.Equal(TimeSpan.FromSeconds(2), r.AgeInState[1]); // an entry after the poll is no entry: the bound stands
        Assert.Equal(TimeSpan.Zero, r.AgeInState[2]);           // only close_wait sockets take it

        // Without the entry next time (the tracer stopped), the exact time is kept and grows.
        var later = fresh.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromMinutes(1)), leaked, untraced, open));
        Assert.Equal(TimeSpan.FromMinutes(41), later.AgeInState[0]);
    }

    [Theory]
    [InlineData(TcpState.CloseWait, 60_000u, 30_000u, 30)]      // the smaller field is the bound
    [InlineData(TcpState.CloseWait, 60_000u, TcpInfoSummary.Absent, 60)]
    [InlineData(TcpState.FinWait2, TcpInfoSummary.Absent, 45_000u, 45)]
    [InlineData(TcpState.FinWait2, 0u, 45_000u, 0)]
    [InlineData(TcpState.CloseWait, TcpInfoSummary.Absent, TcpInfoSummary.Absent, 0)]
    [InlineData(TcpState.Established, 60_000u, 60_000u, 0)]     // no bound outside close_wait and fin_wait2
    [InlineData(TcpState.LastAck, 60_000u, 60_000u, 0)]
    public void The_kernel_bound_applies_to_close_wait_and_fin_wait2_only(TcpState state, uint ack, uint data, int expectedSeconds)
    {
        var s = Sock.Make(state, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1, lastAckMs: ack, lastDataMs: data);
        var r = _tracker.Update(PollBuilder.Of(_clock.Now, s));
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), r.AgeInState[0]);
    }

    [Fact]
    public void Without_tcp_info_a_close_wait_starts_at_zero()
    {
        var s = Sock.Make(TcpState.CloseWait, "10.0.0.1:40000", "10.0.0.5:5432", inode: 3);
        var r = _tracker.Update(PollBuilder.Of(_clock.Now, s));
        Assert.Equal(TimeSpan.Zero, r.AgeInState[0]);
    }

    [Fact]
    public void A_transition_into_close_wait_uses_the_kernel_bound_capped_by_the_interval()
    {
        var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1);
        _tracker.Update(PollBuilder.Of(_clock.Now, s));

        s.State = TcpState.CloseWait;
        s.TcpInfo = Sock.Make(TcpState.CloseWait, "10.0.0.1:1", lastAckMs: 10_000).TcpInfo;
        var r = _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(15)), s));
        Assert.Equal(TimeSpan.FromSeconds(10), r.AgeInState[0]);

        // A bound longer than the interval cannot be right (it was established 15 s ago): capped.
        var t = Sock.Make(TcpState.Established, "10.0.0.1:40001", "10.0.0.5:5432", cookie: 2);
        _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(15)), s, t));
        t.State = TcpState.CloseWait;
        t.TcpInfo = Sock.Make(TcpState.CloseWait, "10.0.0.1:1", lastAckMs: 3_600_000).TcpInfo;
        var capped = _tracker.Update(PollBuilder.Of(_clock.Advance(TimeSpan.FromSeconds(15)), s, t));
        Assert.Equal(TimeSpan.FromSeconds(15), capped.AgeInState[1]);
    }

    [Fact]
    public void A_clock_stepping_back_gives_zero_not_a_negative_age()
    {
        var s = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1);
        _tracker.Update(PollBuilder.Of(_clock.Now, s));
        var r = _tracker.Update(PollBuilder.Of(_clock.Now - TimeSpan.FromMinutes(1), s));
        Assert.Equal(TimeSpan.Zero, r.AgeInState[0]);
    }

    [Fact]
    public void The_same_key_twice_in_one_poll_is_one_socket_and_no_transition()
    {
        var a = Sock.Make(TcpState.Established, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1);
        var b = a;
        b.State = TcpState.CloseWait;
        var r = _tracker.Update(PollBuilder.Of(_clock.Now, a, b));

        Assert.Equal(1, _tracker.Count);
        Assert.Equal(0, r.TransitionsObserved);
        Assert.Equal(1, r.NewSockets);
        Assert.Equal(2, r.AgeInState.Count);
    }
}
