using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Collectors;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// Child processes holding loopback sockets, placed in a cgroup named like a systemd service
/// (system.slice/NAME.service) in every hierarchy this host lets root write: the v2 tree
/// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) and the v1 name=systemd tree.
/// </summary>
public sealed class OwnershipLiveTests : IDisposable
{
    private const string ChildScript = """
        import ctypes, socket, sys
        ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
        keep = []
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8); keep.append(l)
        c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept(); keep += [c, s]
        print(l.getsockname()[1], c.getsockname()[1], flush=True)
        for line in sys.stdin:
            if line.strip() == "open":
                n = socket.socket(); n.connect(l.getsockname()); a, _ = l.accept(); keep += [n, a]
                print(n.getsockname()[1], flush=True)
        """;

    private readonly ChildProcesses _children = new();
    private readonly ServiceCgroups _cgroups = new();

    [RootFact]
    public void Children_in_a_service_cgroup_are_reported_with_pid_process_and_unit()
    {
        var unit = $"swtest-{Environment.ProcessId}.service";
        var (child, listenPort, clientPort) = Spawn("swowner-test");
        var placed = _cgroups.Place(child.Id, unit);
        Assert.True(placed > 0, "no cgroup hierarchy under /sys/fs/cgroup could be written as root");

        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var (table, owners) = Resolve(resolver);
        foreach (var port in new[] { listenPort, clientPort })
        {
            var i = Find(table, port);
            var owner = owners.Owners[i];
            Assert.NotNull(owner);
            Assert.Equal(child.Id, owner.Pid);
            Assert.Equal("swowner-test", owner.Process);
            Assert.Equal(unit, owner.Unit);
            Assert.Equal("root", owner.User);
        }

        // A socket made after the move carries the service's cgroup id (cgroup v2), so its unit
        // is known from the dump alone, without walking processes.
        if (CgroupIdMap.FindCgroup2Mount() is { } mount && Directory.Exists(Path.Combine(mount, "system.slice", unit)))
        {
            child.StandardInput.WriteLine("open");
            var newPort = int.Parse(child.StandardOutput.ReadLine()!, System.Globalization.CultureInfo.InvariantCulture);
            (table, owners) = Resolve(resolver);
            var fresh = Find(table, newPort);
            Assert.Equal(unit, owners.CgroupUnits[fresh]);
            Assert.Equal(unit, owners.Owners[fresh]!.Unit);
        }
    }

    [RootFact]
    public void Only_changed_processes_are_listed_again_and_new_sockets_are_found()
    {
        var (child, _, _) = Spawn("swowner-incr");
        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var scanner = GetScanner(resolver);
        var (first, firstOwners) = Resolve(resolver);
        Assert.True(scanner.ListedInLastScan(child.Id));

        // Nothing changed: not listed again. Only sockets already placed are offered, so sockets
        // that tests running alongside open meanwhile cannot trigger the search for unplaced ones.
        var placed = new HashSet<ulong>();
        for (var i = 0; i < first.Count; i++)
        {
            if (firstOwners.Owners[i] is not null && first[i].Inode != 0)
            {
                placed.Add(first[i].Inode);
            }
        }

        var again = new SocketTable();
        using (var netlink = new NetlinkCollector())
        {
            netlink.Collect(again, CollectRequest.All);
        }

        var known = new SocketTable();
        foreach (ref readonly var r in again.Records)
        {
            if (placed.Contains(r.Inode))
            {
                known.Append() = r;
            }
        }

        resolver.Resolve(known);
        Assert.False(scanner.ListedInLastScan(child.Id));

        child.StandardInput.WriteLine("open");
        var newPort = int.Parse(child.StandardOutput.ReadLine()!, System.Globalization.CultureInfo.InvariantCulture);
        var (table, owners) = Resolve(resolver);
        Assert.True(scanner.ListedInLastScan(child.Id)); // its descriptor count changed
        Assert.Equal(child.Id, owners.Owners[Find(table, newPort)]!.Pid);
    }

    [RootFact]
    public void A_process_that_exits_between_scans_is_dropped_without_error()
    {
        var (stays, stayPort, _) = Spawn("swowner-stay");
        var (leaves, leavePort, _) = Spawn("swowner-leave");
        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var (table, owners) = Resolve(resolver);
        Assert.Equal(leaves.Id, owners.Owners[Find(table, leavePort)]!.Pid);

        leaves.Kill();
        leaves.WaitForExit();
        (table, owners) = Resolve(resolver);
        Assert.True(owners.Stats.Vanished >= 1);
        Assert.Equal(stays.Id, owners.Owners[Find(table, stayPort)]!.Pid);
        Assert.DoesNotContain(owners.Owners, o => o?.Pid == leaves.Id);
    }

    private static ProcessScanner GetScanner(OwnerResolver resolver) =>
        (ProcessScanner)typeof(OwnerResolver).GetField("_scanner", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(resolver)!;

    private static (SocketTable, SocketOwnership) Resolve(OwnerResolver resolver)
    {
        var table = new SocketTable();
        using var netlink = new NetlinkCollector();
        netlink.Collect(table, CollectRequest.All);
        return (table, resolver.Resolve(table));
    }

    private static int Find(SocketTable table, int localPort)
    {
        for (var i = 0; i < table.Count; i++)
        {
            if (table[i].LocalPort == localPort && table[i].State is TcpState.Listen or TcpState.Established)
            {
                return i;
            }
        }

        throw new InvalidOperationException("no socket on local port " + localPort);
    }

    private (Process Child, int ListenPort, int ClientPort) Spawn(string name)
    {
        var child = _children.Start(Conditions.FindExecutable("python3") ?? "python3", ["-c", ChildScript, name], redirectStdin: true);
        var ports = child.StandardOutput.ReadLine()!.Split(' ');
        return (child, int.Parse(ports[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(ports[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Dispose()
    {
        _children.Dispose();
        _cgroups.Dispose();
    }
}
