using System.Runtime.InteropServices;

namespace SockWatch.Collectors.Interop;

/// <summary>
/// libc entry points for netlink. .NET's Socket refuses AF_NETLINK (SocketException 97), so
/// the socket is opened and read through libc directly. Every import sets errno; callers go
/// through the wrappers in <see cref="NetlinkSocket"/>, which turn errno into typed errors.
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    internal static class AddressFamilies
    {
        public const int AF_INET = 2;
        public const int AF_INET6 = 10;
        public const int AF_NETLINK = 16;
    }

    internal static class SocketTypes
    {
        /// <summary>SOCK_RAW is 3 on every architecture (SOCK_DGRAM is 1 on MIPS).</summary>
        public const int SOCK_RAW = 3;

        /// <summary>0x80000 (= O_CLOEXEC) on x86, arm and most others; differs on alpha, parisc and sparc.</summary>
        public const int SOCK_CLOEXEC = 0x80000;
    }

    internal static class SocketOptions
    {
        public const int SOL_SOCKET = 1;
        public const int SO_RCVBUF = 8;
        public const int SO_RCVTIMEO = 20;
    }

    internal static class MessageFlags
    {
        /// <summary>With MSG_TRUNC, recv returns the real datagram length even when it exceeds the buffer.</summary>
        public const int MSG_TRUNC = 0x20;
    }

    internal static class Errno
    {
        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int EINTR = 4;
        public const int EAGAIN = 11;
        public const int EBUSY = 16;
        public const int EINVAL = 22;
        public const int EPROTONOSUPPORT = 93;
        public const int EAFNOSUPPORT = 97;
        public const int ENOBUFS = 105;
    }

    internal static class Sysconf
    {
        public const int _SC_CLK_TCK = 2;
    }

    [LibraryImport(LibraryName, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(LibraryName, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(LibraryName, EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(SafeFileDescriptor fd, void* address, uint addressLength);

    [LibraryImport(LibraryName, EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(SafeFileDescriptor fd, void* address, uint* addressLength);

    [LibraryImport(LibraryName, EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(SafeFileDescriptor fd, int level, int name, void* value, uint length);

    [LibraryImport(LibraryName, EntryPoint = "sendto", SetLastError = true)]
    internal static partial nint SendTo(SafeFileDescriptor fd, void* buffer, nuint length, int flags, void* address, uint addressLength);

    [LibraryImport(LibraryName, EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(SafeFileDescriptor fd, void* buffer, nuint length, int flags);

    [LibraryImport(LibraryName, EntryPoint = "sysconf", SetLastError = true)]
    internal static partial long SysConf(int name);
}
