using System.Globalization;
using SockWatch.Agent.Tracing;
using SockWatch.Core;

namespace SockWatch.Agent.Metrics;

/// <summary>Exact state changes of one (netns, from, to) since tracing started.</summary>
internal readonly record struct StateChange(string Netns, TcpState From, TcpState To, long Count);

/// <summary>The time-in-state histogram of one (netns, state).</summary>
internal sealed record StateDuration(string Netns, TcpState State, HistogramValue Histogram);

/// <summary>Resets of one (netns, state, direction).</summary>
internal readonly record struct ResetFigure(string Netns, TcpState State, string Direction, long Count);

/// <summary>Connections opened per owner and direction.</summary>
internal readonly record struct ConnectionFigure(string Netns, string Unit, string Process, string Direction, long Count);

/// <summary>Connect failures toward one destination.</summary>
internal readonly record struct ConnectFailureFigure(string Netns, string RemoteAddress, string RemotePort, long Count);

/// <summary>
/// The tracer's counters, label-ready and capped like the poll's: namespaces named as the poll
/// names them (netns-INODE for one the poll did not see), owners capped at
/// <c>max_owner_series</c> and destinations at <c>max_destination_series</c>, the rest summed into
/// <c>other</c>. Built once per poll while tracing is on; <see cref="StateChanges"/> is the exact
/// per-(netns, from, to) count the pages can show beside the poll-inferred transitions.
/// </summary>
internal sealed record TraceMetrics(
    IReadOnlyList<StateChange> StateChanges,
    IReadOnlyList<StateDuration> Durations,
    IReadOnlyList<ResetFigure> Resets,
    IReadOnlyList<ConnectionFigure> Connections,
    IReadOnlyList<ConnectFailureFigure> ConnectFailures,
    long Lost,
    long EntryMisses,
    long Missed,
    long Evictions)
{
    /// <summary>
    /// The exposed bucket bounds: every other power of two of nanoseconds, 2^10 (1 µs) to 2^42
    /// (73 min). The kernel keeps every power of two; a factor of 4 a bucket keeps a series per
    /// (namespace, state) at 18 buckets, and each bound is one of the kernel's, so no
    /// observation is placed by interpolation.
    /// </summary>
    public static readonly IReadOnlyList<int> ExposedSlots = [.. Enumerable.Range(5, 17).Select(i => i * 2)];

    /// <summary>The label view of <paramref name="counters"/>.</summary>
    /// <param name="counters">What the tracer counted.</param>
    /// <param name="names">Namespace labels by inode, from the latest poll.</param>
    /// <param name="unitOf">The unit of an owner's cgroup id (null: none).</param>
    /// <param name="caps">The series caps.</param>
    public static TraceMetrics Build(TraceCounters counters, IReadOnlyDictionary<uint, string> names, Func<ulong, string?> unitOf, SeriesCaps caps)
    {
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(unitOf);
        var netnsLabel = NamespaceLabels(counters, names, caps.Namespaces);

        var changes = counters.Transitions
            .GroupBy(t => (Netns: netnsLabel(t.Netns), t.From, t.To))
            .Select(g => new StateChange(g.Key.Netns, g.Key.From, g.Key.To, g.Sum(t => t.Count)))
            .OrderBy(c => c.Netns, StringComparer.Ordinal).ThenBy(c => c.From).ThenBy(c => c.To)
            .ToList();

        var durations = counters.Durations
            .GroupBy(d => (Netns: netnsLabel(d.Netns), d.State))
            .Select(g =>
            {
                var slots = new long[NetStatsLayout.Slots];
                var sum = 0.0;
                foreach (var d in g)
                {
                    for (var i = 0; i < slots.Length; i++)
                    {
                        slots[i] += d.Slots[i];
                    }

                    sum += d.SumSeconds;
                }

                return new StateDuration(g.Key.Netns, g.Key.State, Histogram(slots, sum));
            })
            .OrderBy(d => d.Netns, StringComparer.Ordinal).ThenBy(d => d.State)
            .ToList();

        var resets = counters.Resets
            .GroupBy(r => (Netns: netnsLabel(r.Netns), r.State, r.Direction))
            .Select(g => new ResetFigure(g.Key.Netns, g.Key.State, g.Key.Direction, g.Sum(r => r.Count)))
            .OrderBy(r => r.Netns, StringComparer.Ordinal).ThenBy(r => r.State).ThenBy(r => r.Direction, StringComparer.Ordinal)
            .ToList();

        var connections = Cap(
            counters.Opens
                .GroupBy(o => (Netns: netnsLabel(o.Netns), Unit: o.Cgroup == 0 && o.Process.Length == 0 ? PollMetrics.Unowned : unitOf(o.Cgroup) is { } u ? PollMetrics.Label(u) : PollMetrics.NoUnit, Process: o.Process.Length == 0 ? PollMetrics.Unowned : PollMetrics.Label(o.Process), o.Direction))
                .Select(g => new ConnectionFigure(g.Key.Netns, g.Key.Unit, g.Key.Process, g.Key.Direction, g.Sum(o => o.Count))),
            caps.Owners,
            c => (c.Netns, c.Unit, c.Process),
            c => c.Direction,
            (key, direction, count) => new ConnectionFigure(key.Item1, key.Item2, key.Item3, direction, count),
            c => c.Count);

        var failures = Cap(
            counters.ConnectFailures
                .GroupBy(f => (Netns: netnsLabel(f.Key.Netns), f.Key.Address, Port: f.Key.Address == PollMetrics.Other ? PollMetrics.Other : f.Key.Port.ToString(CultureInfo.InvariantCulture)))
                .Select(g => new ConnectFailureFigure(g.Key.Netns, g.Key.Address, g.Key.Port, g.Sum(f => f.Value))),
            caps.Destinations,
            f => (f.Netns, f.RemoteAddress, f.RemotePort),
            _ => "",
            (key, _, count) => new ConnectFailureFigure(key.Item1, key.Item2, key.Item3, count),
            f => f.Count);

        return new TraceMetrics(changes, durations, resets, connections, failures, counters.Lost, counters.EntryMisses, counters.Missed, counters.Evictions);
    }

    /// <summary>Cumulative buckets at <see cref="ExposedSlots"/> from the kernel's log2 slots.</summary>
    internal static HistogramValue Histogram(IReadOnlyList<long> slots, double sumSeconds)
    {
        var bounds = new List<double>(ExposedSlots.Count + 1);
        var counts = new List<long>(ExposedSlots.Count + 1);
        long cumulative = 0;
        var next = 0;
        foreach (var k in ExposedSlots)
        {
            for (; next <= k; next++)
            {
                cumulative += slots[next];
            }

            bounds.Add(TraceCounters.SlotUpperSeconds(k));
            counts.Add(cumulative);
        }

        for (; next < slots.Count; next++)
        {
            cumulative += slots[next];
        }

        bounds.Add(double.PositiveInfinity);
        counts.Add(cumulative);
        return new HistogramValue(bounds, counts, sumSeconds, cumulative);
    }

    /// <summary>Namespace names: the poll's; netns-INODE for one it did not see; beyond the cap, by fewest changes, <c>other</c>.</summary>
    private static Func<uint, string> NamespaceLabels(TraceCounters counters, IReadOnlyDictionary<uint, string> names, int cap)
    {
        var ranked = counters.Transitions.GroupBy(t => t.Netns)
            .OrderByDescending(g => g.Sum(t => t.Count)).ThenBy(g => g.Key)
            .Select(g => g.Key).ToList();
        var kept = ranked.Take(cap).ToHashSet();
        return inode => ranked.Count > cap && !kept.Contains(inode) ? PollMetrics.Other
            : names.TryGetValue(inode, out var name) ? name
            : "netns-" + inode.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The top <paramref name="cap"/> keys by total count; the rest summed per sub-key into one <c>other</c> key.</summary>
    private static List<T> Cap<T>(
        IEnumerable<T> figures,
        int cap,
        Func<T, (string, string, string)> key,
        Func<T, string> sub,
        Func<(string, string, string), string, long, T> make,
        Func<T, long> count)
    {
        var groups = figures.GroupBy(key)
            .OrderByDescending(g => g.Sum(count))
            .ThenBy(g => g.Key.Item1, StringComparer.Ordinal).ThenBy(g => g.Key.Item2, StringComparer.Ordinal).ThenBy(g => g.Key.Item3, StringComparer.Ordinal)
            .ToList();
        var result = groups.Take(cap).SelectMany(g => g).ToList();
        var other = (PollMetrics.Other, PollMetrics.Other, PollMetrics.Other);
        result.AddRange(groups.Skip(cap).SelectMany(g => g).GroupBy(sub, StringComparer.Ordinal).Select(g => make(other, g.Key, g.Sum(count))));
        return result;
    }
}
