namespace SockWatch.Core;

/// <summary>
/// The legal-transition relation. Direct edges are RFC 9293's state diagram (section 3.3.2)
/// plus Linux's shortcuts; an observed pair A->B is legal when B is reachable from A, because
/// polls skip states. Anything else (close_wait -> established) is an anomaly.
/// </summary>
/// <remarks>
/// Reachability never passes through close: close ends a connection's life, and a socket that
/// connects again after close is a new life (a tracker sees a new cookie). Without that rule
/// every state would reach every other through close -> syn_sent, and nothing could be an
/// anomaly. A pair with the same state on both sides is "no transition" and always legal.
/// </remarks>
public static class TcpTransitions
{
    private const int Count = 14; // index = kernel value; 0 unused

    private static readonly (TcpState From, TcpState To)[] Edges =
    [
        // Opens: a closed (or bound-only) socket listens or connects.
        (TcpState.Close, TcpState.Listen),
        (TcpState.Close, TcpState.SynSent),
        (TcpState.BoundInactive, TcpState.Listen),
        (TcpState.BoundInactive, TcpState.SynSent),
        (TcpState.BoundInactive, TcpState.Close),

        // Handshake (RFC 9293): LISTEN rcv SYN -> SYN-RECEIVED; LISTEN send -> SYN-SENT;
        // SYN-SENT rcv SYN (simultaneous open) -> SYN-RECEIVED; rcv SYN,ACK -> ESTABLISHED;
        // SYN-RECEIVED rcv ACK -> ESTABLISHED, close -> FIN-WAIT-1, RST (passive) -> LISTEN.
        (TcpState.Listen, TcpState.SynRecv),
        (TcpState.Listen, TcpState.SynSent),
        (TcpState.SynSent, TcpState.SynRecv),
        (TcpState.SynSent, TcpState.Established),
        (TcpState.SynRecv, TcpState.Established),
        (TcpState.SynRecv, TcpState.FinWait1),
        (TcpState.SynRecv, TcpState.Listen),

        // Linux request sockets (TCP_NEW_SYN_RECV) become full sockets: a TFO child in
        // syn_recv, or an accepted child in established.
        (TcpState.NewSynRecv, TcpState.SynRecv),
        (TcpState.NewSynRecv, TcpState.Established),

        // Active close: ESTABLISHED close -> FIN-WAIT-1 -> (ACK) FIN-WAIT-2 -> (FIN) TIME-WAIT;
        // FIN-WAIT-1 rcv FIN -> CLOSING -> (ACK) TIME-WAIT. Linux shortcut: FIN-WAIT-1 straight
        // to TIME-WAIT when the FIN and the ACK of our FIN arrive together.
        (TcpState.Established, TcpState.FinWait1),
        (TcpState.FinWait1, TcpState.FinWait2),
        (TcpState.FinWait1, TcpState.Closing),
        (TcpState.FinWait1, TcpState.TimeWait),
        (TcpState.FinWait2, TcpState.TimeWait),
        (TcpState.Closing, TcpState.TimeWait),

        // Passive close: ESTABLISHED rcv FIN -> CLOSE-WAIT -> (close) LAST-ACK -> (ACK) CLOSED.
        (TcpState.Established, TcpState.CloseWait),
        (TcpState.CloseWait, TcpState.LastAck),
        (TcpState.LastAck, TcpState.Close),
        (TcpState.TimeWait, TcpState.Close),

        // Linux: a reset (or an abort, or an orphaned fin_wait2 timing out) closes from any state.
        (TcpState.Listen, TcpState.Close),
        (TcpState.SynSent, TcpState.Close),
        (TcpState.SynRecv, TcpState.Close),
        (TcpState.NewSynRecv, TcpState.Close),
        (TcpState.Established, TcpState.Close),
        (TcpState.FinWait1, TcpState.Close),
        (TcpState.FinWait2, TcpState.Close),
        (TcpState.Closing, TcpState.Close),
        (TcpState.CloseWait, TcpState.Close),
    ];

    private static readonly bool[,] Reachable = Compute();

    /// <summary>The direct edges, for documentation and tests.</summary>
    public static IReadOnlyList<(TcpState From, TcpState To)> DirectEdges => Edges;

    /// <summary>True when a poll may legally see <paramref name="from"/> followed by <paramref name="to"/>.</summary>
    public static bool IsLegal(TcpState from, TcpState to)
    {
        int f = (int)from, t = (int)to;
        if (f is < 1 or >= Count || t is < 1 or >= Count)
        {
            return false;
        }

        return f == t || Reachable[f, t];
    }

    private static bool[,] Compute()
    {
        var adjacency = new List<int>[Count];
        for (var i = 0; i < Count; i++)
        {
            adjacency[i] = [];
        }

        foreach (var (from, to) in Edges)
        {
            adjacency[(int)from].Add((int)to);
        }

        var result = new bool[Count, Count];
        var stack = new Stack<int>();
        for (var start = 1; start < Count; start++)
        {
            var seen = new bool[Count];
            stack.Push(start);
            while (stack.Count > 0)
            {
                var node = stack.Pop();
                foreach (var next in adjacency[node])
                {
                    if (seen[next])
                    {
                        continue;
                    }

                    seen[next] = true;
                    result[start, next] = true;

                    // close ends a life: never walk on through it (see remarks).
                    if (next != (int)TcpState.Close)
                    {
                        stack.Push(next);
                    }
                }
            }
        }

        return result;
    }
}
