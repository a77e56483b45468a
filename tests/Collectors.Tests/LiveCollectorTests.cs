using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// Both collectors against the live kernel on real loopback sockets, and both against ss.
/// Sockets are told apart from the rest of the host's by their ports, so no namespace is needed.
/// </summary>
public class LiveCollectorTests
{
    [LiveFact]
    public void Ipv4_sockets_agree_across_netlink_proc_and_ss() => Compare(IPAddress.Loopback, dualStack: false);

    [LiveFact]
    public void Ipv6_and_ipv4_mapped_sockets_agree_across_netlink_proc_and_ss()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return; // no IPv6 on this host: nothing to compare, and that is normal
        }

        Compare(IPAddress.IPv6Loopback, dualStack: true);
    }

    [LiveFact]
    public void The_state_mask_reaches_the_kernel()
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var netlink = new NetlinkCollector();
        var table = new SocketTable();
        var mask = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]);
        netlink.Collect(table, new CollectRequest { StateMask = mask });
        Assert.All(table.Records.ToArray(), r => Assert.True(r.State is TcpState.CloseWait or TcpState.FinWait2, r.State.ToString()));
        var ours = Ours(table, sockets);
        Assert.Equal(4, ours.Count); // two close_wait, two fin_wait2 (one half-closed, one orphaned)
    }

    [LiveFact]
    public void Tcp_info_comes_only_when_asked()
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var netlink = new NetlinkCollector();
        var table = new SocketTable();
        var request = new CollectRequest { StateMask = TcpStateMask.Of(TcpState.CloseWait) };
        netlink.Collect(table, request);
        Assert.All(Ours(table, sockets), r => Assert.False(r.TcpInfo.IsPresent));
        netlink.Collect(table, request with { IncludeTcpInfo = true });
        var withInfo = Ours(table, sockets);
        Assert.Equal(2, withInfo.Count);
        Assert.All(withInfo, r =>
        {
            Assert.True(r.TcpInfo.Length >= 104);
            Assert.InRange(r.TcpInfo.LastDataReceivedMs, 0u, 600_000u);
        });
    }

    [LiveFact]
    public void The_collector_is_reused_across_polls_without_growing()
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var netlink = new NetlinkCollector();
        var table = new SocketTable();
        netlink.Collect(table, CollectRequest.All);
        var first = Ours(table, sockets).Count;
        var capacity = table.Capacity;
        for (var i = 0; i < 5; i++)
        {
            netlink.Collect(table, CollectRequest.All);
            Assert.Equal(first, Ours(table, sockets).Count);
        }

        Assert.Equal(capacity, table.Capacity);
    }

    /// <summary>
    /// As root (CI), in a private namespace: neither /proc nor a dump is a snapshot, and other
    /// tests opening and closing sockets on the host during the read can make an entry show
    /// twice or not at all. Elsewhere, in the host's namespace.
    /// </summary>
    private static void Compare(IPAddress loopback, bool dualStack)
    {
        if (Conditions.IsRoot)
        {
            using var ns = new TestNamespace();
            var (sockets, n, p) = ns.Inside(() => Gather(loopback, dualStack, "thread-self/net"));
            using (sockets)
            {
                var ss = TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "ss", "-tanOHe").Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Verify(sockets, n, p, SsOracle.Parse(ss));
            }
        }
        else
        {
            var (sockets, n, p) = Gather(loopback, dualStack, "net");
            using (sockets)
            {
                Verify(sockets, n, p, SsOracle.Parse(RunSs()));
            }
        }
    }

    private static (LoopbackSockets Sockets, SocketTable Netlink, SocketTable Proc) Gather(IPAddress loopback, bool dualStack, string netDirectory)
    {
        var sockets = LoopbackSockets.Create(loopback);
        if (dualStack)
        {
            sockets.AddDualStack();
            Thread.Sleep(50);
        }

        using var netlink = new NetlinkCollector();
        using var proc = new ProcNetTcpCollector("/proc", netDirectory);
        var fromNetlink = new SocketTable();
        var fromProc = new SocketTable();
        netlink.Collect(fromNetlink, CollectRequest.All);
        proc.Collect(fromProc, CollectRequest.All);
        return (sockets, fromNetlink, fromProc);
    }

    private static void Verify(LoopbackSockets sockets, SocketTable fromNetlink, SocketTable fromProc, List<SsOracle> ss)
    {
        foreach (var e in sockets.Expected)
        {
            var n = Single(fromNetlink, e, "netlink");
            var p = Single(fromProc, e, "proc");

            Assert.Equal(n.Inode, p.Inode);
            Assert.Equal(n.RxQueue, p.RxQueue);
            if (e.State != TcpState.Listen)
            {
                Assert.Equal(n.TxQueue, p.TxQueue); // for listeners /proc's tx is not the backlog
            }

            Assert.Equal(n.Uid, e.State == TcpState.SynRecv ? n.Uid : p.Uid); // request sockets: diag 0, /proc the listener's uid
            Assert.Equal(n.Timer, p.Timer);
            Assert.True(n.HasCookie);
            Assert.False(p.HasCookie);

            var oracle = ss.Where(o => o.Cookie == n.Cookie).ToArray();
            Assert.True(oracle.Length == 1, $"{e.What}: ss shows cookie {n.Cookie:x} {oracle.Length} times");
            oracle[0].AssertSame(n, compareQueues: true);
            oracle[0].AssertSame(p, compareQueues: e.State != TcpState.Listen);
        }

        // Full sockets carry their inode; minisockets and request sockets have none.
        Assert.All(sockets.Expected, e =>
        {
            var n = Single(fromNetlink, e, "netlink");
            var socketless = e.State is TcpState.TimeWait or TcpState.SynRecv || (e.State == TcpState.FinWait2 && n.Timer == SocketTimer.TimeWait);
            Assert.Equal(socketless, n.Inode == 0);
        });
    }

    private static SocketRecord Single(SocketTable table, (string What, TcpState State, IPEndPoint Local, IPEndPoint Remote) e, string collector)
    {
        var matches = table.Records.ToArray().Where(r =>
            r.State == e.State && r.LocalPort == e.Local.Port && r.RemotePort == e.Remote.Port
            && Same(r.LocalAddress.ToIPAddress(r.Family), e.Local.Address)).ToArray();
        Assert.True(matches.Length == 1, $"{collector}: {e.What} ({e.State} {e.Local} -> {e.Remote}) seen {matches.Length} times");
        return matches[0];
    }

    private static bool Same(IPAddress a, IPAddress b) =>
        a.Equals(b) || (a.IsIPv4MappedToIPv6 && a.MapToIPv4().Equals(b)) || (b.IsIPv4MappedToIPv6 && b.MapToIPv4().Equals(a));

    private static List<SocketRecord> Ours(SocketTable table, LoopbackSockets sockets)
    {
        var ports = sockets.Expected.SelectMany(e => new[] { e.Local.Port, e.Remote.Port }).Where(p => p != 0).ToHashSet();
        return table.Records.ToArray().Where(r => ports.Contains(r.LocalPort) && ports.Contains(r.RemotePort)).ToList();
    }

    private static string[] RunSs()
    {
        var psi = new ProcessStartInfo(Conditions.FindExecutable("ss")!, "-tanOHe") { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}

public class NetlinkTruncationTests
{
    [LiveTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_datagram_larger_than_the_buffer_is_detected_and_the_dump_redone(bool byFamily)
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var normal = new NetlinkCollector();
        using var tiny = new NetlinkCollector(receiveBufferLength: 512) { LegacyRefused = byFamily }; // the kernel's first datagram is ~3.7 KB
        var expected = new SocketTable();
        var actual = new SocketTable();
        normal.Collect(expected, CollectRequest.All);
        var stats = tiny.Collect(actual, CollectRequest.All);

        Assert.True(tiny.TruncationRetries >= 1, "the truncation was not noticed");
        Assert.Equal(0, stats.Malformed);
        var ours = sockets.Expected.Select(e => (e.State, e.Local.Port, e.Remote.Port)).ToHashSet();
        var seen = actual.Records.ToArray().Select(r => (r.State, (int)r.LocalPort, (int)r.RemotePort)).Where(ours.Contains).ToHashSet();
        Assert.Equal(ours.Count, seen.Count); // nothing lost to the discarded tails

        // The next poll uses the grown buffer: no more retries.
        var retries = tiny.TruncationRetries;
        tiny.Collect(actual, CollectRequest.All);
        Assert.Equal(retries, tiny.TruncationRetries);
    }
}

public class NetlinkTcpInfoSplitTests
{
    /// <param name="byFamily">As on a kernel that refuses the legacy request: a dump a family, each split in two.</param>
    [LiveTheory]
    [InlineData(false, "127.0.0.1")]
    [InlineData(false, "::1")]
    [InlineData(true, "127.0.0.1")]
    [InlineData(true, "::1")]
    public void Tcp_info_comes_for_the_chosen_states_only_and_nothing_is_lost(bool byFamily, string address)
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Parse(address));
        using var reference = new NetlinkCollector { LegacyRefused = true };
        using var netlink = new NetlinkCollector { LegacyRefused = byFamily };
        var plain = new SocketTable();
        var split = new SocketTable();
        reference.Collect(plain, CollectRequest.All);
        var stats = netlink.Collect(split, new CollectRequest { TcpInfoStateMask = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]) });
        Assert.Equal(!byFamily, netlink.LastCollectWasOneWalk);
        Assert.Empty(stats.MissingFamilies); // this kernel has IPv6, whichever way it was asked

        var ours = sockets.Expected.Select(e => (e.State, e.Local.Port, e.Remote.Port)).ToHashSet();
        var seen = split.Records.ToArray().Where(r => ours.Contains((r.State, r.LocalPort, r.RemotePort))).ToArray();
        Assert.Equal(ours.Count, seen.Length);
        Assert.All(seen, r =>
        {
            var wanted = r.State is TcpState.CloseWait || (r.State is TcpState.FinWait2 && r.Inode != 0); // minisockets never carry it
            Assert.Equal(wanted, r.TcpInfo.IsPresent);
        });
        var before = plain.Records.ToArray().Where(r => ours.Contains((r.State, r.LocalPort, r.RemotePort))).Select(r => r.Cookie).Order();
        Assert.Equal(before, seen.Select(r => r.Cookie).Order()); // the same sockets, each once
    }
}

public class NetlinkReleaseScratchTests
{
    [LiveFact]
    public void A_netlink_collector_reads_the_same_sockets_after_letting_its_buffer_go()
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var netlink = new NetlinkCollector();
        var before = new SocketTable();
        var after = new SocketTable();
        netlink.Collect(before, CollectRequest.All);
        netlink.ReleaseScratch();
        netlink.Collect(after, CollectRequest.All);

        var ours = sockets.Expected.Select(e => (e.Local.Port, e.Remote.Port)).ToHashSet();
        static IEnumerable<ulong> Cookies(SocketTable t, HashSet<(int, int)> ours) =>
            t.Records.ToArray().Where(r => ours.Contains((r.LocalPort, r.RemotePort))).Select(r => r.Cookie).Order();
        Assert.Equal(ours.Count, Cookies(after, ours).Count());
        Assert.Equal(Cookies(before, ours), Cookies(after, ours));
    }
}
