using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tracing;

/// <summary>
/// What tracing adds to the poll's findings: a close_wait leak says how long that application
/// usually takes to close after the peer's FIN (the kernel's histogram of its close_wait exits)
/// and since when its oldest traced close_wait socket waits, exactly; an
/// ephemeral-port or time_wait pressure finding gives the rate at which this host closes
/// connections toward the destinations behind it (established -> fin_wait1, counted in the
/// kernel), between this poll and the one before.
/// </summary>
internal sealed class TraceFindings
{
    private IReadOnlyDictionary<Peer, long>? _lastCloses;
    private DateTimeOffset _lastAt;

    /// <param name="findings">The poll's findings.</param>
    /// <param name="counters">The tracer's counters at this poll.</param>
    /// <param name="closeDelays">Time from the peer's FIN to the close, per (namespace inode, comm): log2 slots of ns.</param>
    /// <param name="oldestTraced">The earliest traced close_wait entry of a process (namespace inode, pid) in this poll, or null.</param>
    /// <param name="at">The poll's time.</param>
    /// <param name="inodeOf">The namespace inode of a finding's netns name (null: the daemon's own).</param>
    public IReadOnlyList<Finding> Enrich(
        IReadOnlyList<Finding> findings,
        TraceCounters counters,
        IReadOnlyDictionary<(uint Netns, string Process), long[]> closeDelays,
        Func<uint, int, DateTimeOffset?> oldestTraced,
        DateTimeOffset at,
        Func<string?, uint> inodeOf)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(closeDelays);
        ArgumentNullException.ThrowIfNull(oldestTraced);
        ArgumentNullException.ThrowIfNull(inodeOf);
        var rates = new Dictionary<Peer, double>();
        if (_lastCloses is { } last && at > _lastAt)
        {
            var seconds = (at - _lastAt).TotalSeconds;
            foreach (var (peer, count) in counters.ActiveCloses)
            {
                var closed = count - last.GetValueOrDefault(peer);
                if (closed > 0)
                {
                    rates[peer] = closed / seconds;
                }
            }
        }

        _lastCloses = counters.ActiveCloses;
        _lastAt = at;
        return [.. findings.Select(f => f with { Explanation = f.Explanation + Addition(f, closeDelays, oldestTraced, at, rates, inodeOf(f.Netns)) })];
    }

    /// <summary>
    /// The median of a log2 histogram of ns (slot k: [2^(k-1), 2^k) ns; slot 0: zero), placed in
    /// its slot by rank on a log scale, and the number of values; null when it is empty. The true
    /// median is in the same slot: within a factor of two.
    /// </summary>
    internal static (TimeSpan Median, long Count)? Median(IReadOnlyList<long> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        var count = slots.Sum();
        if (count == 0)
        {
            return null;
        }

        var rank = (count - 1) / 2.0;
        long before = 0;
        for (var k = 0; k < slots.Count; k++)
        {
            if (rank < before + slots[k])
            {
                var ns = k == 0 ? 0 : Math.Pow(2, k - 1) * Math.Pow(2, (rank - before + 0.5) / slots[k]);
                return (TimeSpan.FromTicks((long)(ns / 100)), count);
            }

            before += slots[k];
        }

        return null;
    }

    private static string Addition(
        Finding f,
        IReadOnlyDictionary<(uint Netns, string Process), long[]> closeDelays,
        Func<uint, int, DateTimeOffset?> oldestTraced,
        DateTimeOffset at,
        Dictionary<Peer, double> rates,
        uint netns)
    {
        switch (f.Kind)
        {
            case FindingKind.CloseWaitLeak when f.Owner is { } owner:
                var usual = closeDelays.TryGetValue((netns, owner.Process), out var slots) && Median(slots) is var (median, closes)
                    ? string.Create(CultureInfo.InvariantCulture, $"; traced: {owner.Process} usually closes about {Seconds(median)} after the peer's FIN (the median of its {closes} {(closes == 1 ? "close" : "closes")} since tracing started, within a factor of two)")
                    : $"; traced: no close of {owner.Process} after a peer's FIN has been seen since tracing started";
                return oldestTraced(netns, owner.Pid) is { } entered
                    ? usual + string.Create(CultureInfo.InvariantCulture, $"; the oldest of its close_wait sockets whose entry was seen got the peer's FIN {Seconds(at - entered)} ago (exact)")
                    : usual;
            case FindingKind.EphemeralPortPressure:
                var destination = f.Subject[(f.Subject.IndexOf(" -> ", StringComparison.Ordinal) + 4)..];
                var rate = rates.Where(r => r.Key.Netns == netns && Endpoint(r.Key) == destination).Sum(r => r.Value);
                return string.Create(CultureInfo.InvariantCulture, $"; traced: this host closes {rate:0.#} connections a second toward {destination} first (established -> fin_wait1), each leaving a time_wait");
            case FindingKind.TimeWaitBucketPressure:
                var top = rates.Where(r => r.Key.Netns == netns).OrderByDescending(r => r.Value).Take(3)
                    .Select(r => string.Create(CultureInfo.InvariantCulture, $"{Endpoint(r.Key)} {r.Value:0.#}/s")).ToList();
                return top.Count == 0 ? "" : "; traced: the closes behind it, by destination: " + string.Join(", ", top);
            default:
                return "";
        }
    }

    /// <summary>A peer as the findings name it; port 0 is the clients at that address (connections this host accepted).</summary>
    private static string Endpoint(Peer p) => p.Port == 0
        ? $"clients at {p.Address}"
        : p.Address.Contains(':', StringComparison.Ordinal) ? $"[{p.Address}]:{p.Port}" : $"{p.Address}:{p.Port}";

    private static string Seconds(TimeSpan t) => t.TotalSeconds >= 60
        ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0} s")
        : t.TotalSeconds >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.0} ms");
}
