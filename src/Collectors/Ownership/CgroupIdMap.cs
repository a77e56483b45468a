using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Collectors.Interop;

namespace SockWatch.Collectors.Ownership;

/// <summary>
/// cgroup v2 ids to cgroup paths, from the socket's INET_DIAG_CGROUP_ID: on cgroup2 the id
/// of a cgroup is the inode number of its directory, so one walk of the cgroup2 mount maps every
/// id without touching a single process. It gives the unit and container of a socket (the
/// cgroup of the process that created it, or of the listener that accepted it), not the pid or
/// process name, and it works without CAP_SYS_PTRACE. The walk is redone when an id is not
/// found, at most once per <see cref="Lookup"/> round.
/// </summary>
public sealed unsafe class CgroupIdMap
{
    private const byte DT_DIR = 4;
    private const int StInoOffset = 8; // st_ino: offset 8 on x86_64 and the generic (arm64) layout

    private readonly string _root;
    private Dictionary<ulong, string> _paths = [];
    private bool _refreshedThisRound;

    public CgroupIdMap(string cgroup2Root)
    {
        _root = cgroup2Root.TrimEnd('/');
    }

    /// <summary>Directories walked by the last refresh.</summary>
    public int Directories => _paths.Count;

    /// <summary>
    /// The cgroup2 mount point from a mountinfo file: /sys/fs/cgroup on pure v2 hosts,
    /// /sys/fs/cgroup/unified on hybrid ones; null on v1-only hosts.
    /// </summary>
    public static string? FindCgroup2Mount(string mountinfoPath = "/proc/self/mountinfo")
    {
        try
        {
            foreach (var line in File.ReadLines(mountinfoPath))
            {
                // "36 35 0:30 / /sys/fs/cgroup/unified rw,... shared:9 - cgroup2 cgroup2 rw,nsdelegate"
                var dash = line.IndexOf(" - ", StringComparison.Ordinal);
                if (dash < 0 || !line.AsSpan(dash + 3).StartsWith("cgroup2 ", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line[..dash].Split(' ');
                if (fields.Length >= 5 && fields[3] == "/")
                {
                    return fields[4].Replace("\\040", " ", StringComparison.Ordinal);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return null;
    }

    /// <summary>Starts a lookup round: the next miss may walk the tree again.</summary>
    public void BeginRound() => _refreshedThisRound = false;

    /// <summary>The cgroup path ("/system.slice/nginx.service") of an id, or null.</summary>
    public string? Lookup(ulong id)
    {
        if (id == 0)
        {
            return null;
        }

        if (_paths.TryGetValue(id, out var path))
        {
            return path;
        }

        if (_refreshedThisRound)
        {
            return null;
        }

        Refresh();
        return _paths.TryGetValue(id, out path) ? path : null;
    }

    /// <summary>Walks the whole cgroup2 tree again.</summary>
    public void Refresh()
    {
        _refreshedThisRound = true;
        var paths = new Dictionary<ulong, string>();
        Walk(_root, "/", paths, depth: 0);
        _paths = paths;
    }

    private static void Walk(string directory, string relative, Dictionary<ulong, string> paths, int depth)
    {
        if (depth > 64)
        {
            return; // cgroup.max.depth is far below this; a guard against a bind-mount loop
        }

        var bytes = Encoding.UTF8.GetBytes(directory + "\0");
        nint dir;
        Span<byte> stat = stackalloc byte[Libc.StatLayout.Size];
        fixed (byte* p = bytes)
        fixed (byte* s = stat)
        {
            if (Libc.FStatAt(Libc.AT_FDCWD, p, s, 0) != 0)
            {
                return;
            }

            paths[*(ulong*)(s + StInoOffset)] = relative;
            dir = Libc.OpenDir(p);
        }

        if (dir == 0)
        {
            return;
        }

        List<string>? children = null;
        try
        {
            byte* entry;
            while ((entry = Libc.ReadDir(dir)) != null)
            {
                if (entry[Libc.DirentLayout.TypeOffset] != DT_DIR)
                {
                    continue;
                }

                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + Libc.DirentLayout.NameOffset);
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                {
                    continue;
                }

                (children ??= []).Add(Encoding.UTF8.GetString(name));
            }
        }
        finally
        {
            _ = Libc.CloseDir(dir);
        }

        if (children is null)
        {
            return;
        }

        foreach (var child in children)
        {
            Walk(directory + "/" + child, relative == "/" ? "/" + child : relative + "/" + child, paths, depth + 1);
        }
    }
}
