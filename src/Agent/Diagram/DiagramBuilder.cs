using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Core;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// Builds each poll's <see cref="DiagramPoll"/> on the poll thread. It keeps each namespace's
/// cumulative transition counts of the previous poll, so that the inferred transitions of a
/// poll are what its tracker saw since the one before. Not thread-safe: the poll loop owns it.
/// </summary>
internal sealed class DiagramBuilder
{
    private readonly Dictionary<ulong, Dictionary<(TcpState, TcpState), long>> _last = [];
    private DateTimeOffset? _lastAt;

    /// <param name="poll">The poll.</param>
    /// <param name="metrics">Its metric view (namespaces and owners, capped).</param>
    /// <param name="duration">How long it took.</param>
    /// <param name="exact">Exact counts from a tracer for the interval before this poll; null: infer them from the polls.</param>
    public DiagramPoll Build(Poll poll, PollMetrics metrics, TimeSpan duration, ExactTransitions? exact = null)
    {
        ArgumentNullException.ThrowIfNull(poll);
        ArgumentNullException.ThrowIfNull(metrics);
        var inferred = Infer(poll);
        var transitions = exact is not null
            ? new DiagramTransitions(DiagramTransitions.Traced, (exact.Until - exact.Since).TotalSeconds, [.. exact.Counts.Select(c => c with { Netns = PollMetrics.Label(c.Netns) })])
            : inferred;

        return new DiagramPoll
        {
            At = poll.At,
            Duration = duration,
            Collector = poll.Collector,
            Sockets = poll.Count,
            Namespaces = [.. metrics.Namespaces.Select(n => new NamespaceCount(n.Netns, SumFamilies(n.SocketsByFamilyState)))],
            Owners = Owners(metrics.OwnerSockets),
            Findings = [.. poll.Findings.Select(f => new DiagramFinding(
                f.Kind,
                f.Severity,
                PollMetrics.Label(f.Netns ?? ""),
                f.Owner is null ? "" : PollMetrics.Label(f.Owner.Process),
                f.Owner?.Unit is { } unit ? PollMetrics.Label(unit) : PollMetrics.NoUnit,
                f.Owner?.Pid,
                WebText.Clean(f.Subject),
                f.Count,
                WebText.Clean(f.Explanation)))],
            Transitions = transitions,
        };
    }

    /// <summary>What each namespace's tracker counted since the previous poll; namespaces gone are forgotten.</summary>
    private DiagramTransitions Infer(Poll poll)
    {
        var counts = new List<TransitionCount>();
        var seen = new HashSet<ulong>();
        foreach (var ns in poll.Namespaces)
        {
            if (ns.Track is not { } track)
            {
                continue;
            }

            var inode = ns.Namespace.Inode;
            seen.Add(inode);
            var known = _last.TryGetValue(inode, out var last);
            last ??= _last[inode] = [];
            var name = PollMetrics.Label(ns.Namespace.Name);
            foreach (var (pair, total) in track.Transitions)
            {
                var grew = total - last.GetValueOrDefault(pair);
                if (known && grew > 0)
                {
                    counts.Add(new TransitionCount(name, pair.From, pair.To, grew));
                }

                last[pair] = total;
            }
        }

        foreach (var gone in _last.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            _last.Remove(gone);
        }

        var interval = _lastAt is { } before ? (poll.At - before).TotalSeconds : 0;
        _lastAt = poll.At;
        return new DiagramTransitions(DiagramTransitions.Inferred, interval, counts);
    }

    private static int[] SumFamilies(int[,] byFamilyState)
    {
        var counts = new int[14];
        for (var f = 0; f < byFamilyState.GetLength(0); f++)
        {
            for (var s = 0; s < 14 && s < byFamilyState.GetLength(1); s++)
            {
                counts[s] += byFamilyState[f, s];
            }
        }

        return counts;
    }

    private static List<OwnerCount> Owners(IReadOnlyList<OwnerStateCount> cells)
    {
        var byOwner = new Dictionary<(string, string, string), int[]>();
        var order = new List<(string Netns, string Unit, string Process)>();
        foreach (var c in cells)
        {
            var key = (c.Netns, c.Unit, c.Process);
            if (!byOwner.TryGetValue(key, out var states))
            {
                byOwner[key] = states = new int[14];
                order.Add(key);
            }

            states[(int)c.State] += c.Sockets;
        }

        return [.. order.Select(k => new OwnerCount(k.Netns, k.Unit, k.Process, byOwner[k]))];
    }
}
