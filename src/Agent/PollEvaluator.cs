using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent;

/// <summary>One namespace of a poll, tracked and judged.</summary>
internal sealed record NamespaceEvaluation(NamespacePoll Poll, TrackResult Track, IReadOnlyList<Finding> Findings);

/// <summary>
/// Tracks and judges every namespace of a poll with a tracker and detectors of its own (sockets,
/// ages, leak histories and kernel counters are per namespace), keeps the transition counts
/// monotonic across namespaces that come and go, and marks each finding with its namespace.
/// State of namespaces that are gone is dropped.
/// </summary>
internal sealed class PollEvaluator(DetectorOptions options)
{
    private readonly Dictionary<ulong, State> _states = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _transitions = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _anomalies = [];

    /// <summary>Transitions seen since start, over every namespace ever watched (never decreasing).</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions => new Dictionary<(TcpState, TcpState), long>(_transitions);

    /// <summary>Anomalous transitions since start, over every namespace ever watched.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies => new Dictionary<(TcpState, TcpState), long>(_anomalies);

    public (IReadOnlyList<NamespaceEvaluation> Namespaces, IReadOnlyList<Finding> Findings) Evaluate(PollOutcome poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var parts = new List<NamespaceEvaluation>(poll.Namespaces.Count);
        var findings = new List<Finding>();
        var seen = new HashSet<ulong>();
        foreach (var ns in poll.Namespaces)
        {
            seen.Add(ns.Namespace.Inode);
            if (!_states.TryGetValue(ns.Namespace.Inode, out var state))
            {
                state = new State(new SocketTracker(), new Detectors(options));
                _states[ns.Namespace.Inode] = state;
            }

            var track = state.Tracker.Update(ns.Input);
            Accumulate(_transitions, state.Transitions, track.Transitions);
            Accumulate(_anomalies, state.Anomalies, track.Anomalies);
            var found = state.Detectors.Evaluate(ns.Input, track).Select(f => f with { Netns = ns.Namespace.Name }).ToList();
            findings.AddRange(found);
            parts.Add(new NamespaceEvaluation(ns, track, found));
        }

        foreach (var gone in _states.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            _states.Remove(gone);
        }

        var ordered = findings
            .OrderByDescending(f => f.Severity)
            .ThenBy(f => f.Kind)
            .ThenBy(f => f.Netns, StringComparer.Ordinal)
            .ThenBy(f => f.Subject, StringComparer.Ordinal)
            .ThenBy(f => f.Owner?.Pid ?? -1)
            .ToList();
        return (parts, ordered);
    }

    /// <summary>Adds what a namespace's cumulative counts grew by since the last poll.</summary>
    private static void Accumulate(
        Dictionary<(TcpState, TcpState), long> total,
        Dictionary<(TcpState, TcpState), long> last,
        IReadOnlyDictionary<(TcpState From, TcpState To), long> current)
    {
        foreach (var (pair, count) in current)
        {
            var grew = count - last.GetValueOrDefault(pair);
            if (grew > 0)
            {
                total[pair] = total.GetValueOrDefault(pair) + grew;
            }

            last[pair] = count;
        }
    }

    private sealed record State(SocketTracker Tracker, Detectors Detectors)
    {
        public Dictionary<(TcpState, TcpState), long> Transitions { get; } = [];

        public Dictionary<(TcpState, TcpState), long> Anomalies { get; } = [];
    }
}
