using SockWatch.Agent.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Diagram;

/// <summary>One namespace's sockets by state (index = kernel value, 14 entries).</summary>
internal sealed record NamespaceCount(string Netns, int[] ByState);

/// <summary>One owner's sockets by state in one namespace (index = kernel value), labelled as on /metrics.</summary>
internal sealed record OwnerCount(string Netns, string Unit, string Process, int[] ByState);

/// <summary>A finding as the page shows it: cleaned text, and the state it sits at.</summary>
internal sealed record DiagramFinding(
    FindingKind Kind, FindingSeverity Severity, string Netns, string Process, string Unit, int? Pid, string Subject, int Count, string Text)
{
    public TcpState State => FindingKinds.StateOf(Kind);
}

/// <summary>
/// The transitions of the interval before a poll: <c>traced</c> when a tracer counted them
/// exactly, else <c>inferred</c> from sockets seen in both polls (a socket that changed twice
/// between polls shows one change, and one that came and went shows none).
/// </summary>
/// <param name="Source"><see cref="Inferred"/> or <see cref="Traced"/>.</param>
/// <param name="IntervalSeconds">The interval the counts cover; 0 when there is none yet (the first poll).</param>
/// <param name="Counts">The changes by namespace, from and to.</param>
internal sealed record DiagramTransitions(string Source, double IntervalSeconds, IReadOnlyList<TransitionCount> Counts)
{
    public const string Inferred = "inferred";
    public const string Traced = "traced";
}

/// <summary>
/// What the page and <c>/api/v1</c> know of one poll, built once on the poll thread; requests
/// only read it (no request walks the sockets). Namespaces and owners come from the poll's
/// metric view, so they are capped as on /metrics: owners past <c>max_owner_series</c> and
/// namespaces past <c>max_netns_series</c> are folded into <c>other</c>.
/// </summary>
internal sealed class DiagramPoll
{
    public required DateTimeOffset At { get; init; }

    public required TimeSpan Duration { get; init; }

    public required string Collector { get; init; }

    public required int Sockets { get; init; }

    public required IReadOnlyList<NamespaceCount> Namespaces { get; init; }

    public required IReadOnlyList<OwnerCount> Owners { get; init; }

    public required IReadOnlyList<DiagramFinding> Findings { get; init; }

    public required DiagramTransitions Transitions { get; init; }

    /// <summary>Counts by state (index = kernel value) of the selection: namespaces alone, or owners when one is selected.</summary>
    public int[] StatesFor(Selection selection) => CountStates(Namespaces, Owners, selection);

    /// <summary>Counts by state of a namespace list and an owner list under a selection.</summary>
    internal static int[] CountStates(IReadOnlyList<NamespaceCount> namespaces, IReadOnlyList<OwnerCount> owners, Selection selection)
    {
        var counts = new int[14];
        if (selection.Owner.Length == 0)
        {
            foreach (var ns in namespaces)
            {
                if (selection.MatchesNetns(ns.Netns))
                {
                    Add(counts, ns.ByState);
                }
            }
        }
        else
        {
            foreach (var o in owners)
            {
                if (selection.MatchesNetns(o.Netns) && selection.MatchesOwner(o.Unit, o.Process))
                {
                    Add(counts, o.ByState);
                }
            }
        }

        return counts;
    }

    /// <summary>Owners of the selection, most sockets first.</summary>
    public IEnumerable<OwnerCount> OwnersFor(Selection selection) =>
        Owners.Where(o => selection.MatchesNetns(o.Netns) && selection.MatchesOwner(o.Unit, o.Process))
            .OrderByDescending(o => o.ByState.Sum()).ThenBy(o => o.Process, StringComparer.Ordinal);

    /// <summary>The <paramref name="top"/> owners of the selection with the most sockets in <paramref name="state"/>.</summary>
    public IReadOnlyList<OwnerCount> TopOwners(TcpState state, Selection selection, int top) =>
        [.. OwnersFor(selection).Where(o => o.ByState[(int)state] > 0)
            .OrderByDescending(o => o.ByState[(int)state]).ThenBy(o => o.Process, StringComparer.Ordinal).Take(top)];

    /// <summary>The findings of the selection: its namespace, and its owner when one is selected.</summary>
    public IReadOnlyList<DiagramFinding> FindingsFor(Selection selection) =>
        [.. Findings.Where(f => selection.MatchesNetns(f.Netns) && (selection.Owner.Length == 0 || (f.Pid is not null && selection.MatchesOwner(f.Unit, f.Process))))];

    /// <summary>The transitions of the selected namespace (all of them when none is), summed by pair. Owners do not narrow them: a transition carries no owner.</summary>
    public IReadOnlyList<(TcpState From, TcpState To, long Count)> TransitionsFor(Selection selection)
    {
        var sums = new Dictionary<(TcpState, TcpState), long>();
        foreach (var t in Transitions.Counts)
        {
            if (selection.MatchesNetns(t.Netns))
            {
                sums[(t.From, t.To)] = sums.GetValueOrDefault((t.From, t.To)) + t.Count;
            }
        }

        return [.. sums.Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value)).OrderBy(t => t.Item1).ThenBy(t => t.Item2)];
    }

    /// <summary>The names an owner selector offers: every process and unit, once each, sorted.</summary>
    public IReadOnlyList<string> OwnerNames() =>
        [.. Owners.SelectMany(o => new[] { o.Process, o.Unit })
            .Where(n => n is not PollMetrics.NoUnit and not PollMetrics.Other)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    private static void Add(int[] into, int[] from)
    {
        for (var s = 0; s < into.Length && s < from.Length; s++)
        {
            into[s] += from[s];
        }
    }
}
