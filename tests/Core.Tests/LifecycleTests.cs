using SockWatch.Core;

namespace SockWatch.Core.Tests;

public class LifecycleTests
{
    [Fact]
    public void Enum_holds_the_kernel_values_and_nothing_else()
    {
        var values = Enum.GetValues<TcpState>().Select(s => (int)s).ToArray();
        Assert.Equal(Enumerable.Range(1, 13), values);
        Assert.Equal(1, (int)TcpState.Established);
        Assert.Equal(6, (int)TcpState.TimeWait);
        Assert.Equal(8, (int)TcpState.CloseWait);
        Assert.Equal(10, (int)TcpState.Listen);
        Assert.Equal(12, (int)TcpState.NewSynRecv);
        Assert.Equal(13, (int)TcpState.BoundInactive);
    }

    [Theory]
    [InlineData(TcpState.Listen, "listen", LifecyclePhase.Listen)]
    [InlineData(TcpState.SynSent, "syn_sent", LifecyclePhase.Handshake)]
    [InlineData(TcpState.SynRecv, "syn_recv", LifecyclePhase.Handshake)]
    [InlineData(TcpState.Established, "established", LifecyclePhase.Established)]
    [InlineData(TcpState.FinWait1, "fin_wait1", LifecyclePhase.ActiveClose)]
    [InlineData(TcpState.FinWait2, "fin_wait2", LifecyclePhase.ActiveClose)]
    [InlineData(TcpState.Closing, "closing", LifecyclePhase.ActiveClose)]
    [InlineData(TcpState.TimeWait, "time_wait", LifecyclePhase.ActiveClose)]
    [InlineData(TcpState.CloseWait, "close_wait", LifecyclePhase.PassiveClose)]
    [InlineData(TcpState.LastAck, "last_ack", LifecyclePhase.PassiveClose)]
    [InlineData(TcpState.Close, "close", LifecyclePhase.Closed)]
    [InlineData(TcpState.NewSynRecv, "new_syn_recv", LifecyclePhase.Handshake)]
    [InlineData(TcpState.BoundInactive, "bound_inactive", LifecyclePhase.Closed)]
    public void Table_matches_design(TcpState state, string name, LifecyclePhase phase)
    {
        var entry = Lifecycle.Of(state);
        Assert.Equal(state, entry.State);
        Assert.Equal(name, entry.Name);
        Assert.Equal(phase, entry.Phase);
        Assert.False(string.IsNullOrWhiteSpace(entry.Step));
        Assert.False(string.IsNullOrWhiteSpace(entry.WaitsFor));
        Assert.EndsWith(".", entry.Description, StringComparison.Ordinal);
        Assert.True(Lifecycle.TryParse(name, out var parsed));
        Assert.Equal(state, parsed);
    }

    [Fact]
    public void Close_wait_explains_the_missing_close()
    {
        var entry = Lifecycle.Of(TcpState.CloseWait);
        Assert.Contains("close()", entry.WaitsFor, StringComparison.Ordinal);
        Assert.Contains("wave 3", entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Phase_names_are_the_contract_names()
    {
        Assert.Equal(
            ["listen", "handshake", "established", "active_close", "passive_close", "closed"],
            Enum.GetValues<LifecyclePhase>().Select(Lifecycle.PhaseName));
    }

    [Theory]
    [InlineData("CLOSE_WAIT", TcpState.CloseWait)]
    [InlineData("close-wait", TcpState.CloseWait)]
    [InlineData(" time_wait ", TcpState.TimeWait)]
    [InlineData("Fin_Wait2", TcpState.FinWait2)]
    public void Names_parse_leniently(string text, TcpState expected)
    {
        Assert.True(Lifecycle.TryParse(text, out var state));
        Assert.Equal(expected, state);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("estab")]
    [InlineData("8")]
    [InlineData("closewait")]
    public void Unknown_names_do_not_parse(string? text) => Assert.False(Lifecycle.TryParse(text, out _));

    [Fact]
    public void Out_of_range_values_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Lifecycle.Of((TcpState)0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Lifecycle.Of((TcpState)14));
        Assert.False(Lifecycle.IsDefined(0));
        Assert.False(Lifecycle.IsDefined(14));
        Assert.True(Lifecycle.IsDefined(13));
    }

    [Fact]
    public void Reported_states_exclude_the_internal_ones()
    {
        Assert.Equal(11, Lifecycle.ReportedStates.Count);
        Assert.DoesNotContain(TcpState.NewSynRecv, Lifecycle.ReportedStates);
        Assert.DoesNotContain(TcpState.BoundInactive, Lifecycle.ReportedStates);
    }

    [Fact]
    public void State_masks_are_one_bit_per_kernel_value()
    {
        Assert.Equal(0x3FFEu, TcpStateMask.All);
        Assert.Equal(0x100u, TcpStateMask.Of(TcpState.CloseWait));
        Assert.Equal(0x120u, TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]));
        Assert.True(TcpStateMask.Contains(0x120u, TcpState.FinWait2));
        Assert.False(TcpStateMask.Contains(0x120u, TcpState.TimeWait));
    }
}
