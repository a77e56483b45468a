using System.Buffers.Binary;
using SockWatch.Core;

namespace SockWatch.Collectors;

/// <summary>
/// Parses lines of /proc/net/tcp and /proc/net/tcp6 (net/ipv4/tcp_ipv4.c tcp4_seq_show,
/// net/ipv6/tcp_ipv6.c tcp6_seq_show). Pure: bytes in, a record out, no allocation.
/// </summary>
/// <remarks>
/// Addresses are printed as host-order u32 words of network-order bytes. On a little-endian
/// host 127.0.0.1 (bytes 7F 00 00 01) prints as <c>0100007F</c>; each IPv6 word flips the same
/// way and the word order is kept, so ::ffff:127.0.0.1 prints as
/// <c>0000000000000000FFFF00000100007F</c>. Decoding writes each parsed word back in the
/// producing host's byte order. Ports are printed in host order already (<c>:1F90</c> = 8080).
/// </remarks>
public static class ProcNetTcpParser
{
    /// <summary>Lines longer than this are not kernel output (tcp4 lines are 149 characters, tcp6 about 180).</summary>
    public const int MaxLineLength = 1024;

    /// <summary>Fields up to the inode; time_wait and request lines stop after 12, full sockets after 17.</summary>
    private const int RequiredFields = 10;

    /// <summary>True when the line is the column header (<c>  sl  local_address ...</c>).</summary>
    public static bool IsHeader(ReadOnlySpan<byte> line)
    {
        var t = line.TrimStart((byte)' ');
        return t.StartsWith("sl "u8) || t.StartsWith("sl\t"u8);
    }

    /// <summary>Parses one data line into <paramref name="record"/>.</summary>
    /// <param name="line">The line without its newline.</param>
    /// <param name="family">The family of the file (tcp: inet, tcp6: inet6).</param>
    /// <param name="littleEndianHost">Byte order of the host that produced the text.</param>
    /// <param name="clockTicksPerSecond">USER_HZ: tm->when is in clock ticks (100 per second on all but alpha).</param>
    public static bool TryParseLine(
        ReadOnlySpan<byte> line,
        SocketFamily family,
        bool littleEndianHost,
        int clockTicksPerSecond,
        ref SocketRecord record)
    {
        if (line.Length > MaxLineLength)
        {
            return false;
        }

        Span<Range> fields = stackalloc Range[RequiredFields];
        var count = SplitFields(line, fields);
        if (count < RequiredFields)
        {
            return false;
        }

        // 1: "sl:" running index.
        var sl = line[fields[0]];
        if (sl.Length < 2 || sl[^1] != (byte)':' || !IsDecimal(sl[..^1]))
        {
            return false;
        }

        record.Family = family;
        var addressDigits = family == SocketFamily.Inet ? 8 : 32;
        if (!TryParseEndpoint(line[fields[1]], addressDigits, littleEndianHost, out record.LocalAddress, out record.LocalPort)
            || !TryParseEndpoint(line[fields[2]], addressDigits, littleEndianHost, out record.RemoteAddress, out record.RemotePort))
        {
            return false;
        }

        // 4: st, %02X.
        if (!TryParseHex(line[fields[3]], 2, out var state) || !Lifecycle.IsDefined((byte)state) || line[fields[3]].Length != 2)
        {
            return false;
        }

        record.State = (TcpState)state;

        // 5: tx_queue:rx_queue, %08X:%08X.
        if (!TrySplitPair(line[fields[4]], out var tx, out var rx)
            || !TryParseHex(tx, 8, out var txQueue) || !TryParseHex(rx, 8, out var rxQueue))
        {
            return false;
        }

        record.TxQueue = (uint)txQueue;
        record.RxQueue = (uint)rxQueue;

        // 6: tr:tm->when, %02X:%08lX; when is in clock ticks, not jiffies and not ms.
        if (!TrySplitPair(line[fields[5]], out var tr, out var when)
            || !TryParseHex(tr, 2, out var timer) || !TryParseHex(when, 16, out var ticks))
        {
            return false;
        }

        record.Timer = (SocketTimer)timer;
        var ms = ticks * 1000UL / (ulong)Math.Max(1, clockTicksPerSecond);
        record.TimerExpiresMs = ms >= uint.MaxValue ? uint.MaxValue : (uint)ms;

        // 7: retrnsmt, %08X. 8: uid, %5u. 9: timeout (icsk_probes_out), %8d. 10: inode, %lu.
        if (!TryParseHex(line[fields[6]], 8, out var retransmits)
            || !TryParseDecimal(line[fields[7]], out var uid) || uid > uint.MaxValue
            || !TryParseSignedDecimal(line[fields[8]])
            || !TryParseDecimal(line[fields[9]], out var inode))
        {
            return false;
        }

        record.Retransmits = (uint)retransmits;
        record.Uid = (uint)uid;
        record.Inode = inode;
        record.HasCookie = false;
        record.Cookie = 0;
        record.Interface = 0;
        record.Shutdown = SocketRecord.ShutdownUnknown;
        return true;
    }

    /// <summary>Splits on spaces; returns how many of the first <paramref name="fields"/>.Length fields exist.</summary>
    internal static int SplitFields(ReadOnlySpan<byte> line, Span<Range> fields)
    {
        var count = 0;
        var i = 0;
        while (count < fields.Length)
        {
            while (i < line.Length && (line[i] == (byte)' ' || line[i] == (byte)'\t'))
            {
                i++;
            }

            if (i >= line.Length)
            {
                break;
            }

            var start = i;
            while (i < line.Length && line[i] != (byte)' ' && line[i] != (byte)'\t')
            {
                i++;
            }

            fields[count++] = new Range(start, i);
        }

        return count;
    }

    private static bool TryParseEndpoint(ReadOnlySpan<byte> text, int addressDigits, bool littleEndianHost, out IpAddressBytes address, out ushort port)
    {
        address = default;
        port = 0;
        if (text.Length != addressDigits + 5 || text[addressDigits] != (byte)':')
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        for (var word = 0; word < addressDigits / 8; word++)
        {
            if (!TryParseHex(text.Slice(word * 8, 8), 8, out var value))
            {
                return false;
            }

            if (littleEndianHost)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes[(word * 4)..], (uint)value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes[(word * 4)..], (uint)value);
            }
        }

        if (!TryParseHex(text[(addressDigits + 1)..], 4, out var p))
        {
            return false;
        }

        address = new IpAddressBytes(bytes);
        port = (ushort)p;
        return true;
    }

    private static bool TrySplitPair(ReadOnlySpan<byte> text, out ReadOnlySpan<byte> left, out ReadOnlySpan<byte> right)
    {
        var colon = text.IndexOf((byte)':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            left = right = default;
            return false;
        }

        left = text[..colon];
        right = text[(colon + 1)..];
        return true;
    }

    private static bool TryParseHex(ReadOnlySpan<byte> text, int maxDigits, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > maxDigits)
        {
            return false;
        }

        foreach (var c in text)
        {
            int digit;
            if (c is >= (byte)'0' and <= (byte)'9')
            {
                digit = c - '0';
            }
            else if (c is >= (byte)'A' and <= (byte)'F')
            {
                digit = c - 'A' + 10;
            }
            else if (c is >= (byte)'a' and <= (byte)'f')
            {
                digit = c - 'a' + 10;
            }
            else
            {
                return false;
            }

            value = (value << 4) | (uint)digit;
        }

        return true;
    }

    private static bool IsDecimal(ReadOnlySpan<byte> text) => TryParseDecimal(text, out _);

    private static bool TryParseDecimal(ReadOnlySpan<byte> text, out ulong value) => Ownership.ProcFs.TryParseDecimal(text, out value);

    private static bool TryParseSignedDecimal(ReadOnlySpan<byte> text) =>
        !text.IsEmpty && TryParseDecimal(text[0] == (byte)'-' ? text[1..] : text, out _);
}
