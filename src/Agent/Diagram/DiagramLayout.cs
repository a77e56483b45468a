using SockWatch.Core;

namespace SockWatch.Agent.Diagram;

/// <summary>A state's place in the drawn diagram: a column and a row of a grid (halves allowed).</summary>
internal readonly record struct DiagramNode(LifecycleEntry Entry, double Column, int Row);

/// <summary>
/// The TCP state diagram as laid out by the page and by <c>snapshot --format diagram</c>: the
/// handshake on top, established in the middle, the active close on the left, the passive close
/// on the right, close at the bottom. The places are chosen so that every edge is a straight
/// line that passes beside the states between its ends (fin_wait1 to time_wait runs between
/// fin_wait2 and closing). The words come from <see cref="Lifecycle"/>, the edges from
/// <see cref="TcpTransitions"/>; this class only says where each goes.
/// </summary>
internal static class DiagramLayout
{
    /// <summary>Columns of the grid (0 to 3).</summary>
    public const int Columns = 4;

    /// <summary>Rows of the grid (0 to 6).</summary>
    public const int Rows = 7;

    /// <summary>
    /// The eleven states a dump reports. new_syn_recv and bound_inactive are left out: the kernel
    /// reports them as syn_recv and close, so no count of theirs is ever seen.
    /// </summary>
    public static IReadOnlyList<DiagramNode> Nodes { get; } =
    [
        Node(TcpState.Listen, 0.5, 0),
        Node(TcpState.SynSent, 2.5, 0),
        Node(TcpState.SynRecv, 0.5, 1),
        Node(TcpState.Established, 1.5, 2),
        Node(TcpState.FinWait1, 0, 3),
        Node(TcpState.CloseWait, 3, 3),
        Node(TcpState.FinWait2, 0, 4),
        Node(TcpState.Closing, 1, 4),
        Node(TcpState.LastAck, 3, 4),
        Node(TcpState.TimeWait, 1, 5),
        Node(TcpState.Close, 1.5, 6),
    ];

    /// <summary>
    /// The edges drawn: the lifecycle's direct edges between drawn states, less the opens out of
    /// close, the passive reset back to listen, and the resets into close from any state (they
    /// would tie every node to the bottom one); those still count in the transitions listed.
    /// </summary>
    public static IReadOnlyList<(TcpState From, TcpState To)> Edges { get; } =
    [
        .. TcpTransitions.DirectEdges.Where(e =>
            Find(e.From) is not null && Find(e.To) is not null
            && e.From != TcpState.Close
            && !(e.From == TcpState.SynRecv && e.To == TcpState.Listen)
            && (e.To != TcpState.Close || e.From is TcpState.LastAck or TcpState.TimeWait)),
    ];

    /// <summary>The node of a state, or null when the diagram does not draw it.</summary>
    public static DiagramNode? Find(TcpState state)
    {
        foreach (var n in Nodes)
        {
            if (n.Entry.State == state)
            {
                return n;
            }
        }

        return null;
    }

    private static DiagramNode Node(TcpState state, double column, int row) => new(Lifecycle.Of(state), column, row);
}
