using SockWatch.Core;

namespace SockWatch.Agent.Tracing;

/// <summary>State changes of one (netns, from, to) since tracing started: exact.</summary>
internal readonly record struct TransitionCount(uint Netns, TcpState From, TcpState To, long Count);

/// <summary>
/// The time sockets of one namespace spent in one state, observed when they left it: a log2
/// histogram of nanoseconds (<see cref="Slots"/>[k] counts durations in [2^(k-1), 2^k) ns).
/// </summary>
internal sealed record StateDurations(uint Netns, TcpState State, IReadOnlyList<long> Slots, double SumSeconds)
{
    public long Count => Slots.Sum();
}

/// <summary>Resets of one (netns, state, direction): direction <c>sent</c> or <c>received</c>.</summary>
internal readonly record struct ResetCount(uint Netns, TcpState State, string Direction, long Count);

/// <summary>Connections that reached established, by namespace, direction (<c>active</c>, <c>passive</c>) and owner (cgroup id, comm).</summary>
internal readonly record struct OpenCount(uint Netns, string Direction, ulong Cgroup, string Process, long Count);

/// <summary>A remote endpoint in a namespace, as the trace names it.</summary>
internal readonly record struct Peer(uint Netns, string Address, int Port);

/// <summary>
/// Everything the kernel side has counted since tracing started, read at one instant (the
/// kernel maps) together with what the ring buffer's consumer aggregated.
/// </summary>
/// <param name="Transitions">Every state change, per (netns, from, to).</param>
/// <param name="Durations">Time in state, per (netns, state).</param>
/// <param name="Resets">Resets per (netns, state, direction).</param>
/// <param name="Opens">Connections opened per owner and direction.</param>
/// <param name="ActiveCloses">
/// Connections this host closed first (established to fin_wait1) per peer: per destination
/// (address and port) for connections this host made; per client address with port 0 for
/// connections it accepted (a client's ephemeral ports are not told apart).
/// </param>
/// <param name="ConnectFailures">Connects that ended in syn_sent (syn_sent to close) per peer.</param>
/// <param name="Lost">Ring-buffer records the kernel could not reserve.</param>
/// <param name="EntryMisses">States left whose entry was not seen: the socket existed before tracing, or its entry was evicted.</param>
/// <param name="Missed">
/// State changes the tracer did not count: the kernel skipped the program because a run of it
/// was already in progress on that CPU (an interrupt inside it: a recursion miss), or its
/// namespace found no room.
/// </param>
/// <param name="Evictions">Live sockets whose entry time the bounded socket table gave to another socket.</param>
internal sealed record TraceCounters(
    IReadOnlyList<TransitionCount> Transitions,
    IReadOnlyList<StateDurations> Durations,
    IReadOnlyList<ResetCount> Resets,
    IReadOnlyList<OpenCount> Opens,
    IReadOnlyDictionary<Peer, long> ActiveCloses,
    IReadOnlyDictionary<Peer, long> ConnectFailures,
    long Lost,
    long EntryMisses,
    long Missed,
    long Evictions)
{
    public static readonly TraceCounters Empty = new([], [], [], [], new Dictionary<Peer, long>(), new Dictionary<Peer, long>(), 0, 0, 0, 0);

    /// <summary>The upper bound, in seconds, of log2 slot <paramref name="slot"/>: 2^slot ns.</summary>
    public static double SlotUpperSeconds(int slot) => Math.Pow(2, slot) / 1e9;
}
