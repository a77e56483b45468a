using System.Runtime.InteropServices;

namespace SockWatch.Agent.Interop;

internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    /// <summary>errno values (include/uapi/asm-generic/errno-base.h) that the callers tell apart.</summary>
    internal static class Errno
    {
        public const int EINVAL = 22;
    }

    /// <summary>
    /// glibc's malloc_trim: gives the free pages of every malloc arena back to the kernel
    /// (MADV_DONTNEED), not only the top of the main heap as free() does. Returns 1 when some
    /// memory was released. Absent from other C libraries (musl), hence the guard in the caller.
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "malloc_trim")]
    internal static partial int MallocTrim(nuint pad);

    /// <summary>madvise(2) advice: populate (prefault) page tables writable, Linux 5.14+.</summary>
    internal const int MADV_POPULATE_WRITE = 23;

    [LibraryImport(LibraryName, EntryPoint = "madvise", SetLastError = true)]
    internal static partial int MAdvise(void* address, nuint length, int advice);
}
