using SockWatch.Core;

namespace SockWatch.Core.Tests;

public class TransitionTests
{
    /// <summary>
    /// Written out by hand from RFC 9293's diagram plus Linux's shortcuts, independently of the
    /// edge list in the code: for every state, the states a poll may legally see next (staying
    /// put is always legal and listed separately). Reachability never continues through close.
    /// </summary>
    private static readonly Dictionary<TcpState, TcpState[]> Expected = new()
    {
        [TcpState.Established] =
            [TcpState.FinWait1, TcpState.FinWait2, TcpState.Closing, TcpState.TimeWait, TcpState.CloseWait, TcpState.LastAck, TcpState.Close],
        [TcpState.SynSent] = AllBut(TcpState.NewSynRecv, TcpState.BoundInactive),
        [TcpState.SynRecv] = AllBut(TcpState.NewSynRecv, TcpState.BoundInactive),
        [TcpState.FinWait1] = [TcpState.FinWait2, TcpState.Closing, TcpState.TimeWait, TcpState.Close],
        [TcpState.FinWait2] = [TcpState.TimeWait, TcpState.Close],
        [TcpState.TimeWait] = [TcpState.Close],
        [TcpState.Close] = AllBut(TcpState.NewSynRecv, TcpState.BoundInactive),
        [TcpState.CloseWait] = [TcpState.LastAck, TcpState.Close],
        [TcpState.LastAck] = [TcpState.Close],
        [TcpState.Listen] = AllBut(TcpState.NewSynRecv, TcpState.BoundInactive),
        [TcpState.Closing] = [TcpState.TimeWait, TcpState.Close],
        [TcpState.NewSynRecv] = AllBut(TcpState.BoundInactive),
        [TcpState.BoundInactive] = AllBut(TcpState.NewSynRecv),
    };

    public static TheoryData<TcpState, TcpState> AllOrderedPairs()
    {
        var data = new TheoryData<TcpState, TcpState>();
        foreach (var from in Enum.GetValues<TcpState>())
        {
            foreach (var to in Enum.GetValues<TcpState>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllOrderedPairs))]
    public void Every_ordered_pair_matches_the_hand_written_relation(TcpState from, TcpState to)
    {
        var expected = from == to || Expected[from].Contains(to);
        Assert.Equal(expected, TcpTransitions.IsLegal(from, to));
    }

    [Fact]
    public void There_are_169_pairs_and_the_table_covers_every_source_state()
    {
        Assert.Equal(169, AllOrderedPairs().Count);
        Assert.Equal(13, Expected.Count);
    }

    [Theory]
    [InlineData(TcpState.CloseWait, TcpState.Established)]
    [InlineData(TcpState.TimeWait, TcpState.Established)]
    [InlineData(TcpState.Established, TcpState.SynSent)]
    [InlineData(TcpState.LastAck, TcpState.CloseWait)]
    [InlineData(TcpState.FinWait2, TcpState.FinWait1)]
    [InlineData(TcpState.TimeWait, TcpState.FinWait2)]
    public void Backward_moves_are_anomalies(TcpState from, TcpState to) =>
        Assert.False(TcpTransitions.IsLegal(from, to));

    [Theory]
    [InlineData(TcpState.Established, TcpState.TimeWait)] // polls skip fin_wait1 and fin_wait2
    [InlineData(TcpState.FinWait1, TcpState.TimeWait)]    // Linux: FIN and ACK together
    [InlineData(TcpState.Established, TcpState.LastAck)]  // skipped close_wait
    [InlineData(TcpState.CloseWait, TcpState.Close)]      // a reset
    [InlineData(TcpState.SynRecv, TcpState.Listen)]       // RFC: RST in a passive open
    public void Skipped_states_and_shortcuts_are_legal(TcpState from, TcpState to) =>
        Assert.True(TcpTransitions.IsLegal(from, to));

    [Fact]
    public void Values_outside_the_kernel_range_are_never_legal()
    {
        Assert.False(TcpTransitions.IsLegal((TcpState)0, TcpState.Established));
        Assert.False(TcpTransitions.IsLegal(TcpState.Established, (TcpState)14));
    }

    [Fact]
    public void Every_direct_edge_is_legal()
    {
        foreach (var (from, to) in TcpTransitions.DirectEdges)
        {
            Assert.True(TcpTransitions.IsLegal(from, to), $"{from} -> {to}");
        }
    }

    private static TcpState[] AllBut(params TcpState[] excluded) =>
        Enum.GetValues<TcpState>().Where(s => !excluded.Contains(s)).ToArray();
}
