using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Polling;

/// <summary>
/// The track and detect stages over every namespace of a poll, each namespace with a tracker
/// and detectors of its own (sockets, ages, leak histories and kernel counters are per
/// namespace). Transition counts stay monotonic across namespaces that come and go; state of
/// namespaces that are gone is dropped.
/// </summary>
internal sealed class LifecycleTracking(DetectorOptions options)
{
    private readonly Dictionary<ulong, State> _states = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _transitions = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _anomalies = [];

    /// <summary>Transitions seen since start, over every namespace ever watched (a copy).</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions => new Dictionary<(TcpState, TcpState), long>(_transitions);

    /// <summary>Anomalous transitions since start, over every namespace ever watched (a copy).</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies => new Dictionary<(TcpState, TcpState), long>(_anomalies);

    /// <summary>The track stage: every namespace's tracker takes its sockets.</summary>
    public void Track(IReadOnlyList<NamespacePoll> namespaces)
    {
        var seen = new HashSet<ulong>();
        foreach (var ns in namespaces)
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
            ns.Track = track;
        }

        foreach (var gone in _states.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            _states.Remove(gone);
        }
    }

    /// <summary>The detect stage: every tracked namespace judged; the findings of all, most severe first.</summary>
    public IReadOnlyList<Finding> Detect(IReadOnlyList<NamespacePoll> namespaces)
    {
        var findings = new List<Finding>();
        foreach (var ns in namespaces)
        {
            if (ns.Track is not { } track || !_states.TryGetValue(ns.Namespace.Inode, out var state))
            {
                continue;
            }

            var name = ns.Namespace.Name;
            ns.Findings = [.. state.Detectors.Evaluate(ns.Input, track).Select(f => f with { Netns = name })];
            findings.AddRange(ns.Findings);
        }

        return [.. findings
            .OrderByDescending(f => f.Severity)
            .ThenBy(f => f.Kind)
            .ThenBy(f => f.Netns, StringComparer.Ordinal)
            .ThenBy(f => f.Subject, StringComparer.Ordinal)
            .ThenBy(f => f.Owner?.Pid ?? -1)];
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
