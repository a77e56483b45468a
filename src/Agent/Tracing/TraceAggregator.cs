using System.Diagnostics;
using SockWatch.Core;

namespace SockWatch.Agent.Tracing;

/// <summary>
/// What user space keeps from the ring buffer in the daemon: connect failures per destination
/// (syn_sent to close). Fed on the consumer thread, read by the poll loop. Close_wait entries
/// and the time applications take to close are read from the kernel's maps instead
/// (<see cref="TraceSession.TryCloseWaitEntry"/>, <see cref="TraceSession.CloseDelays"/>).
/// </summary>
internal sealed class TraceAggregator
{
    /// <summary>Destinations with connect failures of their own; the rest are counted as one.</summary>
    private const int MaxPeers = 4096;

    private readonly Lock _lock = new();
    private readonly Dictionary<Peer, long> _failures = [];

    /// <summary>Takes one record of the ring buffer.</summary>
    public void Add(in TraceRecord r)
    {
        if (r.From != TcpState.SynSent || r.To != TcpState.Close)
        {
            return;
        }

        lock (_lock)
        {
            var peer = new Peer(r.Netns, r.Remote.ToAddress(r.Family).ToString(), r.RemotePort);
            if (!_failures.ContainsKey(peer) && _failures.Count >= MaxPeers)
            {
                peer = new Peer(r.Netns, "other", 0);
            }

            _failures[peer] = _failures.GetValueOrDefault(peer) + 1;
        }
    }

    /// <summary>Connect failures per destination since start (a copy).</summary>
    public IReadOnlyDictionary<Peer, long> ConnectFailures()
    {
        lock (_lock)
        {
            return new Dictionary<Peer, long>(_failures);
        }
    }

    /// <summary>CLOCK_MONOTONIC now, in ns: the clock of the records (Stopwatch's on Linux).</summary>
    public static long MonotonicNow() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    internal static string Endpoint(in TraceRecord r, bool local)
    {
        var address = (local ? r.Local : r.Remote).ToAddress(r.Family).ToString();
        var port = local ? r.LocalPort : r.RemotePort;
        return r.IsV6 ? $"[{address}]:{port}" : $"{address}:{port}";
    }
}
