using System.Runtime.InteropServices;

namespace SockWatch.Collectors.Interop;

/// <summary>Entering network namespaces: setns(2) on a descriptor of an nsfs file.</summary>
internal static unsafe partial class Libc
{
    /// <summary>CLONE_NEWNET: the namespace type setns checks the descriptor against.</summary>
    internal const int CLONE_NEWNET = 0x40000000;

    /// <summary>st_ino is at offset 8 on x86_64 and on the generic layout (arm64) alike.</summary>
    internal const int StInoOffset = 8;

    [LibraryImport(LibraryName, EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNs(int fd, int nsType);

    /// <summary>PROC_SUPER_MAGIC: statfs's f_type of a proc file system.</summary>
    internal const long ProcSuperMagic = 0x9fa0;

    /// <summary>struct statfs is 120 bytes on x86_64 and arm64; f_type, a long, comes first.</summary>
    internal const int StatFsSize = 256;

    [LibraryImport(LibraryName, EntryPoint = "statfs", SetLastError = true)]
    internal static partial int StatFs(byte* path, byte* buffer);

    [LibraryImport(LibraryName, EntryPoint = "fstat", SetLastError = true)]
    internal static partial int FStat(int fd, byte* statBuffer);
}
