using System.Runtime.InteropServices;

namespace SockWatch.Collectors.Interop;

/// <summary>
/// A NETLINK_SOCK_DIAG socket. The socket belongs to the network namespace of the thread that
/// opened it, for its whole life, whichever thread later uses it.
/// </summary>
internal sealed unsafe class NetlinkSocket : IDisposable
{
    /// <summary>
    /// A dump is driven by our reads and the kernel answers within milliseconds; a receive that
    /// waits this long means the request was lost (a request without NLM_F_REQUEST gets no
    /// reply at all), and a poll loop must not hang on it forever.
    /// </summary>
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(10);

    private readonly SafeFileDescriptor _fd;

    private NetlinkSocket(SafeFileDescriptor fd, uint portId)
    {
        _fd = fd;
        PortId = portId;
    }

    /// <summary>The port id the kernel bound us to; replies carry it in nlmsg_pid.</summary>
    public uint PortId { get; }

    public static NetlinkSocket Open()
    {
        var raw = Libc.Socket(
            Libc.AddressFamilies.AF_NETLINK,
            Libc.SocketTypes.SOCK_RAW | Libc.SocketTypes.SOCK_CLOEXEC,
            NetlinkLayout.NETLINK_SOCK_DIAG);
        if (raw < 0)
        {
            throw SyscallError("socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)", Marshal.GetLastPInvokeError());
        }

        var fd = new SafeFileDescriptor(raw);
        try
        {
            // struct timeval { long tv_sec; long tv_usec; } on 64-bit Linux.
            var timeout = stackalloc long[2];
            timeout[0] = (long)ReceiveTimeout.TotalSeconds;
            timeout[1] = 0;
            if (Libc.SetSockOpt(fd, Libc.SocketOptions.SOL_SOCKET, Libc.SocketOptions.SO_RCVTIMEO, timeout, (uint)(sizeof(long) * 2)) != 0)
            {
                throw SyscallError("setsockopt(SO_RCVTIMEO)", Marshal.GetLastPInvokeError());
            }

            var address = stackalloc byte[NetlinkLayout.SockAddrNlLength];
            new Span<byte>(address, NetlinkLayout.SockAddrNlLength).Clear();
            *(ushort*)address = Libc.AddressFamilies.AF_NETLINK;
            if (Libc.Bind(fd, address, NetlinkLayout.SockAddrNlLength) != 0)
            {
                throw SyscallError("bind(AF_NETLINK)", Marshal.GetLastPInvokeError());
            }

            uint length = NetlinkLayout.SockAddrNlLength;
            if (Libc.GetSockName(fd, address, &length) != 0)
            {
                throw SyscallError("getsockname(AF_NETLINK)", Marshal.GetLastPInvokeError());
            }

            return new NetlinkSocket(fd, *(uint*)(address + 4));
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Sends one request to the kernel (port 0), retrying on EINTR.</summary>
    public void Send(ReadOnlySpan<byte> request)
    {
        var kernel = stackalloc byte[NetlinkLayout.SockAddrNlLength];
        new Span<byte>(kernel, NetlinkLayout.SockAddrNlLength).Clear();
        *(ushort*)kernel = Libc.AddressFamilies.AF_NETLINK;
        fixed (byte* buffer = request)
        {
            while (true)
            {
                var sent = Libc.SendTo(_fd, buffer, (nuint)request.Length, 0, kernel, NetlinkLayout.SockAddrNlLength);
                if (sent >= 0)
                {
                    return;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.Errno.EINTR)
                {
                    throw SyscallError("sendto(sock_diag request)", errno);
                }
            }
        }
    }

    /// <summary>
    /// Receives one datagram. Returns the real datagram length (MSG_TRUNC), which is larger
    /// than the buffer when the datagram did not fit and its tail was discarded.
    /// </summary>
    public int Receive(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.Recv(_fd, p, (nuint)buffer.Length, Libc.MessageFlags.MSG_TRUNC);
                if (n >= 0)
                {
                    return (int)n;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.Errno.EINTR)
                {
                    continue;
                }

                if (errno == Libc.Errno.EAGAIN)
                {
                    throw new CollectorException(
                        NetlinkCollector.CollectorName,
                        CollectorErrorKind.Timeout,
                        errno,
                        $"sock_diag dump: no answer from the kernel within {ReceiveTimeout.TotalSeconds:0} s");
                }

                throw SyscallError("recv(sock_diag dump)", errno);
            }
        }
    }

    public void Dispose() => _fd.Dispose();

    private static CollectorException SyscallError(string operation, int errno) =>
        new(NetlinkCollector.CollectorName, CollectorErrorKind.Syscall, errno, $"{operation} failed ({CollectorException.Describe(errno)})");
}
