namespace SockWatch.Core;

/// <summary>
/// TCP states with the kernel's values only, as in include/net/tcp_states.h.
/// Nothing synthetic lives here: node_exporter's tcpstat reuses 12 and 13 for queue counters,
/// which collide with TCP_NEW_SYN_RECV and TCP_BOUND_INACTIVE.
/// </summary>
public enum TcpState : byte
{
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    /// <summary>Request sockets in the hash; sock_diag and /proc report them as <see cref="SynRecv"/>.</summary>
    NewSynRecv = 12,
    /// <summary>A request bit only (Linux 6.8+); such sockets are reported as <see cref="Close"/>.</summary>
    BoundInactive = 13,
}

/// <summary>Where a state sits in the documented lifecycle.</summary>
public enum LifecyclePhase : byte
{
    Listen,
    Handshake,
    Established,
    ActiveClose,
    PassiveClose,
    Closed,
}

/// <summary>Bit masks over states, as the kernel's <c>idiag_states</c> field takes them (1 &lt;&lt; state).</summary>
public static class TcpStateMask
{
    /// <summary>
    /// Every state, bits 1 to 13: the default. The kernel reports request sockets (12) as
    /// syn_recv. Bound-only sockets (13, reported as close) are dumped only when close is asked
    /// for by name; see NetlinkCollector.KernelStateMask.
    /// </summary>
    public const uint All = 0x3FFE;

    public static uint Of(TcpState state) => 1u << (int)state;

    public static uint Of(IEnumerable<TcpState> states)
    {
        ArgumentNullException.ThrowIfNull(states);
        uint mask = 0;
        foreach (var s in states)
        {
            mask |= Of(s);
        }

        return mask;
    }

    public static bool Contains(uint mask, TcpState state) => (mask & Of(state)) != 0;
}
