using System.Diagnostics;
using SockWatch.Core;

namespace SockWatch.Agent.Tracing;

/// <summary>A socket in close_wait, exact from its entry.</summary>
/// <param name="Netns">The namespace inode.</param>
/// <param name="Local">Local address and port, as <c>ADDRESS:PORT</c> (IPv6 in brackets).</param>
/// <param name="Remote">Remote address and port.</param>
/// <param name="Pid">The owner's process id; 0 when unknown.</param>
/// <param name="Process">The owner's comm; empty when unknown.</param>
/// <param name="EnteredNs">CLOCK_MONOTONIC of its entry into close_wait (the peer's FIN).</param>
internal readonly record struct TracedCloseWait(uint Netns, string Local, string Remote, int Pid, string Process, long EnteredNs)
{
    /// <summary>Its age at <paramref name="nowNs"/> (CLOCK_MONOTONIC).</summary>
    public TimeSpan AgeAt(long nowNs) => TimeSpan.FromTicks(Math.Max(0, nowNs - EnteredNs) / 100);
}

/// <summary>
/// What user space keeps from the ring buffer: the sockets in close_wait now (exact ages), how
/// long each application takes to close after the peer's FIN (the close_wait exits), and
/// connect failures per destination. Fed on the consumer thread, read by the poll loop.
/// </summary>
internal sealed class TraceAggregator
{
    /// <summary>Close delays remembered per owner: enough for a median, bounded.</summary>
    private const int DelaysPerOwner = 256;

    /// <summary>Owners with remembered close delays; then the oldest are forgotten.</summary>
    private const int MaxOwners = 1024;

    /// <summary>Destinations with connect failures of their own; the rest are counted as one.</summary>
    private const int MaxPeers = 4096;

    private readonly Lock _lock = new();
    // Records are kept as they came, and turned into text only when read: at tens of thousands
    // of close_wait entries and exits a second, formatting each one cost most of the daemon's CPU.
    private readonly Dictionary<ulong, TraceRecord> _closeWait = [];
    private readonly Dictionary<(uint Netns, Comm Process), Queue<long>> _delays = new(new OwnerComparer());
    private readonly Dictionary<Peer, long> _failures = [];

    /// <summary>Takes one record of the ring buffer.</summary>
    public void Add(in TraceRecord r)
    {
        lock (_lock)
        {
            if (r.To == TcpState.CloseWait)
            {
                _closeWait[r.Socket] = r;
            }

            if (r.From == TcpState.CloseWait)
            {
                _closeWait.Remove(r.Socket);
                if (r.InStateNs > 0)
                {
                    var key = (r.Netns, r.Comm);
                    if (!_delays.TryGetValue(key, out var delays))
                    {
                        if (_delays.Count >= MaxOwners)
                        {
                            _delays.Remove(_delays.Keys.First());
                        }

                        _delays[key] = delays = new Queue<long>();
                    }

                    if (delays.Count == DelaysPerOwner)
                    {
                        delays.Dequeue();
                    }

                    delays.Enqueue(r.InStateNs);
                }
            }

            if (r.From == TcpState.SynSent && r.To == TcpState.Close)
            {
                var peer = new Peer(r.Netns, r.Remote.ToAddress(r.Family).ToString(), r.RemotePort);
                if (!_failures.ContainsKey(peer) && _failures.Count >= MaxPeers)
                {
                    peer = new Peer(r.Netns, "other", 0);
                }

                _failures[peer] = _failures.GetValueOrDefault(peer) + 1;
            }
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

    /// <summary>The sockets in close_wait now (a copy).</summary>
    public IReadOnlyList<TracedCloseWait> CloseWaits()
    {
        lock (_lock)
        {
            return [.. _closeWait.Values.Select(r => new TracedCloseWait(r.Netns, Endpoint(r, local: true), Endpoint(r, local: false), r.Pid, r.Comm.Text(), r.AtNs))];
        }
    }

    /// <summary>
    /// When each socket in close_wait now entered it, by socket cookie (the records' identity is
    /// the cookie sock_diag reports), as wall-clock times: the records' CLOCK_MONOTONIC placed
    /// against <paramref name="at"/>, taken as this call's instant.
    /// </summary>
    public IReadOnlyDictionary<ulong, DateTimeOffset> CloseWaitEntriesAt(DateTimeOffset at)
    {
        var now = MonotonicNow();
        lock (_lock)
        {
            var entries = new Dictionary<ulong, DateTimeOffset>(_closeWait.Count);
            foreach (var (cookie, r) in _closeWait)
            {
                entries[cookie] = at - TimeSpan.FromTicks(Math.Max(0, now - r.AtNs) / 100);
            }

            return entries;
        }
    }

    /// <summary>
    /// Forgets the close_wait entries a poll proves stale: in a namespace the poll read, entered
    /// before <paramref name="seenBeforeNs"/> (CLOCK_MONOTONIC at the poll's start), and not in
    /// close_wait in it. Their exit record was lost (the ring was full), so without this they
    /// would stay for the daemon's life. Returns how many went.
    /// </summary>
    public int Forget(Func<uint, bool> read, IReadOnlySet<ulong> inCloseWait, long seenBeforeNs)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(inCloseWait);
        lock (_lock)
        {
            var stale = _closeWait.Where(e => read(e.Value.Netns) && e.Value.AtNs < seenBeforeNs && !inCloseWait.Contains(e.Key)).Select(e => e.Key).ToList();
            foreach (var cookie in stale)
            {
                _closeWait.Remove(cookie);
            }

            return stale.Count;
        }
    }

    /// <summary>The median time an owner took from the peer's FIN to its own close, over its last closes; null when none was seen.</summary>
    public TimeSpan? UsualCloseDelay(uint netns, string process)
    {
        lock (_lock)
        {
            Comm comm = default;
            System.Text.Encoding.UTF8.GetBytes(process.AsSpan(0, Math.Min(process.Length, 15)), comm);
            if (!_delays.TryGetValue((netns, comm), out var delays) || delays.Count == 0)
            {
                return null;
            }

            var sorted = delays.Order().ToArray();
            return TimeSpan.FromTicks(sorted[sorted.Length / 2] / 100);
        }
    }

    /// <summary>Owners compared by namespace and the comm's 16 bytes.</summary>
    private sealed class OwnerComparer : IEqualityComparer<(uint Netns, Comm Process)>
    {
        public bool Equals((uint Netns, Comm Process) x, (uint Netns, Comm Process) y) =>
            x.Netns == y.Netns && ((ReadOnlySpan<byte>)x.Process).SequenceEqual(y.Process);

        public int GetHashCode((uint Netns, Comm Process) obj)
        {
            var hash = new HashCode();
            hash.Add(obj.Netns);
            hash.AddBytes(obj.Process);
            return hash.ToHashCode();
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
