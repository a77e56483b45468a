using System.Globalization;
using SockWatch.Collectors.Interop;
using SockWatch.Collectors.Ownership;

namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// Finds the network namespaces of a host: every distinct <c>/proc/PID/ns/net</c> (by inode)
/// and every name under <c>/run/netns</c>, and names each one.
/// </summary>
/// <remarks>
/// Names, in order of preference: the <c>/run/netns</c> name (what `ip netns` shows); <c>host</c>
/// for the namespace of PID 1; the pod (<c>pod-UID</c>) or the container (<c>RUNTIME-ID12</c>)
/// that the cgroup of a process in it names; else <c>netns-INODE</c>. A name already taken
/// falls back to <c>netns-INODE</c>, so names are unique within one discovery. A process that
/// exits while it is being read is skipped, never an error.
/// </remarks>
public static class NamespaceDiscovery
{
    public const string Host = "host";
    public const string Self = "self";

    /// <summary>The namespaces, the one this process is in first, then by name.</summary>
    public static IReadOnlyList<NetworkNamespace> Discover(string procRoot = "/proc", string runNetns = "/run/netns")
    {
        var self = InodeOf(Path.Join(procRoot, "self", "ns", "net"));
        var host = InodeOf(Path.Join(procRoot, "1", "ns", "net"));

        var named = new Dictionary<ulong, (string Name, string Path)>();
        foreach (var file in SafeFiles(runNetns).Order(StringComparer.Ordinal))
        {
            if (InodeOf(file) is { } inode && inode != 0)
            {
                named.TryAdd(inode, (System.IO.Path.GetFileName(file), file));
            }
        }

        // The first process seen in each namespace: the way in, and a cgroup to name it by.
        var byInode = new Dictionary<ulong, (string Path, int Pid)>();
        foreach (var dir in SafeDirectories(procRoot))
        {
            var name = System.IO.Path.GetFileName(dir);
            if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            var link = Path.Join(dir, "ns", "net");
            if (InodeOf(link) is { } inode && inode != 0)
            {
                byInode.TryAdd(inode, (link, pid));
            }
        }

        var result = new List<NetworkNamespace>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var inode in byInode.Keys.Concat(named.Keys).Distinct().OrderBy(i => i))
        {
            string? path;
            string? name;
            if (named.TryGetValue(inode, out var n))
            {
                (name, path) = n;
            }
            else
            {
                path = byInode[inode].Path;
                name = inode == host ? Host : ContainerName(procRoot, byInode[inode].Pid);
            }

            if (name is null || !taken.Add(name))
            {
                name = "netns-" + inode.ToString(CultureInfo.InvariantCulture);
                taken.Add(name);
            }

            var isSelf = inode == self;
            result.Add(new NetworkNamespace(inode, name, isSelf ? null : path, isSelf));
        }

        if (self is null || !result.Any(r => r.IsSelf))
        {
            result.Add(SelfOnly(procRoot, runNetns));
        }

        return [.. result.OrderBy(r => r.IsSelf ? 0 : 1).ThenBy(r => r.Name, StringComparer.Ordinal)];
    }

    /// <summary>The namespace this process is in, named as <see cref="Discover"/> would name it.</summary>
    public static NetworkNamespace SelfOnly(string procRoot = "/proc", string runNetns = "/run/netns")
    {
        var self = InodeOf(Path.Join(procRoot, "self", "ns", "net"));
        if (self is not { } inode || inode == 0)
        {
            return new NetworkNamespace(0, Self, null, true);
        }

        foreach (var file in SafeFiles(runNetns).Order(StringComparer.Ordinal))
        {
            if (InodeOf(file) == inode)
            {
                return new NetworkNamespace(inode, System.IO.Path.GetFileName(file), null, true);
            }
        }

        var name = inode == InodeOf(Path.Join(procRoot, "1", "ns", "net")) ? Host
            : ContainerName(procRoot, Environment.ProcessId) ?? "netns-" + inode.ToString(CultureInfo.InvariantCulture);
        return new NetworkNamespace(inode, name, null, true);
    }

    /// <summary>The inode of the namespace file (following /proc's magic links); null when it cannot be read.</summary>
    public static unsafe ulong? InodeOf(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var stat = stackalloc byte[DirInteropStatSize];
        fixed (byte* p = bytes)
        {
            if (Libc.FStatAt(Libc.AT_FDCWD, p, stat, 0) != 0)
            {
                return null;
            }
        }

        return *(ulong*)(stat + Libc.StInoOffset);
    }

    /// <summary>The name a process's cgroup gives its namespace: pod-UID or RUNTIME-ID12; null when it is in neither.</summary>
    internal static string? ContainerName(string procRoot, int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Join(procRoot, pid.ToString(CultureInfo.InvariantCulture), "cgroup"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return CgroupParser.SystemdPath(text) is { } path ? NameOf(CgroupParser.Describe(path)) : null;
    }

    internal static string? NameOf(CgroupInfo info) =>
        info.PodUid is { } pod ? "pod-" + pod
        : info.ContainerId is { } id ? (info.ContainerRuntime ?? "container") + "-" + id[..Math.Min(12, id.Length)]
        : null;

    private const int DirInteropStatSize = Libc.StatLayout.Size;

    private static string[] SafeFiles(string dir)
    {
        try
        {
            return Directory.GetFiles(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string[] SafeDirectories(string dir)
    {
        try
        {
            return Directory.GetDirectories(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
