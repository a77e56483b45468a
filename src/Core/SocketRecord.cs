namespace SockWatch.Core;

// Socket records are plain data filled in place through `ref` by the parsers, one per socket,
// 100,000 per poll: fields, not properties, so a parser writes straight into the table's array.
#pragma warning disable CA1051

/// <summary>Timer codes as sock_diag and /proc report them (include/uapi/linux/inet_diag.h).</summary>
public enum SocketTimer : byte
{
    Off = 0,
    /// <summary>Retransmit, RTO-reorder or tail-loss probe; every request socket.</summary>
    Retransmit = 1,
    /// <summary>Keepalive; also the fin_wait2 timer of orphans when tcp_fin_timeout is over 60 s.</summary>
    Keepalive = 2,
    /// <summary>Every time_wait minisocket, including the fin_wait2 substate.</summary>
    TimeWait = 3,
    /// <summary>Zero-window probe.</summary>
    Probe0 = 4,
    /// <summary>Delayed ACK (kernels after 6.18 only).</summary>
    DelayedAck = 5,
}

/// <summary>
/// The few tcp_info fields SockWatch uses, read only within the attribute's length. A field
/// the running kernel did not send stays at <see cref="Absent"/>.
/// </summary>
public struct TcpInfoSummary
{
    public const uint Absent = uint.MaxValue;

    public uint LastDataSentMs;
    public uint LastDataReceivedMs;
    public uint LastAckReceivedMs;
    public uint RttMicroseconds;
    public uint TotalRetransmits;

    /// <summary>Payload length of the INET_DIAG_INFO attribute (0: not present).</summary>
    public ushort Length;

    public readonly bool IsPresent => Length > 0;
}

/// <summary>
/// One TCP socket as the kernel reported it. A struct with no references: a table of 100,000
/// costs one array, reused across polls. Fields are ordered by size so the struct packs into
/// 120 bytes (136 with a naive order); at 100,000 sockets every byte per record is 100 KB to fault in and copy.
/// </summary>
public struct SocketRecord
{
    public const byte ShutdownUnknown = 0xFF;

    public IpAddressBytes LocalAddress;
    public IpAddressBytes RemoteAddress;

    /// <summary>Socket inode; 0 when no struct socket is attached (time_wait, requests, orphans).</summary>
    public ulong Inode;

    /// <summary>The socket cookie; only when <see cref="HasCookie"/> (netlink).</summary>
    public ulong Cookie;

    /// <summary>cgroup v2 id of the socket (INET_DIAG_CGROUP_ID); 0 when unknown.</summary>
    public ulong CgroupId;

    /// <summary>Bound interface index (0 if none; /proc does not report it).</summary>
    public uint Interface;

    /// <summary>Milliseconds until the timer fires (from /proc: clock ticks converted).</summary>
    public uint TimerExpiresMs;

    /// <summary>Retransmits (timer 1) or unanswered probes (timers 2 and 4), as sock_diag defines it; /proc's retrnsmt column.</summary>
    public uint Retransmits;

    /// <summary>Listen: the accept queue. Otherwise bytes received and not yet read (a FIN counts as one).</summary>
    public uint RxQueue;

    /// <summary>Listen (netlink only): the backlog. Otherwise bytes not yet acknowledged.</summary>
    public uint TxQueue;
    public uint Uid;
    public ushort LocalPort;
    public ushort RemotePort;
    public SocketFamily Family;
    public TcpState State;
    public SocketTimer Timer;

    /// <summary>Shutdown bits (bit 0: receive side shut, peer's FIN seen; bit 1: send side); <see cref="ShutdownUnknown"/> when not reported.</summary>
    public byte Shutdown;
    public bool HasCookie;
    public TcpInfoSummary TcpInfo;

    public readonly LifecycleEntry Lifecycle => SockWatch.Core.Lifecycle.Of(State);
}
