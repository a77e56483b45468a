using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// Append: a collection after the rows a table already holds (the namespaces of one poll
/// share one table, each a segment). The rows before are left alone, the new ones are what a
/// collection into an empty table gives, and a failed collection leaves the table as it was.
/// </summary>
public sealed class AppendTests
{
    [Fact]
    public void A_proc_collector_appends_what_it_would_collect_after_the_rows_already_there()
    {
        using var proc = new ProcNetTcpCollector(Repo.Fixture("proc-every-state"));
        var alone = new SocketTable();
        proc.Collect(alone, CollectRequest.All);
        Assert.NotEqual(0, alone.Count);

        var shared = Prefilled(3);
        var stats = proc.Append(shared, CollectRequest.All);
        AssertAppended(shared, 3, alone);
        Assert.Equal(ProcNetTcpCollector.CollectorName, stats.Collector);

        proc.Append(shared, CollectRequest.All); // a second segment: the same sockets again
        Assert.Equal(3 + (2 * alone.Count), shared.Count);
        Assert.Equal(alone.Records.ToArray(), shared.Records[(3 + alone.Count)..].ToArray());
    }

    [Fact]
    public void A_failed_append_leaves_the_table_as_it_was()
    {
        using var proc = new ProcNetTcpCollector(Repo.Fixture("does-not-exist"));
        var shared = Prefilled(5);
        var before = shared.Records.ToArray();
        Assert.Throws<CollectorException>(() => proc.Append(shared, CollectRequest.All));
        Assert.Equal(before, shared.Records.ToArray());
    }

    [Fact]
    public void The_auto_collector_appends_through_its_fallback()
    {
        using var auto = new AutoCollector(Repo.Fixture("proc-every-state"), NullLogger.Instance, new FailingCollector());
        using var proc = new ProcNetTcpCollector(Repo.Fixture("proc-every-state"));
        var alone = new SocketTable();
        proc.Collect(alone, CollectRequest.All);

        var shared = Prefilled(2);
        auto.Append(shared, CollectRequest.All);
        AssertAppended(shared, 2, alone);
        Assert.Equal(ProcNetTcpCollector.CollectorName, auto.Name);
    }

    [LiveFact]
    public void A_netlink_collector_appends_the_sockets_it_would_collect()
    {
        using var sockets = LoopbackSockets.Create(IPAddress.Loopback);
        using var netlink = new NetlinkCollector();
        var ours = sockets.Expected.Select(e => (e.Local.Port, e.Remote.Port)).ToHashSet();
        var request = new CollectRequest { TcpInfoStateMask = TcpStateMask.Of(TcpState.CloseWait) | TcpStateMask.Of(TcpState.FinWait2) };

        var alone = new SocketTable();
        netlink.Collect(alone, request);
        var shared = Prefilled(7);
        netlink.Append(shared, request);

        Assert.All(Enumerable.Range(0, 7), i => Assert.Equal((ulong)(1000 + i), shared[i].Inode)); // untouched
        var appended = shared.Records[7..].ToArray();
        Assert.Equal(Ours(alone.Records.ToArray(), ours), Ours(appended, ours));
        Assert.Equal(ours.Count, Ours(appended, ours).Count());
        Assert.Equal(appended.Length, appended.Select(r => r.Cookie).Distinct().Count()); // each socket once
    }

    private static IEnumerable<ulong> Ours(SocketRecord[] rows, HashSet<(int, int)> ours) =>
        rows.Where(r => ours.Contains((r.LocalPort, r.RemotePort))).Select(r => r.Cookie).Order();

    /// <summary>A table holding <paramref name="count"/> rows of another namespace, inodes 1000 and up.</summary>
    private static SocketTable Prefilled(int count)
    {
        var table = new SocketTable();
        for (var i = 0; i < count; i++)
        {
            ref var r = ref table.Append();
            r.State = TcpState.Established;
            r.Inode = (ulong)(1000 + i);
        }

        return table;
    }

    private static void AssertAppended(SocketTable shared, int before, SocketTable alone)
    {
        Assert.Equal(before + alone.Count, shared.Count);
        for (var i = 0; i < before; i++)
        {
            Assert.Equal((ulong)(1000 + i), shared[i].Inode);
        }

        Assert.Equal(alone.Records.ToArray(), shared.Records[before..].ToArray());
    }

    /// <summary>A primary that cannot open its socket: the auto collector falls back to /proc.</summary>
    private sealed class FailingCollector : ISocketCollector
    {
        public string Name => NetlinkCollector.CollectorName;

        public CollectionStats Append(SocketTable table, CollectRequest request) =>
            throw new CollectorException(Name, CollectorErrorKind.Syscall, 97, "socket(AF_NETLINK): address family not supported");

        public void Dispose()
        {
        }
    }
}
