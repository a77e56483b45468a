using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tracing;

/// <summary>
/// What tracing adds to the poll's findings: a close_wait leak says how long that application
/// usually takes to close after the peer's FIN (its close_wait exits seen by the tracer); an
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
    /// <param name="aggregator">What the ring buffer's consumer keeps.</param>
    /// <param name="at">The poll's time.</param>
    /// <param name="inodeOf">The namespace inode of a finding's netns name (null: the daemon's own).</param>
    public IReadOnlyList<Finding> Enrich(IReadOnlyList<Finding> findings, TraceCounters counters, TraceAggregator aggregator, DateTimeOffset at, Func<string?, uint> inodeOf)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(counters);
        ArgumentNullException.ThrowIfNull(aggregator);
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
        return [.. findings.Select(f => f with { Explanation = f.Explanation + Addition(f, aggregator, rates, inodeOf(f.Netns)) })];
    }

    private static string Addition(Finding f, TraceAggregator aggregator, Dictionary<Peer, double> rates, uint netns)
    {
        switch (f.Kind)
        {
            case FindingKind.CloseWaitLeak when f.Owner is { } owner:
                var usual = aggregator.UsualCloseDelay(netns, owner.Process) is { } median
                    ? string.Create(CultureInfo.InvariantCulture, $"; traced: {owner.Process} usually closes {Seconds(median)} after the peer's FIN (the median of its recent closes)")
                    : $"; traced: no close of {owner.Process} after a peer's FIN has been seen since tracing started";
                var entered = aggregator.CloseWaits().Where(c => c.Netns == netns && c.Pid == owner.Pid).Select(c => c.EnteredNs).DefaultIfEmpty(long.MaxValue).Min();
                return entered == long.MaxValue ? usual
                    : usual + string.Create(CultureInfo.InvariantCulture, $"; the oldest of its close_wait sockets whose entry was seen got the peer's FIN {Seconds(TimeSpan.FromTicks((TraceAggregator.MonotonicNow() - entered) / 100))} ago (exact)");
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
