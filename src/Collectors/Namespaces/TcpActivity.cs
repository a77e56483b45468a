using System.Buffers;
using System.Globalization;
using SockWatch.Collectors.Facts;

namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// A namespace's own TCP counters at one moment: from sockstat, TCP inuse and tw (sockets
/// hashed, time_wait minisockets); from sockstat6, TCP6 inuse; from snmp, every counter of the
/// Tcp MIB but the four constants. All of them are kept per namespace by the kernel (sockstat's
/// orphan, alloc and mem are host-wide, so they are left out: they move with every namespace).
/// </summary>
/// <remarks>
/// Two equal stamps taken some time apart say that in between the namespace received no TCP
/// segment (InSegs counts each one before the socket lookup, time_wait and request sockets
/// included), sent none (OutSegs, RetransSegs, OutRsts: data, pure ACKs, SYNs, FINs, resets,
/// keepalive and window probes), and hashed or unhashed no socket without one of those
/// (inuse, tw, TCP6 inuse). Every state change of a connection comes with a segment or a
/// timer. What moves without them: listeners (listen() and close() of one with no
/// connections; accept() draining an accept queue), bytes an application reads without the
/// kernel sending a window update, and data held by Nagle or TCP_CORK.
/// </remarks>
public readonly record struct TcpActivity(
    long InUse,
    long TimeWait,
    long InUse6,
    long ActiveOpens,
    long PassiveOpens,
    long AttemptFails,
    long EstabResets,
    long CurrEstab,
    long InSegs,
    long OutSegs,
    long RetransSegs,
    long InErrs,
    long OutRsts)
{
    private const int BufferLength = 4096;

    /// <summary>Whether the counters show no hashed socket and no time_wait one (see <see cref="SocketCountHint.ShowsNoSockets(ProcFile, ProcFile)"/>).</summary>
    public bool ShowsNoSockets => InUse == 0 && TimeWait == 0 && InUse6 == 0;

    /// <summary>
    /// Reads the three files (kept open by the caller, bound to the namespace). Null when
    /// sockstat or snmp cannot be read or lacks a counter; sockstat6 may be absent (no IPv6).
    /// </summary>
    public static TcpActivity? Read(ProcFile sockstat, ProcFile sockstat6, ProcFile snmp)
    {
        ArgumentNullException.ThrowIfNull(sockstat);
        ArgumentNullException.ThrowIfNull(sockstat6);
        ArgumentNullException.ThrowIfNull(snmp);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
        try
        {
            var length = sockstat.Read(ref buffer);
            if (length < 0
                || !SocketCountHint.TryParseField(buffer.AsSpan(0, length), "TCP:"u8, "inuse"u8, out var inuse)
                || !SocketCountHint.TryParseField(buffer.AsSpan(0, length), "TCP:"u8, "tw"u8, out var tw))
            {
                return null;
            }

            long inuse6 = 0;
            length = sockstat6.Read(ref buffer);
            if (length < 0 ? File.Exists(sockstat6.Path) : !SocketCountHint.TryParseField(buffer.AsSpan(0, length), "TCP6:"u8, "inuse"u8, out inuse6))
            {
                return null;
            }

            length = snmp.Read(ref buffer);
            return length < 0 ? null : ParseSnmp(buffer.AsSpan(0, length), inuse, tw, inuse6);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The Tcp counters of /proc/net/snmp: a line of names and a line of values, both starting
    /// "Tcp:", matched by name. Null when either line or a counter is missing or not a number.
    /// </summary>
    internal static TcpActivity? ParseSnmp(ReadOnlySpan<byte> snmp, long inuse, long tw, long inuse6)
    {
        ReadOnlySpan<byte> names = default, values = default;
        var found = 0;
        foreach (var range in snmp.Split((byte)'\n'))
        {
            var line = snmp[range];
            if (!line.StartsWith("Tcp:"u8))
            {
                continue;
            }

            if (found++ == 0)
            {
                names = line["Tcp:"u8.Length..];
            }
            else
            {
                values = line["Tcp:"u8.Length..];
                break;
            }
        }

        if (found < 2)
        {
            return null;
        }

        Span<long> counters = stackalloc long[Wanted.Length];
        var seen = 0;
        var valueTokens = values.Split((byte)' ');
        foreach (var n in names.Split((byte)' '))
        {
            if (names[n].IsEmpty)
            {
                continue;
            }

            ReadOnlySpan<byte> value = default;
            while (valueTokens.MoveNext())
            {
                if (!values[valueTokens.Current].IsEmpty)
                {
                    value = values[valueTokens.Current];
                    break;
                }
            }

            var index = IndexOf(names[n]);
            if (index < 0)
            {
                continue;
            }

            // Unsigned in the kernel (InSegs and OutSegs 64-bit): only equality matters here.
            if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var counter))
            {
                return null;
            }

            counters[index] = unchecked((long)counter);

            seen |= 1 << index;
        }

        return seen != (1 << Wanted.Length) - 1 ? null : new TcpActivity(
            inuse, tw, inuse6, counters[0], counters[1], counters[2], counters[3], counters[4], counters[5], counters[6], counters[7], counters[8], counters[9]);
    }

    private static readonly string[] Wanted =
        ["ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts"];

    private static int IndexOf(ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < Wanted.Length; i++)
        {
            if (name.Length == Wanted[i].Length && System.Text.Ascii.Equals(name, Wanted[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
