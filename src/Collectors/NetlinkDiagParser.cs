using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
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
        ref NetlinkDumpStats stats)
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
                case L.SOCK_DIAG_BY_FAMILY:
                    stats.Messages++;
                    if (!TryParseSocket(payload, ref table.Append()))
                    {
                        table.RemoveLast();
                        stats.Malformed++;
                    }

                    break;
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
    public static bool TryParseSocket(ReadOnlySpan<byte> payload, ref SocketRecord record)
    {
        if (payload.Length < L.InetDiagMsgLength)
        {
            return false;
        }

        var family = payload[L.MsgFamily];
        var state = payload[L.MsgState];
        if (family is not (Libc.AddressFamilies.AF_INET or Libc.AddressFamilies.AF_INET6) || !Lifecycle.IsDefined(state))
        {
            return false;
        }

        record.Family = (SocketFamily)family;
        record.State = (TcpState)state;
        record.Timer = (SocketTimer)payload[L.MsgTimer];
        record.Retransmits = payload[L.MsgRetrans];
        record.LocalPort = BinaryPrimitives.ReadUInt16BigEndian(payload[L.MsgSport..]);
        record.RemotePort = BinaryPrimitives.ReadUInt16BigEndian(payload[L.MsgDport..]);
        if (family == Libc.AddressFamilies.AF_INET)
        {
            // IPv4 uses the first four bytes; the kernel zeroes the rest, but do not rely on it.
            record.LocalAddress = new IpAddressBytes(payload.Slice(L.MsgSrc, 4));
            record.RemoteAddress = new IpAddressBytes(payload.Slice(L.MsgDst, 4));
        }
        else
        {
            record.LocalAddress = IpAddressBytes.FromRaw16(payload.Slice(L.MsgSrc, 16));
            record.RemoteAddress = IpAddressBytes.FromRaw16(payload.Slice(L.MsgDst, 16));
        }

        record.Interface = MemoryMarshal.Read<uint>(payload[L.MsgIf..]);
        var cookieLow = MemoryMarshal.Read<uint>(payload[L.MsgCookie..]);
        var cookieHigh = MemoryMarshal.Read<uint>(payload[(L.MsgCookie + 4)..]);
        record.HasCookie = !(cookieLow == L.INET_DIAG_NOCOOKIE && cookieHigh == L.INET_DIAG_NOCOOKIE);
        record.Cookie = record.HasCookie ? cookieLow | ((ulong)cookieHigh << 32) : 0;

        // Old kernels computed expires without a clamp, so a timer already due could show as a
        // huge u32: anything at or above 2^31 is treated as 0.
        var expires = MemoryMarshal.Read<uint>(payload[L.MsgExpires..]);
        record.TimerExpiresMs = expires >= 0x8000_0000u ? 0 : expires;
        record.RxQueue = MemoryMarshal.Read<uint>(payload[L.MsgRqueue..]);
        record.TxQueue = MemoryMarshal.Read<uint>(payload[L.MsgWqueue..]);
        record.Uid = MemoryMarshal.Read<uint>(payload[L.MsgUid..]);
        record.Inode = MemoryMarshal.Read<uint>(payload[L.MsgInode..]);
        record.Shutdown = SocketRecord.ShutdownUnknown;

        ParseAttributes(payload[L.InetDiagMsgLength..], ref record);
        return true;
    }

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
        summary.BytesAcked = ReadU64(info, L.TcpiBytesAcked);
        summary.BytesReceived = ReadU64(info, L.TcpiBytesReceived);
    }

    private static uint ReadU32(ReadOnlySpan<byte> span, int offset) =>
        span.Length >= offset + 4 ? MemoryMarshal.Read<uint>(span[offset..]) : TcpInfoSummary.Absent;

    private static ulong ReadU64(ReadOnlySpan<byte> span, int offset) =>
        span.Length >= offset + 8 ? MemoryMarshal.Read<ulong>(span[offset..]) : ulong.MaxValue;

    private static class ThrowHelper
    {
        [DoesNotReturn]
        public static void DumpFailed(int errno) =>
            throw new CollectorException(
                NetlinkCollector.CollectorName,
                CollectorErrorKind.DumpFailed,
                errno,
                $"sock_diag dump failed midway ({CollectorException.Describe(errno)})");

        [DoesNotReturn]
        public static void DumpRefused(int errno) =>
            throw new CollectorException(
                NetlinkCollector.CollectorName,
                CollectorErrorKind.DumpRefused,
                errno,
                $"the kernel refused the sock_diag dump ({CollectorException.Describe(errno)})");
    }
}
