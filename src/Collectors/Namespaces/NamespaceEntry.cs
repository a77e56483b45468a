using System.Globalization;
using SockWatch.Collectors.Interop;

namespace SockWatch.Collectors.Namespaces;

/// <summary>Why a namespace could not be entered.</summary>
public enum EntryFailure
{
    /// <summary>It was entered.</summary>
    None,

    /// <summary>It is gone (its last process exited, its /run/netns file was removed), or the file now names another one: expected, never an error.</summary>
    Vanished,

    /// <summary>setns was refused (no CAP_SYS_ADMIN, or a namespace owned by another user namespace).</summary>
    Denied,
}

/// <summary>
/// Runs work inside network namespaces on a thread of its own. setns(CLONE_NEWNET) moves only
/// the calling thread, so the work runs on a fresh thread that enters each namespace in turn and
/// then ends: no thread of the pool ever carries a namespace away. A netlink socket opened there
/// stays in that namespace for its life, and /proc/thread-self/net and /proc/sys/net show that
/// namespace's tables and sysctls.
/// </summary>
public static class NamespaceEntry
{
    private const int CapSysAdmin = 21;

    /// <summary>Whether this process has CAP_SYS_ADMIN in its effective set (what setns into a network namespace needs).</summary>
    public static bool CanEnter(string procRoot = "/proc")
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Join(procRoot, "self", "status")))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                    && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var effective))
                {
                    return (effective & (1UL << CapSysAdmin)) != 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // unknown: try, and let setns say
        }

        return false;
    }

    /// <summary>
    /// On one new thread, enters each namespace of <paramref name="namespaces"/> and runs
    /// <paramref name="work"/> there; returns how each entry went. Exceptions of the work are
    /// rethrown on the calling thread after the thread ends.
    /// </summary>
    public static EntryFailure[] RunInEach(IReadOnlyList<NetworkNamespace> namespaces, Action<NetworkNamespace, int> work)
    {
        ArgumentNullException.ThrowIfNull(namespaces);
        ArgumentNullException.ThrowIfNull(work);
        var results = new EntryFailure[namespaces.Count];
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                for (var i = 0; i < namespaces.Count; i++)
                {
                    results[i] = Enter(namespaces[i]);
                    if (results[i] == EntryFailure.None)
                    {
                        work(namespaces[i], i);
                    }
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = "sockwatch-netns",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return results;
    }

    /// <summary>Enters <paramref name="ns"/> on this thread, after checking the file still names it.</summary>
    internal static unsafe EntryFailure Enter(NetworkNamespace ns)
    {
        if (ns.Path is null)
        {
            return EntryFailure.Vanished; // the namespace of this process: never entered through here
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(ns.Path + "\0");
        int fd;
        fixed (byte* p = bytes)
        {
            fd = Libc.Open(p, Libc.O_RDONLY | Libc.O_CLOEXEC);
        }

        if (fd < 0)
        {
            return System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is Libc.Errno.EPERM or 13 ? EntryFailure.Denied : EntryFailure.Vanished;
        }

        using var handle = new SafeFileDescriptor(fd);
        var stat = stackalloc byte[Libc.StatLayout.Size];
        if (Libc.FStat(fd, stat) != 0 || *(ulong*)(stat + Libc.StInoOffset) != ns.Inode)
        {
            return EntryFailure.Vanished; // the pid was reused by a process of another namespace
        }

        return Libc.SetNs(fd, Libc.CLONE_NEWNET) == 0 ? EntryFailure.None : EntryFailure.Denied;
    }
}
