using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SockWatch.Collectors.Interop;
using SockWatch.Core;
using L = SockWatch.Collectors.Interop.NetlinkLayout;

namespace SockWatch.Collectors;

#pragma warning disable CA1051 // a mutable counter struct passed by ref through the hot loop
/// <summary>Counters for one dump, kept across the datagrams of the dump.</summary>
public struct NetlinkDumpStats
{
    public int Datagrams;
    public int Messages;

    /// <summary>Messages or attributes that could not be decoded, counted and skipped.</summary>
    public int Malformed;

    /// <summary>Messages whose sequence number was not ours (skipped, as ss does).</summary>
    public int Foreign;

    /// <summary>Sockets the dump reported a second time (same cookie), dropped.</summary>
    public int Duplicates;

    /// <summary>The kernel set NLM_F_DUMP_INTR: the dump may be inconsistent.</summary>
    public bool Interrupted;
}

#pragma warning restore CA1051

public enum DumpProgress
{
    More,
    Done,
}

/// <summary>
/// Turns sock_diag reply datagrams into socket records. Pure: bytes in, records out; the I/O
/// lives in <see cref="NetlinkCollector"/>. Errors the kernel reports become a
/// <see cref="CollectorException"/> with the kind set; anything undecodable is counted.
/// </summary>
public static class NetlinkDiagParser
{
    /// <summary>Parses one datagram (one or more netlink messages).</summary>
    /// <returns><see cref="DumpProgress.Done"/> once NLMSG_DONE was seen.</returns>
    public static DumpProgress ParseDatagram(
        ReadOnlySpan<byte> datagram,
        uint sequence,
        SocketTable table,
        ref NetlinkDumpStats stats) => ParseDatagram(datagram, sequence, table, ref stats, seen: null);

    /// <param name="seen">
    /// Cookies already in the table. A dump walks the hash in chunks and resumes by position, so
    /// a socket that moves (to time_wait, which replaces it with a minisocket carrying the same
    /// cookie) can be reported twice: the first report is kept. Checked here, while the record
    /// is still in cache, rather than in a second pass over the table.
    /// </param>
    /// <param name="keepInfoStates">
    /// The states whose tcp_info is kept (a mask of 1 &lt;&lt; state); the rest is dropped, so a
    /// record carries tcp_info exactly where it was asked for, however the dump fetched it.
    /// </param>
    internal static DumpProgress ParseDatagram(
        ReadOnlySpan<byte> datagram,
        uint sequence,
        SocketTable table,
        ref NetlinkDumpStats stats,
        CookieSet? seen,
        uint keepInfoStates = uint.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(table);
        stats.Datagrams++;
        var offset = 0;
        while (datagram.Length - offset >= L.NlMsgHeaderLength)
        {
            var rest = datagram[offset..];
            var length = MemoryMarshal.Read<uint>(rest);
            if (length < L.NlMsgHeaderLength || length > (uint)rest.Length)
            {
                // The header cannot be trusted, so neither can anything after it in this datagram.
                stats.Malformed++;
                return DumpProgress.More;
            }

            var message = rest[..(int)length];
            var type = MemoryMarshal.Read<ushort>(message[4..]);
            var flags = MemoryMarshal.Read<ushort>(message[6..]);
            var seq = MemoryMarshal.Read<uint>(message[8..]);
            offset += L.Align((int)length);

            if (seq != sequence)
            {
                stats.Foreign++;
                continue;
            }

            if ((flags & L.NLM_F_DUMP_INTR) != 0)
            {
                stats.Interrupted = true;
            }

            var payload = message[L.NlMsgHeaderLength..];
            switch (type)
            {
                case L.SOCK_DIAG_BY_FAMILY or L.TCPDIAG_GETSOCK:
                    {
                        stats.Messages++;
                        ref var record = ref table.Append();
                        if (!TryParseSocket(payload, ref record))
                        {
                            table.RemoveLast();
                            stats.Malformed++;
                        }
                        else if (seen is not null && record.HasCookie && !seen.Add(record.Cookie))
                        {
                            table.RemoveLast();
                            stats.Duplicates++;
                        }
                        else if ((keepInfoStates & (1u << (int)record.State)) == 0)
                        {
                            record.TcpInfo = default;
                        }

                        break;
                    }
                case L.NLMSG_DONE:
                    // The payload is an int: 0, or a negative errno when the dump failed midway.
                    if (payload.Length >= 4)
                    {
                        var status = MemoryMarshal.Read<int>(payload);
                        if (status < 0)
                        {
                            ThrowHelper.DumpFailed(-status);
                        }
                    }

                    return DumpProgress.Done;
                case L.NLMSG_ERROR:
                    {
                        // struct nlmsgerr: int error @0 (negative errno; 0 is an ACK), then the request's header.
                        var error = payload.Length >= 4 ? MemoryMarshal.Read<int>(payload) : -Libc.Errno.EINVAL;
                        if (error == 0)
                        {
                            break;
                        }

                        ThrowHelper.DumpRefused(-error);
                        break;
                    }

                case L.NLMSG_OVERRUN:
                    ThrowHelper.DumpFailed(Libc.Errno.ENOBUFS);
                    break;
                default:
                    // NLMSG_NOOP and anything unknown: nothing to do.
                    break;
            }
        }

        if (offset < datagram.Length)
        {
            stats.Malformed++; // trailing bytes shorter than a header
        }

        return DumpProgress.More;
    }

    /// <summary>Decodes a struct inet_diag_msg and its attributes into <paramref name="record"/>.</summary>
    /// <remarks>
    /// The hot path of a 100,000-socket dump. After the one length check every field is an
    /// unaligned read at a fixed offset from one base reference: JIT intrinsics that the
    /// ReadyToRun image inlines, where span slicing and MemoryMarshal.Read cost a call each
    /// across the framework's version bubble.
    /// </remarks>
    public static bool TryParseSocket(ReadOnlySpan<byte> payload, ref SocketRecord record)
    {
        if (payload.Length < L.InetDiagMsgLength)
        {
            return false;
        }

        ref var m = ref MemoryMarshal.GetReference(payload);
        var family = m;
        var state = Unsafe.Add(ref m, L.MsgState);
        if (family is not (Libc.AddressFamilies.AF_INET or Libc.AddressFamilies.AF_INET6) || state is < 1 or > 13)
        {
            return false;
        }

        record.Family = (SocketFamily)family;
        record.State = (TcpState)state;
        record.Timer = (SocketTimer)Unsafe.Add(ref m, L.MsgTimer);
        record.Retransmits = Unsafe.Add(ref m, L.MsgRetrans);
        record.LocalPort = BigEndian16(Read<ushort>(ref m, L.MsgSport));
        record.RemotePort = BigEndian16(Read<ushort>(ref m, L.MsgDport));
        if (family == Libc.AddressFamilies.AF_INET)
        {
            // IPv4 uses the first four bytes; the kernel zeroes the rest, but do not rely on it.
            record.LocalAddress = IpAddressBytes.FromIpv4Raw(Read<uint>(ref m, L.MsgSrc));
            record.RemoteAddress = IpAddressBytes.FromIpv4Raw(Read<uint>(ref m, L.MsgDst));
        }
        else
        {
            record.LocalAddress = Read<IpAddressBytes>(ref m, L.MsgSrc);
            record.RemoteAddress = Read<IpAddressBytes>(ref m, L.MsgDst);
        }

        record.Interface = Read<uint>(ref m, L.MsgIf);
        var cookieLow = Read<uint>(ref m, L.MsgCookie);
        var cookieHigh = Read<uint>(ref m, L.MsgCookie + 4);
        record.HasCookie = !(cookieLow == L.INET_DIAG_NOCOOKIE && cookieHigh == L.INET_DIAG_NOCOOKIE);
        record.Cookie = record.HasCookie ? cookieLow | ((ulong)cookieHigh << 32) : 0;

        // Old kernels computed expires without a clamp, so a timer already due could show as a
        // huge u32: anything at or above 2^31 is treated as 0.
        var expires = Read<uint>(ref m, L.MsgExpires);
        record.TimerExpiresMs = expires >= 0x8000_0000u ? 0 : expires;
        record.RxQueue = Read<uint>(ref m, L.MsgRqueue);
        record.TxQueue = Read<uint>(ref m, L.MsgWqueue);
        record.Uid = Read<uint>(ref m, L.MsgUid);
        record.Inode = Read<uint>(ref m, L.MsgInode);
        record.Shutdown = SocketRecord.ShutdownUnknown;

        if (payload.Length > L.InetDiagMsgLength)
        {
            ParseAttributes(payload[L.InetDiagMsgLength..], ref record);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Read<T>(ref byte start, int offset)
        where T : unmanaged => Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref start, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort BigEndian16(ushort raw) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(raw) : raw;

    private static void ParseAttributes(ReadOnlySpan<byte> attributes, ref SocketRecord record)
    {
        while (attributes.Length >= L.RtAttrHeaderLength)
        {
            var length = MemoryMarshal.Read<ushort>(attributes);
            var type = (ushort)(MemoryMarshal.Read<ushort>(attributes[2..]) & L.NlaTypeMask);
            if (length < L.RtAttrHeaderLength || length > attributes.Length)
            {
                return; // a broken attribute ends the walk; the fixed part is still good
            }

            var value = attributes[L.RtAttrHeaderLength..length];
            switch (type)
            {
                case L.INET_DIAG_SHUTDOWN when value.Length >= 1:
                    record.Shutdown = value[0];
                    break;
                case L.INET_DIAG_CGROUP_ID when value.Length >= 8:
                    record.CgroupId = MemoryMarshal.Read<ulong>(value);
                    break;
                case L.INET_DIAG_INFO:
                    ParseTcpInfo(value, ref record.TcpInfo);
                    break;
                default:
                    break; // unknown types are skipped: the list grows with every kernel
            }

            var advance = L.Align(length);
            if (advance >= attributes.Length)
            {
                return;
            }

            attributes = attributes[advance..];
        }
    }

    /// <summary>Reads tcp_info fields only within the payload the running kernel sent.</summary>
    internal static void ParseTcpInfo(ReadOnlySpan<byte> info, ref TcpInfoSummary summary)
    {
        summary = default;
        summary.Length = (ushort)Math.Min(info.Length, ushort.MaxValue);
        summary.LastDataSentMs = ReadU32(info, L.TcpiLastDataSent);
        summary.LastDataReceivedMs = ReadU32(info, L.TcpiLastDataRecv);
        summary.LastAckReceivedMs = ReadU32(info, L.TcpiLastAckRecv);
        summary.RttMicroseconds = ReadU32(info, L.TcpiRtt);
        summary.TotalRetransmits = ReadU32(info, L.TcpiTotalRetrans);
    }

    private static uint ReadU32(ReadOnlySpan<byte> span, int offset) =>
        span.Length >= offset + 4 ? MemoryMarshal.Read<uint>(span[offset..]) : TcpInfoSummary.Absent;

    private static class ThrowHelper
    {
        /// <summary>
        /// The kernel sends -errno with errno in 1..MAX_ERRNO (include/linux/err.h). Any other
        /// value in NLMSG_ERROR or NLMSG_DONE (positive, below -4095, or int.MinValue, which has no negation)
        /// is not an errno: it is reported as EPROTO, so that Errno stays positive and the reason
        /// label keeps a bounded set of values. Found by fuzzing (tests/Collectors.Tests/Fuzzing).
        /// </summary>
        private const int MaxErrno = 4095;

        private const int EPROTO = 71;

        [DoesNotReturn]
        public static void DumpFailed(int errno)
        {
            errno = errno is > 0 and <= MaxErrno ? errno : EPROTO;
            throw new CollectorException(
                NetlinkCollector.CollectorName,
                CollectorErrorKind.DumpFailed,
                errno,
                $"sock_diag dump failed midway ({CollectorException.Describe(errno)})");
        }

        [DoesNotReturn]
        public static void DumpRefused(int errno)
        {
            errno = errno is > 0 and <= MaxErrno ? errno : EPROTO;
            throw new CollectorException(
                NetlinkCollector.CollectorName,
                CollectorErrorKind.DumpRefused,
                errno,
                $"the kernel refused the sock_diag dump ({CollectorException.Describe(errno)})");
        }
    }
}
