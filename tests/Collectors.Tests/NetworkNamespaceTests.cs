using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>Finding, naming, selecting and entering network namespaces.</summary>
public sealed class NetworkNamespaceTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sockwatch-ns-").FullName;

    [Theory]
    [InlineData("*", "host", true)]
    [InlineData("pod-*", "pod-1234", true)]
    [InlineData("pod-*", "docker-abc", false)]
    [InlineData("swtest-?", "swtest-1", true)]
    [InlineData("swtest-?", "swtest-12", false)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("host", "host", true)]
    public void Globs_match_names(string pattern, string name, bool matches) => Assert.Equal(matches, NamespaceSelection.Glob(pattern, name));

    [Fact]
    public void Selections_include_and_exclude_by_name()
    {
        var host = new NetworkNamespace(1, "host", null, true);
        var pod = new NetworkNamespace(2, "pod-abc", "/proc/7/ns/net", false);
        var ci = new NetworkNamespace(3, "ci-runner", "/run/netns/ci-runner", false);

        Assert.True(NamespaceSelection.Self.Includes(host));
        Assert.False(NamespaceSelection.Self.Includes(pod));
        Assert.True(NamespaceSelection.All.Includes(ci));

        var some = NamespaceSelection.TryParse("all", "ci-*", out _)!;
        Assert.True(some.Includes(pod));
        Assert.False(some.Includes(ci));

        var named = NamespaceSelection.TryParse("self, pod-*", null, out _)!;
        Assert.True(named.Includes(host));
        Assert.True(named.Includes(pod));
        Assert.False(named.Includes(ci));
    }

    [Theory]
    [InlineData("", null, "empty")]
    [InlineData("self", "x", "nothing to exclude")]
    [InlineData("a b", null, "not a namespace name")]
    [InlineData("../x", null, "not a namespace name")]
    public void Bad_selections_say_why(string value, string? exclude, string reason)
    {
        Assert.Null(NamespaceSelection.TryParse(value, exclude, out var why));
        Assert.Contains(reason, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Namespaces_are_named_by_run_netns_then_host_then_pod_or_container_then_inode()
    {
        // A proc tree of plain files standing for ns links: stat gives each its own inode.
        // pid 1 and pid 2 share a namespace (a hard link); pid 3 is in a pod, pid 4 in a
        // container, pid 5 in a namespace with no name, pid 6 in one named under /run/netns.
        Process(1, "0::/init.scope\n");
        Process(3, "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b3c4d_0000_1111_2222_333344445555.slice/cri-containerd-aaaa.scope\n");
        Process(4, "0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n");
        Process(5, "0::/user.slice\n");
        Process(6, "0::/user.slice\n");
        Directory.CreateDirectory(Path.Combine(_root, "2", "ns"));
        File.CreateSymbolicLink(Path.Combine(_root, "2", "ns", "net"), Path.Combine(_root, "1", "ns", "net"));
        var run = Directory.CreateDirectory(Path.Combine(_root, "run-netns")).FullName;
        File.CreateSymbolicLink(Path.Combine(run, "blue"), Path.Combine(_root, "6", "ns", "net"));
        Directory.CreateDirectory(Path.Combine(_root, "self", "ns"));
        File.CreateSymbolicLink(Path.Combine(_root, "self", "ns", "net"), Path.Combine(_root, "1", "ns", "net"));

        var found = NamespaceDiscovery.Discover(_root, run);
        var inode5 = NamespaceDiscovery.InodeOf(Path.Combine(_root, "5", "ns", "net"));
        Assert.Equal(
            ["host", "blue", "docker-0123456789ab", $"netns-{inode5}", "pod-1a2b3c4d-0000-1111-2222-333344445555"],
            found.Select(n => n.Name));
        Assert.True(found[0].IsSelf);
        Assert.Null(found[0].Path);
        Assert.Equal(Path.Combine(run, "blue"), found.Single(n => n.Name == "blue").Path);
        Assert.All(found.Skip(1), n => Assert.False(n.IsSelf));
    }

    [Fact]
    public void A_tree_without_ns_links_is_one_namespace_called_self()
    {
        var only = Assert.Single(NamespaceDiscovery.Discover(Repo.Fixture("proc-owners"), Path.Combine(_root, "none")));
        Assert.Equal(new NetworkNamespace(0, "self", null, true), only);
    }

    [Fact]
    public void A_namespace_whose_file_is_gone_or_names_another_has_vanished()
    {
        Assert.Equal(EntryFailure.Vanished, NamespaceEntry.Enter(new NetworkNamespace(42, "gone", Path.Combine(_root, "no-such-file"), false)));
        var file = Path.Combine(_root, "not-a-namespace");
        File.WriteAllText(file, "");
        Assert.Equal(EntryFailure.Vanished, NamespaceEntry.Enter(new NetworkNamespace(42, "reused", file, false))); // another inode: a reused pid
    }

    [RootFact]
    public void Every_namespace_is_collected_under_its_name_and_one_deleted_after_discovery_is_skipped()
    {
        using var red = new TestNamespace();
        using var green = new TestNamespace();
        var doomed = new TestNamespace();
        using var keepRed = red.Inside(() => ListenerWithClients(2));
        using var keepGreen = green.Inside(() => ListenerWithClients(1));

        var names = new[] { red.Name, green.Name, doomed.Name };
        var discovered = NamespaceDiscovery.Discover().Where(n => names.Contains(n.Name)).ToList();
        Assert.Equal(3, discovered.Count);
        doomed.Dispose(); // `ip netns del`: gone between discovery and collection

        using var collector = new NamespaceCollector(
            NamespaceSelection.TryParse(string.Join(',', names), null, out _)!, CollectorKind.Netlink, "/proc", NullLogger.Instance, () => discovered);
        var table = new SocketTable();
        var result = collector.Collect(table, CollectRequest.All, readFacts: true);

        Assert.Equal(1, result.Vanished);
        Assert.Empty(result.Failed);
        var expected = new List<string> { red.Name, green.Name };
        expected.Sort(StringComparer.Ordinal);
        var actual = result.Segments.Select(s => s.Namespace.Name).ToList();
        actual.Sort(StringComparer.Ordinal);
        Assert.Equal(expected, actual);
        var redPart = result.Segments.Single(s => s.Namespace.Name == red.Name);
        var greenPart = result.Segments.Single(s => s.Namespace.Name == green.Name);
        Assert.Equal(5, redPart.Count); // a listener, two clients and their two accepted ends
        Assert.Equal(3, greenPart.Count);
        Assert.Equal(8, table.Count);
        Assert.NotNull(redPart.Facts.EphemeralPorts); // the namespace's own sysctls were read inside it
        Assert.All(table.Records.ToArray(), r => Assert.Equal("127.0.0.1", r.LocalAddress.Format(r.Family)));
    }

    [RootFact]
    public void A_namespace_whose_counters_show_no_socket_is_not_dumped_and_one_that_gains_a_listener_is()
    {
        using var quiet = new TestNamespace();
        var discovered = NamespaceDiscovery.Discover().Where(n => n.Name == quiet.Name).ToList();
        using var collector = new NamespaceCollector(
            NamespaceSelection.TryParse(quiet.Name, null, out _)!, CollectorKind.Netlink, "/proc", NullLogger.Instance, () => discovered);
        var table = new SocketTable();

        var empty = collector.Collect(table, CollectRequest.All, readFacts: false).Segments.Single();
        Assert.Equal(0, empty.Count);
        Assert.Equal(0, empty.Stats.Reads); // not a datagram read: sockstat said there was nothing

        using var keep = quiet.Inside(() => ListenerWithClients(0));
        var busy = collector.Collect(table, CollectRequest.All, readFacts: false).Segments.Single();
        Assert.Equal(1, busy.Count);
        Assert.True(busy.Stats.Reads > 0);
        Assert.Equal(TcpState.Listen, table.Records[0].State);
    }

    [RootFact]
    public void A_quiet_namespace_is_carried_with_its_listeners_read_afresh_and_a_segment_or_the_interval_makes_it_dumped()
    {
        using var ns = new TestNamespace();
        var discovered = NamespaceDiscovery.Discover().Where(n => n.Name == ns.Name).ToList();
        var clock = new ManualClock();
        using var collector = new NamespaceCollector(
            NamespaceSelection.TryParse(ns.Name, null, out _)!, CollectorKind.Netlink, "/proc", NullLogger.Instance, () => discovered)
        {
            RedumpAfter = TimeSpan.FromMinutes(10),
            Time = clock,
        };
        var request = new CollectRequest { TcpInfoStateMask = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]) };
        var table = new SocketTable();
        NamespaceSegment Poll() => collector.Collect(table, request, readFacts: false).Segments.Single();

        // A listener with one connection accepted and one waiting in its accept queue.
        using var sockets = ns.Inside(() =>
        {
            var keep = ListenerWithClients(1);
            var waiting = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            keep.Add(waiting);
            waiting.Connect(keep[0].LocalEndPoint!);
            return keep;
        });
        var first = PollUntilQuiet(Poll, NamespaceRead.Dumped);
        Assert.Equal(5, first.Count); // the listener, two clients, the accepted end and the one in the queue
        var dumped = Rows(table, first);
        Assert.Equal(1u, Listener(table, first).RxQueue);

        var carried = Poll();
        Assert.Equal(NamespaceRead.Carried, carried.Read);
        Assert.Equal(dumped, Rows(table, carried));

        // accept() sends nothing: the counters stay still, and the listener, read afresh, shows its empty queue.
        sockets.Add(ns.Inside(() => sockets[0].Accept()));
        var accepted = Poll();
        Assert.Equal(NamespaceRead.Carried, accepted.Read);
        Assert.Equal(0u, Listener(table, accepted).RxQueue);
        Assert.Equal(5, accepted.Count);

        // One byte sent: segments moved, so the namespace is dumped and the byte shows waiting.
        ns.Inside(() => sockets[1].Send([42]));
        var afterSend = Poll();
        Assert.Equal(NamespaceRead.Dumped, afterSend.Read);
        Assert.Contains(table.Records.Slice(afterSend.Start, afterSend.Count).ToArray(), r => r.State == TcpState.Established && r.RxQueue == 1);

        // Quiet again, then the redump interval runs out: dumped though nothing moved.
        PollUntilQuiet(Poll, NamespaceRead.Carried);
        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(NamespaceRead.Dumped, Poll().Read);
        Assert.Equal(NamespaceRead.Carried, Poll().Read);

        // The peer closes: its FIN is a segment, and the accepted end shows in close_wait at once.
        ns.Inside(() =>
        {
            sockets[1].Close();
            return 0;
        });
        var closed = Poll();
        Assert.Equal(NamespaceRead.Dumped, closed.Read);
        Assert.Contains(table.Records.Slice(closed.Start, closed.Count).ToArray(), r => r.State == TcpState.CloseWait);
    }

    [RootFact]
    public void A_minisocket_that_ends_on_its_timer_is_dropped_and_the_namespace_still_carried()
    {
        using var ns = new TestNamespace();
        TestNamespace.Ip("netns", "exec", ns.Name, "sysctl", "-qw", "net.ipv4.tcp_fin_timeout=1");
        var discovered = NamespaceDiscovery.Discover().Where(n => n.Name == ns.Name).ToList();
        using var collector = new NamespaceCollector(
            NamespaceSelection.TryParse(ns.Name, null, out _)!, CollectorKind.Netlink, "/proc", NullLogger.Instance, () => discovered)
        {
            RedumpAfter = TimeSpan.FromMinutes(10),
        };
        var table = new SocketTable();
        NamespaceSegment Poll() => collector.Collect(table, CollectRequest.All, readFacts: false).Segments.Single();
        SocketRecord[] Rows(NamespaceSegment segment) => table.Records.Slice(segment.Start, segment.Count).ToArray();

        // The client sends its FIN and the server keeps its end (close_wait). Closed in
        // fin_wait2, the client's end becomes a minisocket that ends after tcp_fin_timeout,
        // sending nothing. (A close() before the FIN's ACK may instead leave a full socket
        // with a timer that resets the connection, hence the shutdown first.)
        using var sockets = ns.Inside(() => ListenerWithClients(1));
        ns.Inside(() =>
        {
            sockets[1].Shutdown(System.Net.Sockets.SocketShutdown.Send);
            return 0;
        });
        Thread.Sleep(100); // the FIN's ACK
        ns.Inside(() =>
        {
            sockets[1].Close();
            return 0;
        });
        Assert.Equal(1, TimeWaitCount(ns));
        var dumped = PollUntilQuiet(Poll, NamespaceRead.Dumped);
        Assert.Contains(Rows(dumped), r => r.State == TcpState.FinWait2 && r.Timer == SocketTimer.TimeWait);

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (TimeWaitCount(ns) != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the fin_wait2 minisocket never ended");
            Thread.Sleep(100);
        }

        var after = Poll();
        Assert.Equal(NamespaceRead.Carried, after.Read);
        Assert.DoesNotContain(Rows(after), r => r.State == TcpState.FinWait2);
        Assert.Contains(Rows(after), r => r.State == TcpState.CloseWait);
        Assert.Equal(dumped.Count - 1, after.Count);
    }

    private static long TimeWaitCount(TestNamespace ns)
    {
        var sockstat = ns.Inside(() => File.ReadAllText("/proc/thread-self/net/sockstat"));
        var match = System.Text.RegularExpressions.Regex.Match(sockstat, @"^TCP: .*\btw (\d+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(match.Success, sockstat);
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Polls until one is carried (the namespace quiet: loopback ACKs can trail a connect by a
    /// few milliseconds) and returns the poll before it, which must have been read as <paramref name="before"/>.
    /// </summary>
    private static NamespaceSegment PollUntilQuiet(Func<NamespaceSegment> poll, NamespaceRead before)
    {
        var last = poll();
        for (var i = 0; i < 50; i++)
        {
            var next = poll();
            if (next.Read == NamespaceRead.Carried)
            {
                Assert.Equal(before, last.Read);
                return last;
            }

            last = next;
            Thread.Sleep(20);
        }

        throw new Xunit.Sdk.XunitException("the namespace never went quiet");
    }

    private static List<(ulong Cookie, TcpState State, uint Rx, uint Tx)> Rows(SocketTable table, NamespaceSegment segment) =>
        [.. table.Records.Slice(segment.Start, segment.Count).ToArray().Select(r => (r.Cookie, r.State, r.RxQueue, r.TxQueue)).OrderBy(r => r.Cookie)];

    private static SocketRecord Listener(SocketTable table, NamespaceSegment segment) =>
        table.Records.Slice(segment.Start, segment.Count).ToArray().Single(r => r.State == TcpState.Listen);

    [ChildEhashFact]
    public void Namespaces_dumped_through_the_host_table_are_counted_and_said_once()
    {
        // Children made from a parent namespace get a table of their own when the parent's
        // tcp_child_ehash_entries is set when they are made, and share the host's when it is 0.
        using var sharingParent = new TestNamespace();
        using var owningParent = new TestNamespace();
        TestNamespace.Ip("netns", "exec", sharingParent.Name, "sysctl", "-qw", "net.ipv4.tcp_child_ehash_entries=0");
        TestNamespace.Ip("netns", "exec", owningParent.Name, "sysctl", "-qw", "net.ipv4.tcp_child_ehash_entries=1024");
        var sharing = sharingParent.Name + "-child";
        var owning = owningParent.Name + "-child";
        try
        {
            TestNamespace.Run("nsenter", $"--net=/run/netns/{sharingParent.Name}", "ip", "netns", "add", sharing);
            TestNamespace.Run("nsenter", $"--net=/run/netns/{owningParent.Name}", "ip", "netns", "add", owning);
            TestNamespace.Ip("-n", sharing, "link", "set", "lo", "up");
            TestNamespace.Ip("-n", owning, "link", "set", "lo", "up");
            Assert.StartsWith("-", TestNamespace.Run("ip", "netns", "exec", sharing, "cat", "/proc/sys/net/ipv4/tcp_ehash_entries"), StringComparison.Ordinal);
            Assert.Equal("1024", TestNamespace.Run("ip", "netns", "exec", owning, "cat", "/proc/sys/net/ipv4/tcp_ehash_entries").Trim());

            var discovered = NamespaceDiscovery.Discover().Where(n => n.Name == sharing || n.Name == owning).ToList();
            Assert.Equal(2, discovered.Count);
            var log = new ListLogger();
            using var collector = new NamespaceCollector(
                NamespaceSelection.TryParse($"{sharing},{owning}", null, out _)!, CollectorKind.Netlink, "/proc", log, () => discovered)
            {
                SharedTableAdvisoryThreshold = 1,
            };
            var table = new SocketTable();

            // Without sockets neither is dumped, so neither walks anything.
            Assert.Equal(0, collector.Collect(table, CollectRequest.All, readFacts: false).SharingHostTable);
            Assert.Empty(log.Lines);

            using var sharingSockets = InNamespace(sharing, () => ListenerWithClients(1));
            using var owningSockets = InNamespace(owning, () => ListenerWithClients(1));
            var result = collector.Collect(table, CollectRequest.All, readFacts: false);
            Assert.Equal(2, result.Segments.Count);
            Assert.Equal(1, result.SharingHostTable);
            Assert.Contains(log.Lines, l => l.StartsWith("1 of the 2 watched network namespaces hold their sockets in the host's TCP socket table", StringComparison.Ordinal));

            Assert.Equal(1, collector.Collect(table, CollectRequest.All, readFacts: false).SharingHostTable);
            Assert.Single(log.Lines); // said once
        }
        finally
        {
            foreach (var child in new[] { sharing, owning })
            {
                try
                {
                    TestNamespace.Ip("netns", "del", child);
                }
                catch (InvalidOperationException)
                {
                    // not made
                }
            }
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A listener on 127.0.0.1 and <paramref name="clients"/> connections to it, in the namespace of the calling thread.</summary>
    private static Sockets ListenerWithClients(int clients)
    {
        var keep = new Sockets();
        var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        keep.Add(listener);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(8);
        for (var i = 0; i < clients; i++)
        {
            var c = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            keep.Add(c);
            c.Connect(listener.LocalEndPoint!);
            keep.Add(listener.Accept());
        }

        return keep;
    }

    private sealed class Sockets : List<System.Net.Sockets.Socket>, IDisposable
    {
        public void Dispose() => ForEach(s => s.Dispose());
    }

    private void Process(int pid, string cgroup)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "ns")).Parent!.FullName;
        File.WriteAllText(Path.Combine(dir, "ns", "net"), "");
        File.WriteAllText(Path.Combine(dir, "cgroup"), cgroup);
    }

    /// <summary>Runs <paramref name="action"/> on a thread that entered the /run/netns namespace <paramref name="name"/>.</summary>
    private static T InNamespace<T>(string name, Func<T> action)
    {
        var ns = NamespaceDiscovery.Discover().Single(n => n.Name == name);
        var result = default(T);
        var entries = NamespaceEntry.RunInEach([ns], (_, _) => result = action());
        Assert.Equal(EntryFailure.None, entries[0]);
        return result!;
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add(formatter(state, exception));
            }
        }
    }
}

/// <summary>A fact that needs root and per-namespace TCP tables (net.ipv4.tcp_child_ehash_entries, Linux 6.1+).</summary>
internal sealed class ChildEhashFactAttribute : FactAttribute
{
    public ChildEhashFactAttribute()
    {
        if (!Conditions.IsRoot)
        {
            Skip = "needs root to make network namespaces; CI runs as root";
        }
        else if (!File.Exists("/proc/sys/net/ipv4/tcp_child_ehash_entries"))
        {
            Skip = "needs net.ipv4.tcp_child_ehash_entries (Linux 6.1+): before it, every namespace shares the host's table";
        }
    }
}
