using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Collectors;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>Ownership on a fixture proc tree: real fd symlinks, stat/status/cgroup files, a passwd file.</summary>
public class OwnershipFixtureTests
{
    private static (SocketTable Table, SocketOwnership Owners, OwnerResolver Resolver) Resolve(string root)
    {
        var table = new SocketTable();
        using (var proc = new ProcNetTcpCollector(root))
        {
            proc.Collect(table, CollectRequest.All);
        }

        var resolver = new OwnerResolver(root, NullLogger.Instance, Path.Combine(root, "passwd"));
        return (table, resolver.Resolve(table), resolver);
    }

    private static int IndexOf(SocketTable table, ulong inode, ushort localPort, TcpState state)
    {
        for (var i = 0; i < table.Count; i++)
        {
            if (table[i].Inode == inode && table[i].LocalPort == localPort && table[i].State == state)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"no socket {inode} {localPort} {state}");
    }

    [Fact]
    public void The_walk_of_proc_done_first_and_apart_gives_the_same_owners_as_one_resolve()
    {
        var root = Repo.Fixture("proc-owners");
        var (table, together, _) = Resolve(root);
        var resolver = new OwnerResolver(root, NullLogger.Instance, Path.Combine(root, "passwd"));

        resolver.Prepare(); // as a poll runs it, beside its dump
        var apart = resolver.Resolve(table);

        Assert.Equal(together.Owners, apart.Owners);
        Assert.Equal(together.Reasons, apart.Reasons);
        Assert.Equal(together.Stats, apart.Stats);
        Assert.Equal(together.Owners, resolver.Resolve(table).Owners); // and the next resolve walks again by itself
    }

    [Fact]
    public void Placing_sockets_without_a_walk_first_is_a_programming_error()
    {
        var scanner = new ProcessScanner(Repo.Fixture("proc-owners"));
        Assert.Throws<InvalidOperationException>(() => scanner.Place(new SocketTable()));
        scanner.Refresh();
        scanner.Place(new SocketTable());
        Assert.Throws<InvalidOperationException>(() => scanner.Place(new SocketTable()));
    }

    [Fact]
    public void Descriptors_name_pid_process_user_and_uid()
    {
        var (table, owners, _) = Resolve(Repo.Fixture("proc-owners"));
        var i = IndexOf(table, 1002, 8080, TcpState.Established);
        var owner = owners.Owners[i]!;
        Assert.Equal(100, owner.Pid);
        Assert.Equal("nginx: worker", owner.Process);
        Assert.Equal(33u, owner.Uid);
        Assert.Equal("www-data", owner.User);
        Assert.Equal(5000UL, owner.StartTime);
        Assert.Equal("/system.slice/nginx.service", owner.CgroupPath);
        Assert.Equal(OwnerVia.Descriptor, owners.Via[i]);
        Assert.Equal(UnownedReason.None, owners.Reasons[i]);
    }

    [Fact]
    public void A_socket_held_by_two_processes_goes_to_the_lower_pid()
    {
        var (table, owners, _) = Resolve(Repo.Fixture("proc-owners"));
        var listener = IndexOf(table, 1001, 8080, TcpState.Listen); // held by 100 and 300
        Assert.Equal(100, owners.Owners[listener]!.Pid);
        Assert.Equal(300, owners.Owners[IndexOf(table, 3001, 4000, TcpState.Established)]!.Pid);
    }

    [Fact]
    public void Time_wait_and_requests_on_a_listeners_port_go_to_the_listener()
    {
        var (table, owners, _) = Resolve(Repo.Fixture("proc-owners"));
        var timeWait = IndexOf(table, 0, 8080, TcpState.TimeWait);
        Assert.Equal(100, owners.Owners[timeWait]!.Pid);
        Assert.Equal(OwnerVia.Listener, owners.Via[timeWait]);
        var request = IndexOf(table, 0, 8080, TcpState.SynRecv);
        Assert.Equal(100, owners.Owners[request]!.Pid);
        Assert.Equal(OwnerVia.Listener, owners.Via[request]);

        // A client's time_wait sits on an ephemeral port: nobody's.
        var client = IndexOf(table, 0, 40000, TcpState.TimeWait);
        Assert.Null(owners.Owners[client]);
        Assert.Equal(UnownedReason.NoInode, owners.Reasons[client]);
    }

    [Fact]
    public void A_socket_nobody_holds_is_not_found_and_counted()
    {
        var (table, owners, _) = Resolve(Repo.Fixture("proc-owners"));
        var orphan = IndexOf(table, 9999, 5000, TcpState.Established);
        Assert.Null(owners.Owners[orphan]);
        Assert.Equal(UnownedReason.NotFound, owners.Reasons[orphan]);
        Assert.Equal(1, owners.CountUnowned(UnownedReason.NotFound));
        Assert.Equal(1, owners.CountUnowned(UnownedReason.NoInode));
    }

    [Fact]
    public void A_process_that_vanished_mid_scan_is_skipped_not_fatal()
    {
        var (_, owners, _) = Resolve(Repo.Fixture("proc-owners"));
        Assert.Equal(4, owners.Stats.Processes);      // 100, 200, 300, 400 ("self" is not a pid)
        Assert.Equal(3, owners.Stats.NewProcesses);  // 400 has no status: gone
        Assert.Equal(1, owners.Stats.Vanished);
    }

    [Fact]
    public void Pid_reuse_is_detected_by_start_time_and_the_old_sockets_dropped()
    {
        var root = CopyFixture();
        try
        {
            var table = new SocketTable();
            using (var proc = new ProcNetTcpCollector(root))
            {
                proc.Collect(table, CollectRequest.All);
            }

            Directory.Delete(Path.Combine(root, "400"), recursive: true); // the ghost would count as vanished every scan
            var scanner = new ProcessScanner(root, Path.Combine(root, "passwd"));
            scanner.Scan(table);
            Assert.Equal("api", scanner.OwnerOf(2001)!.Process);

            // pid 200 exits; a new process gets pid 200 (later start time) and holds other sockets.
            File.WriteAllText(Path.Combine(root, "200", "stat"),
                File.ReadAllText(Path.Combine(root, "200", "stat")).Replace("(api)", "(newcomer)", StringComparison.Ordinal).Replace(" 6000 ", " 9000 ", StringComparison.Ordinal));
            File.Delete(Path.Combine(root, "200", "fd", "7"));
            File.CreateSymbolicLink(Path.Combine(root, "200", "fd", "8"), "socket:[9999]");

            var stats = scanner.Scan(table);
            Assert.Equal(1, stats.PidsReused);
            Assert.Null(scanner.OwnerOf(2001));
            var newcomer = scanner.OwnerOf(9999)!;
            Assert.Equal("newcomer", newcomer.Process);
            Assert.Equal(9000UL, newcomer.StartTime);

            // pid 300 exits: its sockets go, and the shared one stays with 100.
            Directory.Delete(Path.Combine(root, "300"), recursive: true);
            stats = scanner.Scan(table);
            Assert.Equal(1, stats.Vanished);
            Assert.Null(scanner.OwnerOf(3001));
            Assert.Equal(100, scanner.OwnerOf(1001)!.Pid);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Unknown_uids_show_as_numbers()
    {
        var root = CopyFixture();
        try
        {
            File.WriteAllText(Path.Combine(root, "passwd"), "root:x:0:0::/:/bin/sh\n");
            var (table, owners, _) = Resolve(root);
            Assert.Equal("33", owners.Owners[IndexOf(table, 1002, 8080, TcpState.Established)]!.User);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Comm_is_decoded_as_utf8_with_replacement()
    {
        var stat = "42 (caf\u00e9 ) x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19"u8.ToArray();
        Assert.True(ProcFs.TryParseStat(stat, out var comm, out var start));
        Assert.Equal("caf\u00e9 ) x", comm);
        Assert.Equal(777UL, start);

        byte[] broken = [.. "7 (a"u8, 0xFF, .. "b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 5 19"u8];
        Assert.True(ProcFs.TryParseStat(broken, out comm, out _));
        Assert.Equal("a\uFFFDb", comm);
    }

    [Theory]
    [InlineData("socket:[1234]", true, 1234UL)]
    [InlineData("socket:[]", false, 0UL)]
    [InlineData("socket:[12a]", false, 0UL)]
    [InlineData("pipe:[1234]", false, 0UL)]
    [InlineData("/dev/null", false, 0UL)]
    [InlineData("anon_inode:[eventpoll]", false, 0UL)]
    public void Only_socket_links_give_an_inode(string target, bool ok, ulong inode)
    {
        Assert.Equal(ok, ProcFs.TryParseSocketLink(System.Text.Encoding.ASCII.GetBytes(target), out var parsed));
        Assert.Equal(inode, parsed);
    }

    [Theory]
    [InlineData("Name:\tx\nUid:\t1000\t1001\t1002\t1003\n", true, 1000u)]
    [InlineData("Name:\tx\nUid:  0 0 0 0\n", true, 0u)]
    [InlineData("Name:\tx\nGid:\t5\n", false, 0u)]
    public void Status_gives_the_real_uid(string status, bool ok, uint uid)
    {
        Assert.Equal(ok, ProcFs.TryParseStatusUid(System.Text.Encoding.ASCII.GetBytes(status), out var parsed));
        Assert.Equal(uid, parsed);
    }

    [Fact]
    public void A_root_that_is_not_proc_is_an_error_with_its_kind()
    {
        var scanner = new ProcessScanner(Repo.Fixture("does-not-exist"));
        var e = Assert.Throws<CollectorException>(() => scanner.Scan(new SocketTable()));
        Assert.Equal(CollectorErrorKind.Unreadable, e.Kind);
    }

    private static string CopyFixture()
    {
        var source = Repo.Fixture("proc-owners");
        var target = Directory.CreateTempSubdirectory("sockwatch-owners-").FullName;
        foreach (var path in Directory.EnumerateFileSystemEntries(source, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(source, path);
            var dest = Path.Combine(target, rel);
            var info = new FileInfo(path);
            if (info.LinkTarget is { } link)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.CreateSymbolicLink(dest, link);
            }
            else if (Directory.Exists(path))
            {
                Directory.CreateDirectory(dest);
            }
            else
            {
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(path, dest);
            }
        }

        return target;
    }
}
