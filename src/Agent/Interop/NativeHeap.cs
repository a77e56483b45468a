using System.Runtime.InteropServices;

namespace SockWatch.Agent.Interop;

/// <summary>The process's own memory, for a daemon that is idle between polls.</summary>
internal static class NativeHeap
{
    private static bool _unavailable;

    private static bool _noPopulate;

    /// <summary>
    /// Faults in the pages under <paramref name="memory"/> in one system call
    /// (madvise MADV_POPULATE_WRITE) instead of one page fault per 4 KiB page as a fill first
    /// touches them. For a table made afresh every poll (the daemon gives it back between
    /// polls) that is thousands of faults a poll, and each costs far more in a trap, above all
    /// in a virtual machine, than the same work done in the kernel's loop. False where the
    /// kernel is older than 5.14 (EINVAL), which changes nothing but the cost.
    /// </summary>
    public static unsafe bool Prefault<T>(Span<T> memory)
        where T : unmanaged
    {
        var bytes = (nuint)memory.Length * (nuint)sizeof(T);
        if (_noPopulate || bytes < (nuint)Environment.SystemPageSize * 16)
        {
            return false;
        }

        fixed (T* start = memory)
        {
            var page = (nuint)Environment.SystemPageSize;
            var first = (nuint)start & ~(page - 1);
            var end = ((nuint)start + bytes + page - 1) & ~(page - 1);
            if (Libc.MAdvise((void*)first, end - first, Libc.MADV_POPULATE_WRITE) == 0)
            {
                return true;
            }

            if (Marshal.GetLastPInvokeError() is Libc.Errno.EINVAL)
            {
                _noPopulate = true;
            }

            return false;
        }
    }

    /// <summary>
    /// Returns the free pages of the C library's malloc arenas to the kernel. The runtime and
    /// the threads that serve scrapes allocate there; the pages they free stay resident in
    /// per-thread arenas until trimmed, which shows as a slow climb in RSS. A no-op where the
    /// C library has no malloc_trim (musl).
    /// </summary>
    public static void Trim()
    {
        if (_unavailable)
        {
            return;
        }

        try
        {
            _ = Libc.MallocTrim(0);
        }
        catch (EntryPointNotFoundException)
        {
            _unavailable = true;
        }
    }
}
