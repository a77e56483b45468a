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

    /// <summary>
    /// A process that forks a holder at start (the two share a unix socket pair), and keeps a
    /// connection X. `many N` opens N more connections; `open` one more; `reuse` closes X and
    /// opens a connection, whose client takes X's descriptor number; `pass` sends X to the holder
    /// over the unix socket, closes it, and opens a connection the same way. The holder dies with
    /// its parent.
    /// </summary>
    private const string ForkingScript = """
        import ctypes, os, socket, sys
        libc = ctypes.CDLL(None)
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(512)
        def pair():
            c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept(); return c, s
        holder = os.fork()
        if holder == 0:
            libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGKILL with the parent
            libc.prctl(15, b"swowner-holder", 0, 0, 0)
            a.close(); held = []
            while True:
                msg, fds, _, _ = socket.recv_fds(b, 16, 4)
                if not msg:
                    os._exit(0)
                held += fds
                b.send(b"k")
        libc.prctl(15, b"swowner-fork", 0, 0, 0)
        b.close()
        keep = []
        x, xs = pair()
        print(holder, x.getsockname()[1], x.fileno(), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if cmd[0] == "many":
                for _ in range(int(cmd[1])):
                    keep += pair()
                print("ok", flush=True)
            elif cmd[0] == "open":
                c, s = pair(); keep += [c, s]
                print(c.getsockname()[1], c.fileno(), flush=True)
            elif cmd[0] in ("reuse", "pass"):
                if cmd[0] == "pass":
                    socket.send_fds(a, [b"x"], [x.fileno()]); a.recv(1)
                x.close()
                c, s = pair(); keep += [c, s]
                print(c.getsockname()[1], c.fileno(), flush=True)
        """;

    [RootFact]
    public void A_changed_process_has_only_its_new_descriptors_read()
    {
        var (child, _, _, _) = SpawnForking();
        child.StandardInput.WriteLine("many 100");
        Assert.Equal("ok", child.StandardOutput.ReadLine());
        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var scanner = GetScanner(resolver);
        scanner.ParallelReadsFrom = 16; // its first listing read in shares, on every core, as a big process's is
        var (first, firstOwners) = Resolve(resolver);
        Assert.True(scanner.DescriptorsReadInLastScan(child.Id) >= 200, "a new process is read in full");
        Assert.True(firstOwners.Owners.Count(o => o?.Pid == child.Id) >= 200, "every socket of the 100 connections and X is the child's");
        Assert.Equal(first.Count, firstOwners.Owners.Count);

        var (port, _) = Command(child, "open");
        var (table, owners) = Resolve(resolver);
        Assert.True(scanner.ListedInLastScan(child.Id));
        var read = scanner.DescriptorsReadInLastScan(child.Id);
        Assert.InRange(read, 2, 10); // the two new descriptors, not the 200 it kept
        Assert.Equal(child.Id, owners.Owners[Find(table, port)]!.Pid);
    }

    [RootFact]
    public void A_descriptor_number_reused_for_a_new_socket_gets_it_on_the_next_poll()
    {
        var (child, _, xPort, xFd) = SpawnForking();
        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var (table, owners) = Resolve(resolver);
        Assert.Equal(child.Id, owners.Owners[Find(table, xPort)]!.Pid);

        var (port, fd) = Command(child, "reuse");
        Assert.Equal(xFd, fd); // the new client took X's number
        (table, owners) = Resolve(resolver);
        Assert.Equal(child.Id, owners.Owners[Find(table, port)]!.Pid);
    }

    [RootFact]
    public void A_socket_passed_to_another_process_and_closed_moves_to_its_new_holder()
    {
        var (child, holder, xPort, xFd) = SpawnForking();
        var resolver = new OwnerResolver("/proc", NullLogger.Instance);
        var (table, owners) = Resolve(resolver);
        Assert.Equal(child.Id, owners.Owners[Find(table, xPort)]!.Pid);
        Assert.True(holder > child.Id, "the holder was forked after its parent started");

        // X goes to the holder (a higher pid) over the unix socket; the sender closes it and its
        // descriptor number is taken by a new connection.
        var (port, fd) = Command(child, "pass");
        Assert.Equal(xFd, fd);
        (table, owners) = Resolve(resolver);
        var x = owners.Owners[Find(table, xPort)]!;
        Assert.Equal(holder, x.Pid);
        Assert.Equal("swowner-holder", x.Process);
        Assert.Equal(child.Id, owners.Owners[Find(table, port)]!.Pid);
    }

    private (Process Child, int Holder, int XPort, int XFd) SpawnForking()
    {
        var child = _children.Start(Conditions.FindExecutable("python3") ?? "python3", ["-c", ForkingScript], redirectStdin: true);
        var fields = child.StandardOutput.ReadLine()!.Split(' ');
        return (child, Int(fields[0]), Int(fields[1]), Int(fields[2]));
    }

    private static (int Port, int Fd) Command(Process child, string command)
    {
        child.StandardInput.WriteLine(command);
        var fields = child.StandardOutput.ReadLine()!.Split(' ');
        return (Int(fields[0]), Int(fields[1]));
    }

    private static int Int(string text) => int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

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
