using System.Runtime.InteropServices;

namespace SockWatch.Core.Detection;

/// <summary>The last observed example of one anomalous transition.</summary>
/// <param name="Socket">The socket, as <see cref="SocketKey.Describe"/> writes it.</param>
/// <param name="From">The state in the earlier poll.</param>
/// <param name="To">The state in the later poll.</param>
/// <param name="At">The time of the poll that saw <paramref name="To"/>.</param>
public sealed record TransitionExample(string Socket, TcpState From, TcpState To, DateTimeOffset At);

/// <summary>
/// Follows sockets from poll to poll: when each was first seen, since when it is in its
/// current state, and which transitions happened between polls.
/// </summary>
/// <remarks>
/// <para>
/// No clock: the time of a poll is <see cref="PollInput.At"/>, so a test drives the tracker
/// with any sequence of times, and a restarted daemon is a new tracker.
/// </para>
/// <para>
/// Ages are what the polls can prove, so they are lower bounds: a socket first seen in a state
/// has been in it at least since that poll. For close_wait and fin_wait2 the kernel gives a
/// better bound through tcp_info (see <see cref="KernelStateAgeBound"/>), which is what lets a
/// freshly started daemon see a close_wait that has been leaking for hours.
/// </para>
/// <para>
/// Memory: a socket absent from a poll is dropped in that poll, so the tracker never holds
/// more entries than the largest poll. A socket that vanishes from one dump (a truncated dump)
/// and comes back is seen as new.
/// </para>
/// <para>Not thread-safe: one poll loop calls <see cref="Update"/>; readers use the immutable <see cref="TrackResult"/>.</para>
/// </remarks>
public sealed class SocketTracker
{
    // Netlink sockets are keyed by cookie alone (8 bytes); /proc sockets by tuple and inode.
    // Two maps keep the common case small: at 100,000 sockets the entries take 4.8 MB, not 12.
    private readonly Dictionary<ulong, Entry> _byCookie = [];
    private readonly Dictionary<SocketKey, Entry> _byTuple = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _transitions = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _anomalies = [];
    private readonly Dictionary<(TcpState From, TcpState To), TransitionExample> _examples = [];
    private DateTimeOffset? _previousAt;
    private long _generation;

    /// <summary>Sockets tracked now: after an <see cref="Update"/>, the sockets of that poll.</summary>
    public int Count => _byCookie.Count + _byTuple.Count;

    /// <summary>Observed transitions (from != to) since the tracker started, by pair. Live: read it on the poll thread.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions => _transitions;

    /// <summary>The observed transitions that <see cref="TcpTransitions.IsLegal"/> rejects, by pair; each is in <see cref="Transitions"/> too.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies => _anomalies;

    /// <summary>The last socket seen making each anomalous transition.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), TransitionExample> AnomalyExamples => _examples;

    /// <summary>
    /// A lower bound, from tcp_info, of how long a close_wait or fin_wait2 socket has been in
    /// its state; null for other states or when tcp_info did not come (always from /proc).
    /// </summary>
    /// <remarks>
    /// <para>
    /// close_wait began when the peer's FIN arrived (close wave 1); fin_wait2 began when the ACK
    /// of our FIN arrived (wave 2). Both segments carried an ACK, so the time since the last ACK
    /// was received (tcpi_last_ack_recv) is at most the time in the state. Whatever the peer
    /// sent afterwards (keepalive replies, data into a half-closed fin_wait2) only makes the
    /// bound smaller, never larger. The same holds for tcpi_last_data_recv, so the bound is
    /// the smaller of the two fields the kernel sent.
    /// </para>
    /// <para>
    /// Limits: it is a lower bound only. A chatty peer (keepalive every 75 s) keeps it near zero
    /// though the socket may be hours old; then the tracker's own observation takes over from
    /// the second poll on. The kernel's fields are 32-bit milliseconds (about 49.7 days) and
    /// count from the last segment in jiffies, so a bound older than that wraps.
    /// </para>
    /// </remarks>
    public static TimeSpan? KernelStateAgeBound(in SocketRecord record)
    {
        if (record.State is not (TcpState.CloseWait or TcpState.FinWait2) || !record.TcpInfo.IsPresent)
        {
            return null;
        }

        var ack = record.TcpInfo.LastAckReceivedMs;
        var data = record.TcpInfo.LastDataReceivedMs;
        uint? ms = (ack, data) switch
        {
            (TcpInfoSummary.Absent, TcpInfoSummary.Absent) => null,
            (TcpInfoSummary.Absent, _) => data,
            (_, TcpInfoSummary.Absent) => ack,
            _ => Math.Min(ack, data),
        };
        return ms is { } value ? TimeSpan.FromMilliseconds(value) : null;
    }

    /// <summary>Takes one poll: ages of its sockets, transitions since the previous poll, and drops sockets that are gone.</summary>
    public TrackResult Update(PollInput poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var at = poll.At;
        var records = poll.Sockets.Span;
        var firstSeen = new DateTimeOffset[records.Length];
        var stateSince = new DateTimeOffset[records.Length];
        var ages = new TimeSpan[records.Length];
        var generation = ++_generation;
        int fresh = 0, distinct = 0, transitions = 0, anomalies = 0;

        for (var i = 0; i < records.Length; i++)
        {
            ref readonly var record = ref records[i];
            bool exists;
            ref var entry = ref record.HasCookie
                ? ref CollectionsMarshal.GetValueRefOrAddDefault(_byCookie, record.Cookie, out exists)
                : ref CollectionsMarshal.GetValueRefOrAddDefault(_byTuple, SocketKey.Of(in record), out exists);
            if (!exists)
            {
                // First sight: in this state at least since now, or since the kernel's bound.
                fresh++;
                entry.State = record.State;
                entry.FirstSeen = at;
                entry.StateSince = at - (KernelStateAgeBound(in record) ?? TimeSpan.Zero);
            }
            else if (entry.Generation != generation && entry.State != record.State)
            {
                // A change between the previous poll and this one. It happened after the previous
                // poll, so the kernel's bound is capped by the interval.
                var pair = (entry.State, record.State);
                transitions++;
                Increment(_transitions, pair);
                if (!TcpTransitions.IsLegal(entry.State, record.State))
                {
                    anomalies++;
                    Increment(_anomalies, pair);
                    _examples[pair] = new TransitionExample(SocketKey.Describe(in record), entry.State, record.State, at);
                }

                var bound = KernelStateAgeBound(in record) ?? TimeSpan.Zero;
                if (_previousAt is { } previous && at - previous < bound)
                {
                    bound = at - previous;
                }

                entry.State = record.State;
                entry.StateSince = at - (bound < TimeSpan.Zero ? TimeSpan.Zero : bound);
            }

            // A key twice in one poll (never from a sane dump) is one socket: the first record wins.
            if (entry.Generation != generation)
            {
                distinct++;
                entry.Generation = generation;
            }

            firstSeen[i] = entry.FirstSeen;
            stateSince[i] = entry.StateSince;
            var age = at - entry.StateSince;
            ages[i] = age < TimeSpan.Zero ? TimeSpan.Zero : age; // the clock may step back
        }

        var dropped = 0;
        if (Count > distinct)
        {
            dropped = DropOthers(_byCookie, generation) + DropOthers(_byTuple, generation);
        }

        _previousAt = at;
        return new TrackResult(
            at,
            firstSeen,
            stateSince,
            ages,
            fresh,
            dropped,
            transitions,
            anomalies,
            new Dictionary<(TcpState From, TcpState To), long>(_transitions),
            new Dictionary<(TcpState From, TcpState To), long>(_anomalies),
            new Dictionary<(TcpState From, TcpState To), TransitionExample>(_examples));
    }

    /// <summary>Removes the entries not seen in this generation (allowed while enumerating a Dictionary, and allocation-free).</summary>
    private static int DropOthers<TKey>(Dictionary<TKey, Entry> map, long generation)
        where TKey : notnull
    {
        var dropped = 0;
        foreach (var (key, entry) in map)
        {
            if (entry.Generation != generation)
            {
                map.Remove(key);
                dropped++;
            }
        }

        return dropped;
    }

    private static void Increment(Dictionary<(TcpState From, TcpState To), long> counts, (TcpState, TcpState) pair) =>
        CollectionsMarshal.GetValueRefOrAddDefault(counts, pair, out _)++;

    /// <summary>24 bytes and a state: times as UTC ticks (DateTimeOffset carries an offset too).</summary>
    private struct Entry
    {
        public TcpState State;
        private long _firstSeen;
        private long _stateSince;
        public long Generation;

        public DateTimeOffset FirstSeen
        {
            readonly get => new(_firstSeen, TimeSpan.Zero);
            set => _firstSeen = value.UtcTicks;
        }

        public DateTimeOffset StateSince
        {
            readonly get => new(_stateSince, TimeSpan.Zero);
            set => _stateSince = value.UtcTicks;
        }
    }
}

/// <summary>
/// What the tracker made of one poll. Immutable: the per-socket lists are parallel to
/// <see cref="PollInput.Sockets"/>, and the counters are copies taken at the end of the poll.
/// </summary>
public sealed class TrackResult
{
    internal TrackResult(
        DateTimeOffset at,
        DateTimeOffset[] firstSeen,
        DateTimeOffset[] stateSince,
        TimeSpan[] ageInState,
        int newSockets,
        int droppedSockets,
        int transitionsObserved,
        int anomaliesObserved,
        IReadOnlyDictionary<(TcpState From, TcpState To), long> transitions,
        IReadOnlyDictionary<(TcpState From, TcpState To), long> anomalies,
        IReadOnlyDictionary<(TcpState From, TcpState To), TransitionExample> anomalyExamples)
    {
        At = at;
        FirstSeen = firstSeen;
        StateSince = stateSince;
        AgeInState = ageInState;
        NewSockets = newSockets;
        DroppedSockets = droppedSockets;
        TransitionsObserved = transitionsObserved;
        AnomaliesObserved = anomaliesObserved;
        Transitions = transitions;
        Anomalies = anomalies;
        AnomalyExamples = anomalyExamples;
    }

    /// <summary>The poll's time.</summary>
    public DateTimeOffset At { get; }

    /// <summary>When each socket was first seen by this tracker.</summary>
    public IReadOnlyList<DateTimeOffset> FirstSeen { get; }

    /// <summary>Since when each socket is (at least) in its current state.</summary>
    public IReadOnlyList<DateTimeOffset> StateSince { get; }

    /// <summary><see cref="At"/> minus <see cref="StateSince"/>, never negative: a lower bound of the time in state.</summary>
    public IReadOnlyList<TimeSpan> AgeInState { get; }

    /// <summary>Sockets seen for the first time in this poll.</summary>
    public int NewSockets { get; }

    /// <summary>Sockets of the previous poll that are gone from this one (and were dropped).</summary>
    public int DroppedSockets { get; }

    /// <summary>State changes seen in this poll.</summary>
    public int TransitionsObserved { get; }

    /// <summary>Anomalous state changes seen in this poll.</summary>
    public int AnomaliesObserved { get; }

    /// <summary>Cumulative transitions by (from, to), as of this poll.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions { get; }

    /// <summary>Cumulative anomalous transitions by (from, to), as of this poll.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies { get; }

    /// <summary>The last example of each anomalous pair, as of this poll.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), TransitionExample> AnomalyExamples { get; }
}
