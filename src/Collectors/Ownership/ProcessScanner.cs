using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Collectors.Interop;
using SockWatch.Core;

namespace SockWatch.Collectors.Ownership;

/// <summary>What one ownership scan did, for logs, metrics and the bench.</summary>
public sealed record OwnerScanStats
{
    public int Processes { get; init; }

    /// <summary>Processes seen for the first time (or whose pid was reused): stat, status and cgroup read, descriptors listed.</summary>
    public int NewProcesses { get; init; }

    /// <summary>Known processes whose descriptors were listed again (their count changed, or a socket was unplaced).</summary>
    public int Rescanned { get; init; }

    /// <summary>Of <see cref="Rescanned"/>, those listed because sockets of the table were still unplaced after the first pass.</summary>
    public int RescannedForUnplaced { get; init; }

    /// <summary>Sockets with an inode that no process was known to hold after the first pass.</summary>
    public int UnplacedAfterFirstPass { get; init; }

    /// <summary>Processes that exited since the last scan, or during this one.</summary>
    public int Vanished { get; init; }

    /// <summary>Pids found reused by a new process (start time changed).</summary>
    public int PidsReused { get; init; }

    /// <summary>Processes whose descriptors could not be read (permissions).</summary>
    public int Denied { get; init; }

    public int DescriptorsRead { get; init; }
}

/// <summary>
/// Maps socket inodes to the processes holding them by reading /proc/PID/fd, incrementally:
/// the map lives across polls; a poll lists /proc, reads each pid's stat (start time, to catch a
/// reused pid) and the size of its fd directory (Linux 6.2+ reports the number of open
/// descriptors there), and lists descriptors again only for processes that are new, whose
/// descriptor count changed, or, when a socket of the table is still unplaced, those not
/// listed this poll. Processes that vanish mid-scan are expected and dropped.
/// </summary>
/// <remarks>
/// A socket held by several processes (after fork, or passed over a unix socket) is reported
/// with the lowest pid found holding it, usually the parent that created it.
/// </remarks>
public sealed unsafe class ProcessScanner
{
    private const int FileBuffer = 4096;

    private readonly byte[] _root;
    private readonly Passwd _passwd;
    private readonly Dictionary<int, Entry> _processes = [];
    private readonly Dictionary<ulong, int> _inodeToPid = [];
    private readonly HashSet<ulong> _unplaceable = [];
    private readonly byte[] _file = new byte[FileBuffer];
    private uint _generation;
    private Pass1? _refreshed;

    public ProcessScanner(string procRoot = "/proc", string passwdPath = "/etc/passwd")
    {
        ArgumentException.ThrowIfNullOrEmpty(procRoot);
        _root = ProcPath.RootBytes(procRoot);
        _passwd = new Passwd(passwdPath);
    }

    /// <summary>Processes whose descriptors could not be read in the last scan.</summary>
    public int DeniedProcesses { get; private set; }

    private sealed class Entry
    {
        public required int Pid;
        public required ulong StartTime;
        public required SocketOwner Owner;
        public long FdCount = -1;
        public ulong[] Sockets = [];
        public int SocketCount;
        public bool Denied;
        public uint Seen;
        public uint Listed;
    }

    /// <summary>For tests: whether the last scan listed this process's descriptors.</summary>
    internal bool ListedInLastScan(int pid) => _processes.TryGetValue(pid, out var e) && e.Listed == _generation;

    /// <summary>The owner holding <paramref name="inode"/>, or null.</summary>
    public SocketOwner? OwnerOf(ulong inode) =>
        inode != 0 && _inodeToPid.TryGetValue(inode, out var pid) && _processes.TryGetValue(pid, out var e) ? e.Owner : null;

    /// <summary>Brings the inode map up to date for the sockets in <paramref name="table"/>.</summary>
    public OwnerScanStats Scan(SocketTable table)
    {
        Refresh();
        return Place(table);
    }

    /// <summary>
    /// Pass 1 of <see cref="Scan"/>, which needs no socket table: every pid in /proc visited, new
    /// and changed processes' descriptors listed, exited processes forgotten. A poll can run it
    /// beside its dump (the kernel's work on another core) and then call <see cref="Place"/>.
    /// </summary>
    /// <exception cref="CollectorException">/proc cannot be listed.</exception>
    public void Refresh()
    {
        var generation = ++_generation;
        int processes = 0, fresh = 0, rescanned = 0, vanished = 0, reused = 0, descriptors = 0;
        Span<byte> path = stackalloc byte[ProcPath.MaxPath];

        // Pass 1: every pid in /proc.
        ProcPath.Build(path, _root, 0, default);
        nint dir;
        fixed (byte* p = path)
        {
            dir = Libc.OpenDir(p);
        }

        if (dir == 0)
        {
            throw new CollectorException("owners", CollectorErrorKind.Unreadable, Marshal.GetLastPInvokeError(),
                $"cannot list {Encoding.UTF8.GetString(_root)} ({CollectorException.Describe(Marshal.GetLastPInvokeError())})");
        }

        try
        {
            byte* entry;
            while ((entry = Libc.ReadDir(dir)) != null)
            {
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + Libc.DirentLayout.NameOffset);
                if (!ProcFs.TryParsePid(name, out var pid))
                {
                    continue;
                }

                processes++;
                Visit(pid, generation, path, ref fresh, ref rescanned, ref vanished, ref reused, ref descriptors);
            }
        }
        finally
        {
            _ = Libc.CloseDir(dir);
        }

        // Processes not seen this time have exited.
        List<Entry>? gone = null;
        foreach (var e in _processes.Values)
        {
            if (e.Seen != generation)
            {
                (gone ??= []).Add(e);
            }
        }

        if (gone is not null)
        {
            foreach (var e in gone)
            {
                Forget(e);
                vanished++;
            }
        }

        _refreshed = new Pass1(generation, processes, fresh, rescanned, vanished, reused, descriptors);
    }

    /// <summary>
    /// Pass 2 of <see cref="Scan"/>, after <see cref="Refresh"/>: sockets of <paramref name="table"/>
    /// still unplaced may belong to a known process that swapped one descriptor for another (same
    /// count). The others are listed once; what is still unplaced after that is remembered, so it
    /// does not cost a full listing every poll.
    /// </summary>
    public OwnerScanStats Place(SocketTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (_refreshed is not { } pass1 || pass1.Generation != _generation)
        {
            throw new InvalidOperationException("Place follows Refresh, once per scan.");
        }

        _refreshed = null;
        var (generation, processes, fresh, rescanned, vanished, reused, descriptors) = pass1;
        Span<byte> path = stackalloc byte[ProcPath.MaxPath];
        var unplaced = CountUnplaced(table, rememberUnplaceable: false);
        var forUnplaced = 0;
        if (unplaced > 0)
        {
            foreach (var e in _processes.Values)
            {
                if (e.Listed != generation && !e.Denied)
                {
                    if (ListDescriptors(e, generation, path, ref descriptors))
                    {
                        rescanned++;
                        forUnplaced++;
                    }
                }
            }

            CountUnplaced(table, rememberUnplaceable: true);
        }

        var denied = 0;
        foreach (var e in _processes.Values)
        {
            if (e.Denied)
            {
                denied++;
            }
        }

        DeniedProcesses = denied;
        return new OwnerScanStats
        {
            Processes = processes,
            NewProcesses = fresh,
            Rescanned = rescanned,
            RescannedForUnplaced = forUnplaced,
            UnplacedAfterFirstPass = unplaced,
            Vanished = vanished,
            PidsReused = reused,
            Denied = denied,
            DescriptorsRead = descriptors,
        };
    }

    private void Visit(int pid, uint generation, Span<byte> path, ref int fresh, ref int rescanned, ref int vanished, ref int reused, ref int descriptors)
    {
        var statLength = ProcPath.Build(path, _root, pid, "stat"u8);
        var read = ProcPath.ReadFile(path[..(statLength + 1)], _file, out var n);
        if (read != ProcRead.Ok || !ProcFs.TryParseStat(_file.AsSpan(0, n), out var comm, out var startTime))
        {
            if (_processes.Remove(pid, out var old))
            {
                Forget(old);
                vanished++;
            }

            return;
        }

        _processes.TryGetValue(pid, out var e);
        if (e is not null && e.StartTime != startTime)
        {
            // The pid now belongs to another process: nothing of the old one carries over.
            Forget(e);
            _processes.Remove(pid);
            e = null;
            reused++;
        }

        if (e is null)
        {
            var owner = ReadOwner(pid, startTime, comm, path);
            if (owner is null)
            {
                vanished++;
                return;
            }

            e = new Entry { Pid = pid, StartTime = startTime, Owner = owner, Seen = generation };
            _processes[pid] = e;
            fresh++;
            if (!ListDescriptors(e, generation, path, ref descriptors))
            {
                vanished++;
            }

            return;
        }

        e.Seen = generation;
        if (!string.Equals(e.Owner.Process, comm, StringComparison.Ordinal))
        {
            e.Owner = e.Owner with { Process = comm }; // prctl(PR_SET_NAME) or exec
        }

        if (e.Denied)
        {
            return;
        }

        var count = DescriptorCount(pid, path);
        if (count < 0 || count != e.FdCount)
        {
            if (ListDescriptors(e, generation, path, ref descriptors))
            {
                rescanned++;
            }
            else
            {
                vanished++;
            }
        }
    }

    private SocketOwner? ReadOwner(int pid, ulong startTime, string comm, Span<byte> path)
    {
        var length = ProcPath.Build(path, _root, pid, "status"u8);
        if (ProcPath.ReadFile(path[..(length + 1)], _file, out var n) != ProcRead.Ok
            || !ProcFs.TryParseStatusUid(_file.AsSpan(0, n), out var uid))
        {
            return null;
        }

        string? unit = null, container = null, cgroupPath = null;
        length = ProcPath.Build(path, _root, pid, "cgroup"u8);
        if (ProcPath.ReadFile(path[..(length + 1)], _file, out n) == ProcRead.Ok)
        {
            cgroupPath = CgroupParser.SystemdPath(Encoding.UTF8.GetString(_file, 0, n));
            if (cgroupPath is not null)
            {
                var info = CgroupParser.Describe(cgroupPath);
                unit = info.Unit;
                container = info.ContainerId;
            }
        }

        return new SocketOwner(pid, startTime, comm, uid, _passwd.NameOf(uid), unit, container, cgroupPath);
    }

    /// <summary>Open descriptors of a process from the size of /proc/PID/fd (Linux 6.2+); -1 when unknown.</summary>
    private long DescriptorCount(int pid, Span<byte> path)
    {
        ProcPath.Build(path, _root, pid, "fd"u8);
        Span<byte> stat = stackalloc byte[Libc.StatLayout.Size];
        fixed (byte* p = path)
        fixed (byte* s = stat)
        {
            if (Libc.FStatAt(Libc.AT_FDCWD, p, s, 0) != 0)
            {
                return -1;
            }

            // Kernels before 6.2 report 0 for the directory: then every poll lists it.
            var size = *(long*)(s + Libc.StatLayout.StSizeOffset);
            return size > 0 ? size : -1;
        }
    }

    /// <summary>Lists /proc/PID/fd and records the socket inodes; false when the process is gone.</summary>
    private bool ListDescriptors(Entry e, uint generation, Span<byte> path, ref int descriptors)
    {
        ProcPath.Build(path, _root, e.Pid, "fd"u8);
        nint dir;
        fixed (byte* p = path)
        {
            dir = Libc.OpenDir(p);
        }

        if (dir == 0)
        {
            var why = ProcPath.Classify(Marshal.GetLastPInvokeError());
            if (why == ProcRead.Denied)
            {
                e.Denied = true;
                return true;
            }

            if (why == ProcRead.Gone)
            {
                Forget(e);
                _processes.Remove(e.Pid);
                return false;
            }

            return true;
        }

        // Drop what this process held before; it is read again below.
        for (var i = 0; i < e.SocketCount; i++)
        {
            if (_inodeToPid.TryGetValue(e.Sockets[i], out var holder) && holder == e.Pid)
            {
                _inodeToPid.Remove(e.Sockets[i]);
            }
        }

        e.SocketCount = 0;
        e.Listed = generation;
        long count = 0;
        Span<byte> target = stackalloc byte[64];
        try
        {
            var fd = Libc.DirFd(dir);
            byte* entry;
            fixed (byte* t = target)
            {
                while ((entry = Libc.ReadDir(dir)) != null)
                {
                    var name = entry + Libc.DirentLayout.NameOffset;
                    if (name[0] == (byte)'.')
                    {
                        continue;
                    }

                    count++;
                    descriptors++;
                    var n = Libc.ReadLinkAt(fd, name, t, (nuint)target.Length);
                    if (n <= 0)
                    {
                        if (n < 0 && ProcPath.Classify(Marshal.GetLastPInvokeError()) == ProcRead.Denied)
                        {
                            e.Denied = true;
                            break;
                        }

                        continue; // closed meanwhile
                    }

                    if (ProcFs.TryParseSocketLink(target[..(int)n], out var inode))
                    {
                        Remember(e, inode);
                    }
                }
            }
        }
        finally
        {
            _ = Libc.CloseDir(dir);
        }

        e.FdCount = count;
        return true;
    }

    private void Remember(Entry e, ulong inode)
    {
        if (e.SocketCount == e.Sockets.Length)
        {
            Array.Resize(ref e.Sockets, Math.Max(8, e.Sockets.Length * 2));
        }

        e.Sockets[e.SocketCount++] = inode;
        if (!_inodeToPid.TryGetValue(inode, out var holder) || e.Pid < holder)
        {
            _inodeToPid[inode] = e.Pid;
        }

        _unplaceable.Remove(inode);
    }

    private void Forget(Entry e)
    {
        for (var i = 0; i < e.SocketCount; i++)
        {
            if (_inodeToPid.TryGetValue(e.Sockets[i], out var holder) && holder == e.Pid)
            {
                _inodeToPid.Remove(e.Sockets[i]);
            }
        }

        e.SocketCount = 0;
    }

    /// <summary>Sockets with an inode that no known process holds (and that were not already given up on).</summary>
    private int CountUnplaced(SocketTable table, bool rememberUnplaceable)
    {
        var unplaced = 0;
        foreach (ref readonly var r in table.Records)
        {
            if (r.Inode == 0 || _inodeToPid.ContainsKey(r.Inode) || _unplaceable.Contains(r.Inode))
            {
                continue;
            }

            unplaced++;
            if (rememberUnplaceable)
            {
                _unplaceable.Add(r.Inode);
            }
        }

        if (rememberUnplaceable && _unplaceable.Count > table.Count)
        {
            // Keep the set to sockets that still exist.
            var present = new HashSet<ulong>(table.Count);
            foreach (ref readonly var r in table.Records)
            {
                if (r.Inode != 0)
                {
                    present.Add(r.Inode);
                }
            }

            _unplaceable.IntersectWith(present);
        }

        return unplaced;
    }

    /// <summary>What <see cref="Refresh"/> counted, for the stats <see cref="Place"/> returns.</summary>
    private readonly record struct Pass1(uint Generation, int Processes, int Fresh, int Rescanned, int Vanished, int Reused, int Descriptors);

}
