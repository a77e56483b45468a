using SockWatch.Collectors.Interop;

namespace SockWatch.Collectors;

/// <summary>The process's own native heap, for a daemon that is idle between polls.</summary>
public static class NativeHeap
{
    private static bool _unavailable;

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
