using SockWatch.Core.Detection;

namespace SockWatch.Core.Tests.Detection;

public class DetectorsTests
{
    private static readonly SocketOwner Api = Owners.Make(812, "api", "api.service");
    private static readonly SocketOwner ApiWorker = Owners.Make(813, "api", "api.service");
    private static readonly SocketOwner Batch = Owners.Make(900, "batch", null);

    private readonly TestClock _clock = new();
    private readonly SocketTracker _tracker = new();
    private Detectors _detectors = new();
    private ulong _cookie;

    private IReadOnlyList<Finding> Run(PollBuilder b)
    {
        var poll = b.Build(_clock.Now);
        return _detectors.Evaluate(poll, _tracker.Update(poll));
    }

    /// <summary>A close_wait that tcp_info says has been in its state for <paramref name="age"/>.</summary>
    private SocketRecord CloseWait(TimeSpan age, uint rx = 1, int port = 0) =>
        Sock.Make(TcpState.CloseWait, "10.0.0.1:8080", "10.0.0.9:" + (port == 0 ? 40000 + (int)(_cookie % 20000) : port),
            cookie: ++_cookie, inode: _cookie, rx: rx, lastAckMs: (uint)age.TotalMilliseconds);

    // ---- close_wait leak ----

    [Theory]
    [InlineData(119, false)]
    [InlineData(120, false)] // "older than" two minutes
    [InlineData(121, true)]
    public void A_close_wait_is_a_leak_only_past_the_threshold(int seconds, bool expected)
    {
        var findings = Run(new PollBuilder().Add(CloseWait(TimeSpan.FromSeconds(seconds)), Api));
        Assert.Equal(expected, findings.Any(f => f.Kind == FindingKind.CloseWaitLeak));
    }

    [Fact]
    public void The_leak_explanation_places_it_on_the_close_and_carries_the_numbers()
    {
        var b = new PollBuilder().Descriptors(812, 812, 1024);
        for (var i = 0; i < 255; i++)
        {
            b.Add(CloseWait(TimeSpan.FromMinutes(10), rx: 16 * 1024 + 1), Api);
        }

        b.Add(CloseWait(TimeSpan.FromMinutes(47) + TimeSpan.FromSeconds(20), rx: 16 * 1024 + 1), Api);

        var f = Assert.Single(Run(b));
        Assert.Equal(FindingKind.CloseWaitLeak, f.Kind);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Same(Api, f.Owner);
        Assert.Equal("api (api.service)", f.Subject);
        Assert.Equal(256, f.Count);
        Assert.Equal(TimeSpan.FromMinutes(47) + TimeSpan.FromSeconds(20), f.OldestAge);
        Assert.Equal(
            "the peer closed at least 47 min ago (wave 1) and the kernel acknowledged it (wave 2); process api (pid 812, unit api.service) has not called close(), so wave 3 was never sent: 256 sockets, 4 MiB unread, 812 of 1024 descriptors in use",
            f.Explanation);
        Assert.Equal(4 * 1024 * 1024, f.Values[FindingValues.UnreadBytes]);
        Assert.Equal(812, f.Values[FindingValues.OpenDescriptors]);
        Assert.Equal(1024, f.Values[FindingValues.DescriptorLimit]);
        Assert.Equal(0, f.Values[FindingValues.Growth]);
    }

    [Fact]
    public void A_leak_is_critical_near_the_descriptor_limit()
    {
        var below = Run(new PollBuilder().Descriptors(812, 921, 1024).Add(CloseWait(TimeSpan.FromHours(1)), Api));
        Assert.Equal(FindingSeverity.Warning, Assert.Single(below).Severity);

        var at = Run(new PollBuilder().Descriptors(812, 922, 1024).Add(CloseWait(TimeSpan.FromHours(1)), Api));
        Assert.Equal(FindingSeverity.Critical, Assert.Single(at).Severity);
    }

    [Fact]
    public void A_leak_of_a_thousand_sockets_is_critical_by_number_alone()
    {
        var b = new PollBuilder();
        for (var i = 0; i < 999; i++)
        {
            b.Add(CloseWait(TimeSpan.FromHours(1)), Api);
        }

        Assert.Equal(FindingSeverity.Warning, Assert.Single(Run(b)).Severity);
        b.Add(CloseWait(TimeSpan.FromHours(1)), Api);
        var f = Assert.Single(Run(b));
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Contains("1000 sockets", f.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Leaks_are_grouped_by_unit_and_process_with_unowned_sockets_as_one_group()
    {
        var b = new PollBuilder()
            .Add(CloseWait(TimeSpan.FromMinutes(5)), Api)
            .Add(CloseWait(TimeSpan.FromMinutes(5)), ApiWorker)
            .Add(CloseWait(TimeSpan.FromMinutes(5)), ApiWorker)
            .Add(CloseWait(TimeSpan.FromMinutes(5)), Batch)
            .Add(CloseWait(TimeSpan.FromMinutes(5)))
            .Add(CloseWait(TimeSpan.FromMinutes(9)));

        var findings = Run(b);

        Assert.Equal(["api (api.service)", "batch", "unowned"], findings.Select(f => f.Subject));
        var api = findings[0];
        Assert.Equal(3, api.Count);
        Assert.Same(ApiWorker, api.Owner); // the process holding most of the group's sockets
        Assert.Equal(2, api.Values[FindingValues.Processes]);
        Assert.Contains("process api (pid 813 and 1 more, unit api.service)", api.Explanation, StringComparison.Ordinal);
        Assert.Contains("process batch (pid 900)", findings[1].Explanation, StringComparison.Ordinal);
        var unowned = findings[2];
        Assert.Null(unowned.Owner);
        Assert.Equal(2, unowned.Count);
        Assert.Equal(TimeSpan.FromMinutes(9), unowned.OldestAge);
        Assert.Contains("an unknown process", unowned.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Growth_is_the_count_now_minus_the_count_a_window_ago()
    {
        var b = new PollBuilder();
        IReadOnlyList<Finding> findings = [];
        for (var poll = 0; poll < 15; poll++)
        {
            for (var i = 0; i < 10; i++)
            {
                b.Add(CloseWait(TimeSpan.FromMinutes(3)), Api);
            }

            findings = Run(b);
            var f = Assert.Single(findings);
            Assert.Equal(Math.Min(poll, 10) * 10, f.Values[FindingValues.Growth]);
            _clock.Advance(TimeSpan.FromSeconds(15));
        }

        Assert.Contains("150 sockets", findings[0].Explanation, StringComparison.Ordinal);
        Assert.Contains("100 more than 10 polls ago", findings[0].Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void An_owner_that_stops_leaking_starts_its_growth_afresh()
    {
        var leak = CloseWait(TimeSpan.FromMinutes(3));
        Run(new PollBuilder().Add(leak, Api));
        _clock.Advance(TimeSpan.FromSeconds(15));
        Run(new PollBuilder());
        _clock.Advance(TimeSpan.FromSeconds(15));
        var b = new PollBuilder();
        for (var i = 0; i < 5; i++)
        {
            b.Add(CloseWait(TimeSpan.FromMinutes(3)), Api);
        }

        Assert.Equal(0, Assert.Single(Run(b)).Values[FindingValues.Growth]);
    }

    [Fact]
    public void Healthy_input_gives_no_finding()
    {
        var facts = new NamespaceFacts
        {
            EphemeralPorts = new PortRange(32768, 60999),
            MaxTimeWaitBuckets = 262144,
            FinTimeoutSeconds = 60,
            Counters = new Dictionary<string, long> { ["TCPTimeWaitOverflow"] = 0, ["ListenOverflows"] = 3, ["ListenDrops"] = 3 },
        };
        for (var poll = 0; poll < 20; poll++)
        {
            var b = new PollBuilder { Facts = facts }
                .Add(Sock.Make(TcpState.Listen, "0.0.0.0:8080", cookie: 1, inode: 1, rx: 3, tx: 4096), Api);

            // A close_wait that lives 30 s, as a request finishing after the peer hung up.
            var shortLived = Sock.Make(TcpState.CloseWait, "10.0.0.1:8080", "10.0.0.9:50000", cookie: 1000 + (ulong)(poll / 2), inode: 5, rx: 1);
            b.Add(shortLived, Api);

            // Steady time_wait toward a database, far below the range and the bucket limit.
            for (var i = 0; i < 200; i++)
            {
                b.Add(Sock.Make(TcpState.TimeWait, "10.0.0.1:" + (33000 + i + (poll * 200 % 20000)), "10.0.0.5:5432", cookie: 5000 + (ulong)(poll * 200 + i)));
            }

            Assert.Empty(Run(b));
            _clock.Advance(TimeSpan.FromSeconds(15));
        }
    }

    // ---- ephemeral ports ----

    private static NamespaceFacts HundredPorts(params PortRange[] reserved) =>
        new() { EphemeralPorts = new PortRange(32768, 32867), ReservedPorts = reserved };

    private PollBuilder ClientConnections(int count, int timeWait, NamespaceFacts facts)
    {
        var b = new PollBuilder { Facts = facts };
        for (var i = 0; i < count; i++)
        {
            var state = i < timeWait ? TcpState.TimeWait : TcpState.Established;
            b.Add(Sock.Make(state, "10.0.0.1:" + (32768 + i), "10.0.0.5:5432", cookie: ++_cookie, inode: state == TcpState.TimeWait ? 0 : _cookie),
                state == TcpState.TimeWait ? null : Batch);
        }

        return b;
    }

    [Fact]
    public void Ports_to_one_destination_over_the_ratio_are_a_finding_with_the_time_wait_share()
    {
        var f = Assert.Single(Run(ClientConnections(80, 60, HundredPorts())));
        Assert.Equal(FindingKind.EphemeralPortPressure, f.Kind);
        Assert.Equal(FindingSeverity.Warning, f.Severity);
        Assert.Equal("10.0.0.1 -> 10.0.0.5:5432", f.Subject);
        Assert.Equal(80, f.Count);
        Assert.Same(Batch, f.Owner);
        Assert.Equal(0.8, f.Values[FindingValues.Utilization], 6);
        Assert.Equal(80, f.Values[FindingValues.PortsInUse]);
        Assert.Equal(100, f.Values[FindingValues.PortsAvailable]);
        Assert.Equal(60, f.Values[FindingValues.TimeWait]);
        Assert.Contains("hold 80 of 100 usable ephemeral ports (80%), 60 of them in time_wait", f.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Ports_just_below_the_ratio_are_no_finding() =>
        Assert.Empty(Run(ClientConnections(79, 60, HundredPorts())));

    [Fact]
    public void Ports_near_exhaustion_are_critical() =>
        Assert.Equal(FindingSeverity.Critical, Assert.Single(Run(ClientConnections(95, 0, HundredPorts()))).Severity);

    [Fact]
    public void Reserved_ports_shrink_the_usable_range()
    {
        // 72 of 90 usable = 0.8; reserved ports themselves are never counted as client ports.
        var facts = HundredPorts(new PortRange(32858, 32867));
        var f = Assert.Single(Run(ClientConnections(72, 0, facts)));
        Assert.Equal(90, f.Values[FindingValues.PortsAvailable]);
    }

    [Fact]
    public void Sockets_on_a_listeners_port_are_server_side_and_not_counted()
    {
        var b = ClientConnections(79, 0, HundredPorts());
        b.Add(Sock.Make(TcpState.Listen, "0.0.0.0:32850", cookie: ++_cookie, inode: 1));
        b.Add(Sock.Make(TcpState.Established, "10.0.0.1:32850", "10.0.0.5:5432", cookie: ++_cookie, inode: 2));
        Assert.Empty(Run(b));
    }

    [Fact]
    public void Without_a_known_port_range_there_is_no_port_finding() =>
        Assert.Empty(Run(ClientConnections(100, 0, new NamespaceFacts())));

    // ---- time_wait buckets and overflow ----

    [Theory]
    [InlineData(799, null)]
    [InlineData(800, FindingSeverity.Warning)]
    [InlineData(1000, FindingSeverity.Critical)]
    public void Time_wait_against_the_bucket_limit(int timeWait, FindingSeverity? expected)
    {
        var b = new PollBuilder { Facts = new NamespaceFacts { MaxTimeWaitBuckets = 1000 } };
        for (var i = 0; i < timeWait; i++)
        {
            b.Add(Sock.Make(TcpState.TimeWait, "10.0.0.1:" + (1024 + i), "10.0.0.5:80", cookie: ++_cookie));
        }

        var findings = Run(b);
        if (expected is null)
        {
            Assert.Empty(findings);
            return;
        }

        var f = Assert.Single(findings);
        Assert.Equal(FindingKind.TimeWaitBucketPressure, f.Kind);
        Assert.Equal(expected, f.Severity);
        Assert.Contains(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{timeWait} sockets are in time_wait"),
            f.Explanation, StringComparison.Ordinal);
        Assert.Contains("tcp_max_tw_buckets (1000)", f.Explanation, StringComparison.Ordinal);
    }

    private static PollBuilder WithCounters(long timeWaitOverflow, long listenOverflows = 0, long listenDrops = 0) => new()
    {
        Facts = new NamespaceFacts
        {
            Counters = new Dictionary<string, long>
            {
                ["TCPTimeWaitOverflow"] = timeWaitOverflow,
                ["ListenOverflows"] = listenOverflows,
                ["ListenDrops"] = listenDrops,
            },
        },
    };

    [Fact]
    public void A_rising_time_wait_overflow_counter_is_critical_and_a_steady_or_reset_one_is_not()
    {
        Assert.Empty(Run(WithCounters(5))); // first poll: nothing to compare with
        Assert.Empty(Run(WithCounters(5)));

        var f = Assert.Single(Run(WithCounters(12)));
        Assert.Equal(FindingKind.TimeWaitOverflow, f.Kind);
        Assert.Equal(FindingSeverity.Critical, f.Severity);
        Assert.Equal(7, f.Count);
        Assert.Contains("dropped 7 time_wait sockets early", f.Explanation, StringComparison.Ordinal);
        Assert.Contains("12 in all", f.Explanation, StringComparison.Ordinal);

        Assert.Empty(Run(WithCounters(0)));
    }

    // ---- accept queue and listen overflow ----

    [Theory]
    [InlineData(79u, 100u, null)]
    [InlineData(80u, 100u, FindingSeverity.Warning)]
    [InlineData(101u, 100u, FindingSeverity.Critical)]
    [InlineData(500u, 0u, null)] // from /proc: the backlog is unknown
    public void Accept_queue_against_the_backlog(uint queued, uint backlog, FindingSeverity? expected)
    {
        var findings = Run(new PollBuilder().Add(Sock.Make(TcpState.Listen, "0.0.0.0:8080", cookie: 1, inode: 1, rx: queued, tx: backlog), Api));
        if (expected is null)
        {
            Assert.Empty(findings);
            return;
        }

        var f = Assert.Single(findings);
        Assert.Equal(FindingKind.AcceptQueueFull, f.Kind);
        Assert.Equal(expected, f.Severity);
        Assert.Equal("0.0.0.0:8080", f.Subject);
        Assert.Same(Api, f.Owner);
        Assert.Equal((int)queued, f.Count);
        Assert.Contains(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{queued} connections finished the handshake (step 3) and wait in the accept queue of 0.0.0.0:8080"),
            f.Explanation, StringComparison.Ordinal);
        Assert.Contains("backlog of 100", f.Explanation, StringComparison.Ordinal);
        Assert.Contains("process api (pid 812, unit api.service)", f.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Rising_listen_overflows_or_drops_are_a_finding()
    {
        Run(WithCounters(0, 10, 10));
        Assert.Empty(Run(WithCounters(0, 10, 10)));
        var f = Assert.Single(Run(WithCounters(0, 14, 16)));
        Assert.Equal(FindingKind.ListenOverflow, f.Kind);
        Assert.Equal(6, f.Count);
        Assert.Equal(4, f.Values[FindingValues.ListenOverflows]);
        Assert.Equal(6, f.Values[FindingValues.ListenDrops]);
        Assert.Contains("ListenOverflows +4, ListenDrops +6", f.Explanation, StringComparison.Ordinal);
    }

    // ---- stuck closes ----

    private IReadOnlyList<Finding> AfterWaiting(SocketRecord socket, SocketOwner? owner, TimeSpan wait, NamespaceFacts? facts = null)
    {
        Run(new PollBuilder { Facts = facts ?? new() }.Add(socket, owner));
        _clock.Advance(wait);
        return Run(new PollBuilder { Facts = facts ?? new() }.Add(socket, owner));
    }

    [Theory]
    [InlineData(59, 7ul, 60, false)]
    [InlineData(61, 7ul, 60, true)]
    [InlineData(61, 0ul, 60, false)]   // an orphan: the kernel's fin timeout takes care of it
    [InlineData(3600, 7ul, null, false)] // tcp_fin_timeout unknown
    public void Fin_wait2_held_by_an_application_past_the_fin_timeout(int seconds, ulong inode, int? finTimeout, bool expected)
    {
        var s = Sock.Make(TcpState.FinWait2, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1, inode: inode);
        var findings = AfterWaiting(s, Api, TimeSpan.FromSeconds(seconds), new NamespaceFacts { FinTimeoutSeconds = finTimeout });
        Assert.Equal(expected, findings.Any(f => f.Kind == FindingKind.FinWait2Stuck));
        if (expected)
        {
            var f = Assert.Single(findings);
            Assert.Same(Api, f.Owner);
            Assert.Contains("for at least 1 min, longer than tcp_fin_timeout (60 s)", f.Explanation, StringComparison.Ordinal);
            Assert.Contains("still holds 1 half-closed socket", f.Explanation, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(59, false)]
    [InlineData(61, true)]
    public void Last_ack_past_its_threshold(int seconds, bool expected)
    {
        var s = Sock.Make(TcpState.LastAck, "10.0.0.1:8080", "10.0.0.9:50000", cookie: 1);
        var findings = AfterWaiting(s, null, TimeSpan.FromSeconds(seconds));
        Assert.Equal(expected, findings.Any(f => f.Kind == FindingKind.LastAckStuck));
        if (expected)
        {
            var f = Assert.Single(findings);
            Assert.Equal("unowned", f.Subject);
            Assert.Equal(TimeSpan.FromSeconds(61), f.OldestAge);
            Assert.Contains("final ACK (wave 4) has not come for at least 1 min: 1 socket", f.Explanation, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(2u, false)]
    [InlineData(3u, true)]
    public void Syn_sent_retransmitting_past_the_limit(uint retransmits, bool expected)
    {
        var b = new PollBuilder()
            .Add(Sock.Make(TcpState.SynSent, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 1, inode: 1, retransmits: retransmits), Batch)
            .Add(Sock.Make(TcpState.SynSent, "10.0.0.1:40001", "10.0.0.5:5432", cookie: 2, inode: 2, retransmits: 1), Batch);
        var findings = Run(b);
        Assert.Equal(expected, findings.Any(f => f.Kind == FindingKind.SynSentRetrying));
        if (expected)
        {
            var f = Assert.Single(findings);
            Assert.Equal(1, f.Count);
            Assert.Equal(3, f.Values[FindingValues.MaxRetransmits]);
            Assert.Contains("retransmitted up to 3 times without a SYN+ACK (step 2): 1 connection of process batch (pid 900)", f.Explanation, StringComparison.Ordinal);
        }
    }

    // ---- order and options ----

    [Fact]
    public void Findings_are_ordered_by_severity_then_kind_then_subject()
    {
        var b = new PollBuilder { Facts = new NamespaceFacts { MaxTimeWaitBuckets = 1 } }
            .Add(Sock.Make(TcpState.SynSent, "10.0.0.1:40000", "10.0.0.5:5432", cookie: 101, retransmits: 5), Batch)
            .Add(CloseWait(TimeSpan.FromHours(1)), Batch)
            .Add(CloseWait(TimeSpan.FromHours(1)), Api)
            .Add(Sock.Make(TcpState.Listen, "0.0.0.0:8080", cookie: 103, rx: 10, tx: 10), Api)
            .Add(Sock.Make(TcpState.TimeWait, "10.0.0.1:40001", "10.0.0.5:5432", cookie: 104));

        var order = Run(b).Select(f => (f.Severity, f.Kind, f.Subject)).ToArray();

        Assert.Equal(
            [
                (FindingSeverity.Critical, FindingKind.TimeWaitBucketPressure, "net.ipv4.tcp_max_tw_buckets"),
                (FindingSeverity.Critical, FindingKind.AcceptQueueFull, "0.0.0.0:8080"),
                (FindingSeverity.Warning, FindingKind.CloseWaitLeak, "api (api.service)"),
                (FindingSeverity.Warning, FindingKind.CloseWaitLeak, "batch"),
                (FindingSeverity.Warning, FindingKind.SynSentRetrying, "batch"),
            ],
            order);
    }

    [Fact]
    public void Options_move_the_thresholds()
    {
        _detectors = new Detectors(new DetectorOptions { CloseWaitLeakAfter = TimeSpan.FromSeconds(10) });
        Assert.Single(Run(new PollBuilder().Add(CloseWait(TimeSpan.FromSeconds(11)), Api)));
    }

    [Fact]
    public void A_track_result_of_another_poll_is_refused()
    {
        var poll = new PollBuilder().Add(CloseWait(TimeSpan.FromHours(1))).Build(_clock.Now);
        var other = _tracker.Update(new PollBuilder().Build(_clock.Now));
        Assert.Throws<ArgumentException>(() => _detectors.Evaluate(poll, other));
    }
}
