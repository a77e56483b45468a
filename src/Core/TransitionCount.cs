namespace SockWatch.Core;

/// <summary>
/// State changes of one kind in one network namespace over an interval: how many sockets went
/// from <paramref name="From"/> to <paramref name="To"/>. The polls infer such counts from
/// sockets seen in two polls; a tracer of the kernel's state changes counts them exactly. Either
/// kind feeds the daemon's diagram (docs/web.md, "Transitions").
/// </summary>
/// <param name="Netns">The namespace's name, as on the poll's sockets.</param>
/// <param name="From">The state left.</param>
/// <param name="To">The state entered.</param>
/// <param name="Count">How many changes, never negative.</param>
public readonly record struct TransitionCount(string Netns, TcpState From, TcpState To, long Count);

/// <summary>
/// Exact state changes counted by a tracer over <paramref name="Since"/> to <paramref name="Until"/>,
/// every namespace it saw. Handed to the daemon beside a poll; when a poll has none, the diagram
/// shows the transitions inferred from polls and says so.
/// </summary>
/// <param name="Since">The start of the interval counted.</param>
/// <param name="Until">Its end.</param>
/// <param name="Counts">The changes, one entry per (namespace, from, to) that happened.</param>
public sealed record ExactTransitions(DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<TransitionCount> Counts);
