namespace SockWatch.Core;

/// <summary>One row of the lifecycle table (README.md, "The lifecycle"; copied in docs/design.md).</summary>
/// <param name="State">The kernel state.</param>
/// <param name="Name">The kernel's name, lower case (the contract name in JSON and metrics).</param>
/// <param name="Phase">The lifecycle phase.</param>
/// <param name="Step">The step of the handshake or of the close, short, for a table column.</param>
/// <param name="WaitsFor">What a socket in this state waits for.</param>
/// <param name="Description">One plain sentence placing the state on the lifecycle.</param>
public sealed record LifecycleEntry(
    TcpState State,
    string Name,
    LifecyclePhase Phase,
    string Step,
    string WaitsFor,
    string Description);

/// <summary>
/// The lifecycle table as data: the CLI, the metrics and the pages read it from here, so the
/// words an operator sees are the same everywhere.
/// </summary>
public static class Lifecycle
{
    private static readonly LifecycleEntry[] ByValue = Build();

    /// <summary>All thirteen states, in kernel value order.</summary>
    public static IReadOnlyList<LifecycleEntry> Entries { get; } = ByValue.Skip(1).ToArray();

    /// <summary>The states a dump can report (new_syn_recv and bound_inactive are never reported as such).</summary>
    public static IReadOnlyList<TcpState> ReportedStates { get; } =
        Entries.Select(e => e.State).Where(s => s is not TcpState.NewSynRecv and not TcpState.BoundInactive).ToArray();

    /// <summary>Names of all states, in kernel value order, for messages that list accepted values.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    public static bool IsDefined(byte value) => value is >= 1 and <= 13;

    public static LifecycleEntry Of(TcpState state)
    {
        var v = (int)state;
        if (v is < 1 or > 13)
        {
            throw new ArgumentOutOfRangeException(nameof(state), state, "not a kernel TCP state");
        }

        return ByValue[v];
    }

    public static string NameOf(TcpState state) => Of(state).Name;

    public static string PhaseName(LifecyclePhase phase) => phase switch
    {
        LifecyclePhase.Listen => "listen",
        LifecyclePhase.Handshake => "handshake",
        LifecyclePhase.Established => "established",
        LifecyclePhase.ActiveClose => "active_close",
        LifecyclePhase.PassiveClose => "passive_close",
        LifecyclePhase.Closed => "closed",
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, null),
    };

    /// <summary>Parses a state name (the kernel's lower-case name; case and '-' for '_' are tolerated).</summary>
    public static bool TryParse(string? name, out TcpState state)
    {
        state = default;
        if (string.IsNullOrWhiteSpace(name))
        {
            return false;
        }

        // Thirteen names: a scan is cheaper than building a dictionary at start-up, and a
        // one-shot command pays every start-up cost.
        var normalized = name.Trim().Replace('-', '_').ToLowerInvariant();
        for (var v = 1; v < ByValue.Length; v++)
        {
            if (string.Equals(ByValue[v].Name, normalized, StringComparison.Ordinal))
            {
                state = ByValue[v].State;
                return true;
            }
        }

        return false;
    }

    private static LifecycleEntry[] Build()
    {
        var t = new LifecycleEntry[14];
        void Add(TcpState s, string name, LifecyclePhase p, string step, string waits, string text) =>
            t[(int)s] = new LifecycleEntry(s, name, p, step, waits, text);

        Add(TcpState.Listen, "listen", LifecyclePhase.Listen,
            "passive open",
            "a SYN",
            "Passive open: the server is ready for handshake step 1.");
        Add(TcpState.SynSent, "syn_sent", LifecyclePhase.Handshake,
            "handshake step 1 sent",
            "SYN+ACK (step 2)",
            "Handshake step 1 sent: the client sent SYN (seq=x) and waits for SYN+ACK.");
        Add(TcpState.SynRecv, "syn_recv", LifecyclePhase.Handshake,
            "handshake step 2 sent",
            "the ACK of step 3 (ack=y+1)",
            "Handshake step 2 sent: the server answered SYN+ACK (seq=y, ack=x+1) and waits for the final ACK.");
        Add(TcpState.Established, "established", LifecyclePhase.Established,
            "handshake step 3 done",
            "data, or a FIN",
            "Handshake step 3 done on this side: both directions are open for data.");
        Add(TcpState.FinWait1, "fin_wait1", LifecyclePhase.ActiveClose,
            "close wave 1 sent",
            "the ACK of the FIN (wave 2)",
            "Close wave 1 sent: this side sent its FIN (seq=u) and waits for the peer to acknowledge it.");
        Add(TcpState.FinWait2, "fin_wait2", LifecyclePhase.ActiveClose,
            "close wave 2 received",
            "the peer's FIN (wave 3)",
            "Close wave 2 received: this direction is closed and the socket is half-closed, waiting for the peer's FIN.");
        Add(TcpState.Closing, "closing", LifecyclePhase.ActiveClose,
            "simultaneous close",
            "the ACK of its own FIN",
            "Both sides sent FIN at once (simultaneous close); waiting for the ACK of this side's FIN.");
        Add(TcpState.TimeWait, "time_wait", LifecyclePhase.ActiveClose,
            "close wave 4 sent",
            "2MSL (60 s on Linux)",
            "Close wave 4 sent: the final ACK (ack=w+1) went out; the four-tuple is held for 60 s.");
        Add(TcpState.CloseWait, "close_wait", LifecyclePhase.PassiveClose,
            "close waves 1-2 done",
            "the application to call close() (wave 3)",
            "Close wave 1 received and acknowledged (wave 2 sent); waiting for the local application to call close(), which sends wave 3.");
        Add(TcpState.LastAck, "last_ack", LifecyclePhase.PassiveClose,
            "close wave 3 sent",
            "the final ACK (wave 4)",
            "Close wave 3 sent: this side's FIN (seq=w) went out; waiting for the final ACK.");
        Add(TcpState.Close, "close", LifecyclePhase.Closed,
            "closed",
            "nothing",
            "Gone, or bound and never connected.");
        Add(TcpState.NewSynRecv, "new_syn_recv", LifecyclePhase.Handshake,
            "request socket",
            "handshake step 3",
            "A kernel-internal request socket; dumps report it as syn_recv.");
        Add(TcpState.BoundInactive, "bound_inactive", LifecyclePhase.Closed,
            "bound, inactive",
            "nothing",
            "A request bit only: bound sockets that neither listen nor connect, reported as close.");
        return t;
    }
}

/// <summary>The names of the address families, as in JSON's <c>family</c> and the <c>family</c> label.</summary>
public static class SocketFamilies
{
    /// <summary>Both families, in the order of their rows in per-family tables.</summary>
    public static IReadOnlyList<SocketFamily> All { get; } = [SocketFamily.Inet, SocketFamily.Inet6];

    public static string NameOf(SocketFamily family) => family == SocketFamily.Inet6 ? "inet6" : "inet";

    /// <summary>The row of <paramref name="family"/> in <see cref="All"/>.</summary>
    public static int IndexOf(SocketFamily family) => family == SocketFamily.Inet6 ? 1 : 0;
}
