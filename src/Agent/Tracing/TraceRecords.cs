using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Core;

namespace SockWatch.Agent.Tracing;

// The map keys, values and ring-buffer record of bpf/sockwatch.bpf.c, byte for byte (host byte
// order; the ports in host order, the addresses as the kernel holds them, network order).

/// <summary>
/// struct netstats, one CPU's copy: changes per (from, to), log2 slots of the time spent in each
/// state and their sum, resets per (state, direction). Read as raw bytes; these are its offsets.
/// </summary>
internal static class NetStatsLayout
{
    /// <summary>States the arrays hold (0 to 15).</summary>
    public const int States = 16;

    /// <summary>Log2 slots a state's histogram holds (slot k: [2^(k-1), 2^k) ns; slot 0: zero).</summary>
    public const int Slots = 64;

    public const int ChangesOffset = 0;
    public const int SlotsOffset = ChangesOffset + (States * States * sizeof(ulong));
    public const int SumOffset = SlotsOffset + (States * Slots * sizeof(ulong));
    public const int ResetsOffset = SumOffset + (States * sizeof(ulong));

    /// <summary>The value's size in bytes (a multiple of 8: per-CPU values are packed at that size).</summary>
    public const int Size = ResetsOffset + (States * 2 * sizeof(ulong));
}

/// <summary>
/// The socket table (<c>sockets</c>): <see cref="Sets"/> sets of <see cref="Ways"/> sockets, a
/// set being the cookies of its ways, then their entry times, each with the state entered in its
/// low 4 bits (<see cref="StateBits"/>).
/// </summary>
internal static class SocketTableLayout
{
    public const uint Sets = 65536;
    public const int Ways = 4;
    public const ulong StateBits = 0xf;

    /// <summary>The set of a cookie: the high bits of a Fibonacci hash, as the program takes it.</summary>
    public static uint SetOf(ulong cookie) => (uint)((cookie * 0x9E3779B97F4A7C15UL) >> 48) & (Sets - 1);

    /// <summary>
    /// When the socket <paramref name="cookie"/> entered <paramref name="state"/>, from its set
    /// (<see cref="Ways"/> cookies, then as many entry times); false when the set does not hold it
    /// or holds it in another state.
    /// </summary>
    public static bool TryEntry(ReadOnlySpan<ulong> set, ulong cookie, TcpState state, out long enteredNs)
    {
        for (var w = 0; w < Ways; w++)
        {
            var at = set[Ways + w];
            if (set[w] == cookie && (at & StateBits) == (ulong)state)
            {
                enteredNs = (long)(at & ~StateBits);
                return true;
            }
        }

        enteredNs = 0;
        return false;
    }
}

/// <summary>The key of <c>close_delays</c>: an application, by namespace and comm.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DelayKey
{
    public uint Netns;
    public uint Pad;
    public Comm Comm;
}

[StructLayout(LayoutKind.Sequential)]
internal struct OpenKey
{
    public uint Netns;
    public uint Direction;
    public ulong Cgroup;
    public Comm Comm;
}

[StructLayout(LayoutKind.Sequential)]
internal struct PeerKey
{
    public uint Netns;
    public ushort Port;
    public ushort Family;
    public Address16 Address;
}

/// <summary>A task's comm: 16 bytes, NUL-padded.</summary>
[InlineArray(16)]
internal struct Comm
{
    private byte _element;

    public readonly string Text()
    {
        ReadOnlySpan<byte> bytes = this;
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}

/// <summary>An IPv4 (first 4 bytes) or IPv6 address, network byte order.</summary>
[InlineArray(16)]
internal struct Address16
{
    private byte _element;

    public readonly IPAddress ToAddress(ushort family)
    {
        ReadOnlySpan<byte> bytes = this;
        return family == (ushort)AddressFamily.InterNetworkV6 ? new IPAddress(bytes) : new IPAddress(bytes[..4]);
    }
}

/// <summary>struct event of the ring buffer: one state change of one socket (96 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TraceRecord
{
    /// <summary>bpf_ktime_get_ns: CLOCK_MONOTONIC in ns, the clock of <see cref="System.Diagnostics.Stopwatch"/> on Linux.</summary>
    public long AtNs;

    /// <summary>Time spent in <see cref="From"/>; 0 when its entry was not seen.</summary>
    public long InStateNs;

    /// <summary>The socket's cookie: its identity for its life, the one sock_diag reports.</summary>
    public ulong Socket;
    public ulong Cgroup;
    public uint Netns;

    /// <summary>The owner's process id (from process context); 0 when unknown.</summary>
    public int Pid;
    public ushort Family;
    public ushort LocalPort;
    public ushort RemotePort;
    public byte FromValue;
    public byte ToValue;
    public Address16 Local;
    public Address16 Remote;
    public Comm Comm;

    public readonly TcpState From => (TcpState)FromValue;

    public readonly TcpState To => (TcpState)ToValue;

    public readonly bool IsV6 => Family == (ushort)AddressFamily.InterNetworkV6;
}

/// <summary>The direction of a reset and of an opened connection, as the program numbers them.</summary>
internal static class TraceDirections
{
    public static string ResetName(byte direction) => direction == 0 ? "sent" : "received";

    public static string OpenName(uint direction) => direction == 0 ? "active" : "passive";
}
