using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>
/// What the daemon lets go of between polls: the poller's table and the collectors' buffers
/// (the netlink collector's own: NetlinkReleaseScratchTests).
/// The next poll must read the same sockets into new ones, and an outcome already handed out
/// must not change under its holder.
/// </summary>
public sealed class ReleaseScratchTests
{
    [Fact]
    public void After_a_release_the_next_poll_reads_the_same_sockets_into_a_new_table()
    {
        var options = new SockWatchOptions { ProcRoot = Repo.Fixture("proc-metrics"), Collector = "proc" };
        using var poller = new PollPipeline(PollSettings.For(options, NamespaceSelection.Self), NullLogger.Instance);
        var first = poller.Run(DateTimeOffset.UnixEpoch);
        var firstOwned = first.Count - first.Unowned;
        var firstRows = first.Table.Records.ToArray();
        Assert.NotEmpty(firstRows);

        var again = poller.Run(DateTimeOffset.UnixEpoch.AddSeconds(15));
        Assert.Same(first.Table, again.Table); // without a release the table is reused

        poller.ReleaseScratch();
        var afterRelease = poller.Run(DateTimeOffset.UnixEpoch.AddSeconds(30));

        Assert.NotSame(first.Table, afterRelease.Table);
        Assert.Equal(firstRows, first.Table.Records.ToArray()); // the handed-out table is left alone
        Assert.Equal(Keys(firstRows), Keys(afterRelease.Table.Records.ToArray()));
        Assert.Equal(firstOwned, afterRelease.Count - afterRelease.Unowned);
    }

    private static List<(TcpState, int, int, ulong)> Keys(SocketRecord[] rows) =>
        [.. rows.Select(r => (r.State, (int)r.LocalPort, (int)r.RemotePort, r.Inode)).Order()];
}
