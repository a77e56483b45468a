using System.Runtime.CompilerServices;
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
/// <para>
/// A socket held by several processes (after fork, or passed over a unix socket) is reported
/// with the lowest pid found holding it, usually the parent that created it.
/// </para>
/// <para>
/// A changed process is listed again descriptor by descriptor against what its last listing
/// found (the fd numbers in order): a descriptor number that is new, or that held anything but
/// a socket, is read (readlink); one that is gone gives up its socket. A number that held
/// socket X before and is still open is read again only when X may have left it: when X is not
/// in this poll's table (it closed, or lives in a namespace not watched) or another descriptor
/// also holds X (the holder of a shared socket must be exact). Otherwise X is alive and that
/// descriptor was its only known holder; an open socket with an inode is held by a descriptor
/// somewhere, so the number still holds X unless, between two polls, X moved to another process
/// at a number that process reused as well (the same coincidence again, one process on), which
/// a process keeping its descriptor count could do under the older rule too. Sockets of the table
/// still unplaced after that are looked for in every process not listed this poll, as before.
/// A busy process whose descriptor count moves every poll (a server accepting and closing
/// connections) thus costs a readlink per descriptor that changed, not per descriptor it has
/// (bench/results/2026-12-08-daemon-attribution.md).
/// </para>
/// </remarks>
public sealed unsafe class ProcessScanner
{
    private const int FileBuffer = 4096;

    private readonly byte[] _root;
    private readonly Passwd _passwd;
    private readonly Dictionary<int, Entry> _processes = [];
    private readonly Dictionary<ulong, Holding> _holdings = [];

    /// <summary>For a socket held by more than one descriptor: the process of each (one per descriptor).</summary>
    private readonly Dictionary<ulong, List<Entry>> _shared = [];
    private readonly HashSet<ulong> _unplaceable = [];
    private int[] _names = new int[64];

    /// <summary>Whether a listing of this scan kept sockets unread, for <see cref="Place"/> to look at.</summary>
    private bool _unreadAny;
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

        /// <summary>The descriptor numbers of the last listing, ascending (<see cref="Length"/> of them).</summary>
        public int[] Fds = [];

        /// <summary>Parallel to <see cref="Fds"/>: the socket inode each held, 0 for anything else.</summary>
        public ulong[] Inodes = [];
        public int Length;

        /// <summary>Indexes into <see cref="Fds"/> of sockets kept from before, not read again this scan.</summary>
        public int[] Unread = [];
        public int UnreadCount;
        public bool Denied;
        public uint Seen;
        public uint Listed;

        /// <summary>Descriptors read (readlink) since it was last listed.</summary>
        public int Reads;
    }

    /// <summary>
    /// Who holds a socket inode: the process of the lowest pid (the entry itself, so that naming
    /// a socket's owner is one lookup), how many descriptors, and the last scan whose table had it.
    /// </summary>
    private struct Holding
    {
        public Entry Holder;
        public int Refs;
        public uint Live;
    }

    /// <summary>For tests: whether the last scan listed this process's descriptors.</summary>
    internal bool ListedInLastScan(int pid) => _processes.TryGetValue(pid, out var e) && e.Listed == _generation;

    /// <summary>For tests: how many of this process's descriptors the last scan read (0 when it did not list them).</summary>
    internal int DescriptorsReadInLastScan(int pid) => _processes.TryGetValue(pid, out var e) && e.Listed == _generation ? e.Reads : 0;

    /// <summary>The owner holding <paramref name="inode"/>, or null.</summary>
    public SocketOwner? OwnerOf(ulong inode) =>
        inode != 0 && _holdings.TryGetValue(inode, out var h) ? h.Holder.Owner : null;

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

        // The sockets kept unread by incremental listings: read again those that may have left
        // their descriptor (closed, so the number was reused; or shared).
        if (_unreadAny)
        {
            MarkLive(table, generation);
            descriptors += ReadUnread(generation, path);
            _unreadAny = false;
        }

        var unplaced = CountUnplaced(table, rememberUnplaceable: false);
        var forUnplaced = 0;
        if (unplaced > 0)
        {
            // Every process not listed this scan (a known process that swapped one descriptor
            // for another, keeping its count).
            foreach (var e in _processes.Values)
            {
                if (e.Listed != generation && !e.Denied)
                {
                    if (ListDescriptors(e, generation, path, incremental: false, ref descriptors))
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

    /// <summary>Marks every socket of <paramref name="table"/> that a descriptor is known to hold as alive in this scan.</summary>
    private void MarkLive(SocketTable table, uint generation)
    {
        foreach (ref readonly var r in table.Records)
        {
            if (r.Inode == 0)
            {
                continue;
            }

            ref var h = ref CollectionsMarshal.GetValueRefOrNullRef(_holdings, r.Inode);
            if (!Unsafe.IsNullRef(ref h))
            {
                h.Live = generation;
            }
        }
    }

    /// <summary>
    /// Reads the descriptors that incremental listings of this scan kept unread whose socket is
    /// not alive in the table or is held by another descriptor too, until none is left of those
    /// (a read can make another socket shared). Returns the descriptors read.
    /// </summary>
    private int ReadUnread(uint generation, Span<byte> path)
    {
        var read = 0;
        bool changed;
        do
        {
            changed = false;
            foreach (var e in _processes.Values)
            {
                if (e.UnreadCount == 0 || e.Listed != generation || e.Denied)
                {
                    continue;
                }

                var before = read;
                ReadUnreadOf(e, generation, path, ref read);
                changed |= read != before;
            }
        }
        while (changed);

        // What is left unread is still held; the lists served this scan only.
        foreach (var e in _processes.Values)
        {
            e.Unread = [];
            e.UnreadCount = 0;
        }

        return read;
    }

    private void ReadUnreadOf(Entry e, uint generation, Span<byte> path, ref int read)
    {
        var toRead = new List<int>();
        var kept = 0;
        for (var k = 0; k < e.UnreadCount; k++)
        {
            var i = e.Unread[k];
            ref var h = ref CollectionsMarshal.GetValueRefOrNullRef(_holdings, e.Inodes[i]);
            if (!Unsafe.IsNullRef(ref h) && h.Live == generation && h.Refs == 1)
            {
                e.Unread[kept++] = i; // alive, and this descriptor its only holder: still this one
            }
            else
            {
                toRead.Add(i);
            }
        }

        e.UnreadCount = kept;
        if (toRead.Count == 0)
        {
            return;
        }

        ProcPath.Build(path, _root, e.Pid, "fd"u8);
        nint dir;
        fixed (byte* p = path)
        {
            dir = Libc.OpenDir(p);
        }

        if (dir == 0)
        {
            return; // gone or denied since the listing: the next scan sees it as such
        }

        try
        {
            read += toRead.Count;
            e.Reads += toRead.Count;
            var found = ReadLinks(Libc.DirFd(dir), e.Fds, CollectionsMarshal.AsSpan(toRead));
            for (var k = 0; found is not null && k < toRead.Count; k++)
            {
                var i = toRead[k];
                if (found[k] != e.Inodes[i])
                {
                    Drop(e, e.Inodes[i]);
                    e.Inodes[i] = found[k];
                    if (found[k] != 0)
                    {
                        Hold(e, found[k]);
                    }
                }
            }
        }
        finally
        {
            _ = Libc.CloseDir(dir);
        }
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
            if (!ListDescriptors(e, generation, path, incremental: false, ref descriptors))
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
            if (ListDescriptors(e, generation, path, incremental: true, ref descriptors))
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

    /// <summary>
    /// Lists /proc/PID/fd and records the socket inodes; false when the process is gone. In full,
    /// every descriptor is read; <paramref name="incremental"/>, against the last listing (see
    /// the class's remarks): a socket kept from it is left unread, for <see cref="Place"/>.
    /// </summary>
    private bool ListDescriptors(Entry e, uint generation, Span<byte> path, bool incremental, ref int descriptors)
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
                Forget(e);
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

        e.Listed = generation;
        e.UnreadCount = 0;
        e.Reads = 0;
        try
        {
            var count = ReadNames(dir);
            var fds = new int[count];
            var inodes = new ulong[count];
            var unread = incremental ? new int[count] : [];
            var unreadCount = 0;
            var toRead = new int[count];
            var reads = 0;
            var old = 0;
            for (var i = 0; i < count; i++)
            {
                var number = _names[i];
                fds[i] = number;

                // Numbers the last listing had and this one has not: closed, their sockets let go.
                while (old < e.Length && e.Fds[old] < number)
                {
                    if (e.Inodes[old] != 0)
                    {
                        Drop(e, e.Inodes[old]);
                    }

                    old++;
                }

                if (old < e.Length && e.Fds[old] == number)
                {
                    inodes[i] = e.Inodes[old++]; // held as before until read otherwise
                    if (incremental && inodes[i] != 0)
                    {
                        unread[unreadCount++] = i; // still held, unless Place finds otherwise
                        continue;
                    }
                }

                toRead[reads++] = i;
            }

            DropFrom(e, old);
            e.Fds = fds;
            e.Inodes = inodes;
            e.Length = count;
            e.Reads = reads;
            descriptors += reads;
            var found = ReadLinks(Libc.DirFd(dir), fds, toRead.AsSpan(0, reads));
            if (found is null)
            {
                // Not ours to read after all: nothing of this process is known.
                Forget(e);
                e.Denied = true;
                return true;
            }

            for (var k = 0; k < reads; k++)
            {
                var i = toRead[k];
                if (found[k] != inodes[i])
                {
                    if (inodes[i] != 0)
                    {
                        Drop(e, inodes[i]);
                    }

                    if (found[k] != 0)
                    {
                        Hold(e, found[k]);
                    }

                    inodes[i] = found[k];
                }
            }

            e.Unread = unreadCount > 0 ? unread : [];
            e.UnreadCount = unreadCount;
            _unreadAny |= unreadCount > 0;
            e.FdCount = count;
            return true;
        }
        finally
        {
            _ = Libc.CloseDir(dir);
        }
    }

    /// <summary>
    /// Below this many descriptors to read, one thread reads them; from it on, every core (up to
    /// four) takes a share
    /// (readlinkat on one directory descriptor is safe from several threads). A process seen for
    /// the first time with tens of thousands of sockets, at the daemon's first poll above all, is
    /// the walk's longest part, and the dump beside it leaves the other core idle once done.
    /// </summary>
    internal int ParallelReadsFrom { get; set; } = 8192;

    /// <summary>
    /// The socket inode behind each descriptor <paramref name="fds"/>[<paramref name="which"/>[k]]
    /// of the directory <paramref name="dirFd"/> (0: not a socket, or closed meanwhile); null when
    /// reading one was denied.
    /// </summary>
    private ulong[]? ReadLinks(int dirFd, int[] fds, ReadOnlySpan<int> which)
    {
        var found = new ulong[which.Length];
        var indexes = which.ToArray();
        var denied = 0;
        var shares = which.Length >= ParallelReadsFrom ? Math.Min(Environment.ProcessorCount, 4) : 1;
        if (shares <= 1)
        {
            denied = ReadShare(dirFd, fds, indexes, found, 0, indexes.Length);
        }
        else
        {
            var size = (indexes.Length + shares - 1) / shares;
            Parallel.For(0, shares, s =>
            {
                var from = s * size;
                if (ReadShare(dirFd, fds, indexes, found, from, Math.Min(indexes.Length, from + size)) > 0)
                {
                    Interlocked.Increment(ref denied);
                }
            });
        }

        return denied > 0 ? null : found;
    }

    /// <summary>Reads the links of <paramref name="indexes"/>[from..to); returns 1 when one was denied, else 0.</summary>
    private static int ReadShare(int dirFd, int[] fds, int[] indexes, ulong[] found, int from, int to)
    {
        Span<byte> target = stackalloc byte[64];
        Span<byte> name = stackalloc byte[16];
        for (var k = from; k < to; k++)
        {
            fds[indexes[k]].TryFormat(name, out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
            name[digits] = 0;
            nint n;
            fixed (byte* t = target)
            fixed (byte* nm = name)
            {
                n = Libc.ReadLinkAt(dirFd, nm, t, (nuint)target.Length);
            }

            if (n < 0 && ProcPath.Classify(Marshal.GetLastPInvokeError()) == ProcRead.Denied)
            {
                return 1;
            }

            if (n > 0 && ProcFs.TryParseSocketLink(target[..(int)n], out var inode))
            {
                found[k] = inode;
            }
        }

        return 0;
    }

    /// <summary>The descriptor numbers of an open fd directory into <see cref="_names"/>, ascending; returns how many.</summary>
    private int ReadNames(nint dir)
    {
        var count = 0;
        var sorted = true;
        byte* entry;
        while ((entry = Libc.ReadDir(dir)) != null)
        {
            var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + Libc.DirentLayout.NameOffset);
            if (!ProcFs.TryParseDecimal(name, out var value) || value > int.MaxValue)
            {
                continue; // "." and ".."
            }

            if (count == _names.Length)
            {
                Array.Resize(ref _names, count * 2);
            }

            sorted &= count == 0 || _names[count - 1] < (int)value;
            _names[count++] = (int)value;
        }

        if (!sorted)
        {
            // procfs lists in order; a fixture tree on another file system need not.
            Array.Sort(_names, 0, count);
        }

        return count;
    }

    /// <summary>One more descriptor of <paramref name="e"/> holds <paramref name="inode"/>.</summary>
    private void Hold(Entry e, ulong inode)
    {
        _unplaceable.Remove(inode);
        ref var h = ref CollectionsMarshal.GetValueRefOrAddDefault(_holdings, inode, out var existed);
        if (!existed || h.Refs == 0)
        {
            h.Holder = e;
            h.Refs = 1;
            return;
        }

        if (!_shared.TryGetValue(inode, out var holders))
        {
            holders = [h.Holder];
            _shared[inode] = holders;
        }

        holders.Add(e);
        h.Refs++;
        if (e.Pid < h.Holder.Pid)
        {
            h.Holder = e;
        }
    }

    /// <summary>One descriptor of <paramref name="e"/> no longer holds <paramref name="inode"/>.</summary>
    private void Drop(Entry e, ulong inode)
    {
        ref var h = ref CollectionsMarshal.GetValueRefOrNullRef(_holdings, inode);
        if (Unsafe.IsNullRef(ref h))
        {
            return;
        }

        if (h.Refs <= 1)
        {
            _holdings.Remove(inode);
            _shared.Remove(inode);
            return;
        }

        var holders = _shared[inode];
        holders.Remove(e);
        h.Refs--;
        h.Holder = holders[0];
        foreach (var other in holders)
        {
            if (other.Pid < h.Holder.Pid)
            {
                h.Holder = other;
            }
        }

        if (h.Refs == 1)
        {
            _shared.Remove(inode);
        }
    }

    /// <summary>Lets go of the sockets of <paramref name="e"/>'s recorded descriptors from index <paramref name="from"/> on.</summary>
    private void DropFrom(Entry e, int from)
    {
        for (var i = from; i < e.Length; i++)
        {
            if (e.Inodes[i] != 0)
            {
                Drop(e, e.Inodes[i]);
            }
        }
    }

    private void Forget(Entry e)
    {
        DropFrom(e, 0);
        e.Length = 0;
        e.UnreadCount = 0;
        e.FdCount = -1;
    }

    /// <summary>Sockets with an inode that no known process holds (and that were not already given up on).</summary>
    private int CountUnplaced(SocketTable table, bool rememberUnplaceable)
    {
        var unplaced = 0;
        foreach (ref readonly var r in table.Records)
        {
            if (r.Inode == 0 || _holdings.ContainsKey(r.Inode) || _unplaceable.Contains(r.Inode))
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
