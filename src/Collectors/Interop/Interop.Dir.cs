using System.Runtime.InteropServices;

namespace SockWatch.Collectors.Interop;

/// <summary>
/// Directory walking and link reading through libc, for /proc/PID/fd: scanning 100,000
/// descriptors must not cost a managed string per descriptor, so entries are read as bytes
/// (readdir) and links resolved relative to the open directory (readlinkat).
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>
    /// struct dirent of glibc on 64-bit Linux (x86_64 and arm64 alike): d_ino u64 @0, d_off
    /// i64 @8, d_reclen u16 @16, d_type u8 @18, d_name char[256] @19, NUL-terminated.
    /// </summary>
    internal static class DirentLayout
    {
        public const int NameOffset = 19;
        public const int TypeOffset = 18;
    }

    internal static class AtFlags
    {
        public const int AT_SYMLINK_NOFOLLOW = 0x100;
    }

    /// <summary>
    /// struct stat: st_size is at offset 48 on both x86_64 and the generic layout (arm64);
    /// the buffer is larger than either struct (144 and 128 bytes).
    /// </summary>
    internal static class StatLayout
    {
        public const int Size = 256;
        public const int StSizeOffset = 48;
    }

    [LibraryImport(LibraryName, EntryPoint = "opendir", SetLastError = true)]
    internal static partial nint OpenDir(byte* path);

    [LibraryImport(LibraryName, EntryPoint = "readdir", SetLastError = true)]
    internal static partial byte* ReadDir(nint dir);

    [LibraryImport(LibraryName, EntryPoint = "closedir", SetLastError = true)]
    internal static partial int CloseDir(nint dir);

    [LibraryImport(LibraryName, EntryPoint = "dirfd", SetLastError = true)]
    internal static partial int DirFd(nint dir);

    [LibraryImport(LibraryName, EntryPoint = "readlinkat", SetLastError = true)]
    internal static partial nint ReadLinkAt(int dirFd, byte* path, byte* buffer, nuint size);

    [LibraryImport(LibraryName, EntryPoint = "fstatat", SetLastError = true)]
    internal static partial int FStatAt(int dirFd, byte* path, byte* statBuffer, int flags);

    [LibraryImport(LibraryName, EntryPoint = "geteuid")]
    internal static partial uint GetEuid();

    internal const int AT_FDCWD = -100;
}

internal static unsafe partial class Libc
{
    internal const int O_RDONLY = 0;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_DIRECTORY = 0x10000;

    [LibraryImport(LibraryName, EntryPoint = "open", SetLastError = true)]
    internal static partial int Open(byte* path, int flags);

    [LibraryImport(LibraryName, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nuint count);
}
