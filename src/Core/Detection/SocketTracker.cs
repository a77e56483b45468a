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
/// With the kernel tracer, a close_wait socket whose entry it saw has an exact age: its
/// <see cref="PollInput.CloseWaitEntries"/> time replaces the bound.
/// </para>
/// <para>
/// Memory: a socket absent from a poll is dropped in that poll, so the tracker holds the
/// sockets of the last poll only, in tables sized for that poll. A socket that vanishes from one dump (a truncated dump)
/// and comes back is seen as new.
/// </para>
/// <para>Not thread-safe: one poll loop calls <see cref="Update"/>; readers use the immutable <see cref="TrackResult"/>.</para>
/// </remarks>
public sealed class SocketTracker
{
    // Netlink sockets are keyed by cookie alone (8 bytes); /proc sockets by tuple and inode.
    // Each poll's sockets go into tables made for that poll's count, and the previous poll's
    // tables are let go: a socket absent from a poll is simply not carried over, and the
    // tables never keep the room of a larger past poll (25 bytes a slot, at most 3/4 full:
    // at 100,000 sockets 3.3 MB, where a Dictionary of the same entries held 9.1 MB).
    private KeyTable<ulong> _byCookie = new(0);
    private KeyTable<SocketKey> _byTuple = new(0);
    private readonly Dictionary<(TcpState From, TcpState To), long> _transitions = [];
    private readonly Dictionary<(TcpState From, TcpState To), long> _anomalies = [];
    private readonly Dictionary<(TcpState From, TcpState To), TransitionExample> _examples = [];
    private DateTimeOffset? _previousAt;

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
        var withCookie = 0;
        foreach (ref readonly var record in records)
        {
            withCookie += record.HasCookie ? 1 : 0;
        }

        var byCookie = new KeyTable<ulong>(withCookie);
        var byTuple = new KeyTable<SocketKey>(records.Length - withCookie);
        var firstSeen = new long[records.Length];
        var stateSince = new long[records.Length];
        var tally = default(Tally);
        for (var i = 0; i < records.Length; i++)
        {
            ref readonly var record = ref records[i];
            if (record.HasCookie)
            {
                var slot = Track(_byCookie, byCookie, record.Cookie, record.Cookie, in record, at, ref tally);
                if (record.State == TcpState.CloseWait && poll.CloseWaitEntries.TryGetValue(record.Cookie, out var entered) && entered <= at)
                {
                    byCookie.SetStateSince(slot, entered.UtcTicks);
                }

                (firstSeen[i], stateSince[i]) = byCookie.Times(slot);
            }
            else
            {
                var key = SocketKey.Of(in record);
                (firstSeen[i], stateSince[i]) = byTuple.Times(Track(_byTuple, byTuple, key, (uint)key.GetHashCode(), in record, at, ref tally));
            }
        }

        var dropped = Count - tally.Carried;
        _byCookie = byCookie;
        _byTuple = byTuple;
        _previousAt = at;
        return new TrackResult(
            at,
            firstSeen,
            stateSince,
            tally.Fresh,
            dropped,
            tally.Transitions,
            tally.Anomalies,
            new Dictionary<(TcpState From, TcpState To), long>(_transitions),
            new Dictionary<(TcpState From, TcpState To), long>(_anomalies),
            new Dictionary<(TcpState From, TcpState To), TransitionExample>(_examples));
    }

    /// <summary>
    /// Enters one record into this poll's table <paramref name="next"/> from what
    /// <paramref name="previous"/> knew of it, and returns its slot there. A key twice in one
    /// poll (never from a sane dump) is one socket: the first record wins.
    /// </summary>
    private int Track<TKey>(KeyTable<TKey> previous, KeyTable<TKey> next, TKey key, ulong hash, in SocketRecord record, DateTimeOffset at, ref Tally tally)
        where TKey : IEquatable<TKey>
    {
        var slot = next.Find(key, hash);
        if (slot >= 0)
        {
            return slot;
        }

        var old = previous.Find(key, hash);
        TcpState state;
        long first, since;
        if (old < 0)
        {
            // First sight: in this state at least since now, or since the kernel's bound.
            tally.Fresh++;
            state = record.State;
            first = at.UtcTicks;
            since = (at - (KernelStateAgeBound(in record) ?? TimeSpan.Zero)).UtcTicks;
        }
        else
        {
            tally.Carried++;
            (state, first, since) = previous.Entry(old);
            if (state != record.State)
            {
                // A change between the previous poll and this one. It happened after the previous
                // poll, so the kernel's bound is capped by the interval.
                var pair = (state, record.State);
                tally.Transitions++;
                Increment(_transitions, pair);
                if (!TcpTransitions.IsLegal(state, record.State))
                {
                    tally.Anomalies++;
                    Increment(_anomalies, pair);
                    _examples[pair] = new TransitionExample(SocketKey.Describe(in record), state, record.State, at);
                }

                var bound = KernelStateAgeBound(in record) ?? TimeSpan.Zero;
                if (_previousAt is { } previousAt && at - previousAt < bound)
                {
                    bound = at - previousAt;
                }

                state = record.State;
                since = (at - (bound < TimeSpan.Zero ? TimeSpan.Zero : bound)).UtcTicks;
            }
        }

        next.Add(~slot, key, state, first, since);
        return ~slot;
    }

    private static void Increment(Dictionary<(TcpState From, TcpState To), long> counts, (TcpState, TcpState) pair) =>
        CollectionsMarshal.GetValueRefOrAddDefault(counts, pair, out _)++;

    private struct Tally
    {
        public int Fresh;
        public int Carried;
        public int Transitions;
        public int Anomalies;
    }

    /// <summary>
    /// One poll's sockets by key: open addressing with linear probing over parallel arrays (key,
    /// state, first seen, in state since; times as UTC ticks), sized once for a known count and
    /// never grown or emptied, so it needs no deletion.
    /// </summary>
    private sealed class KeyTable<TKey>
        where TKey : IEquatable<TKey>
    {
        private readonly TKey[] _keys;
        private readonly byte[] _states; // the state + 1; 0 marks an empty slot
        private readonly long[] _firstSeen;
        private readonly long[] _stateSince;

        /// <param name="expected">The most keys it will hold; it stays at most 3/4 full.</param>
        public KeyTable(int expected)
        {
            var capacity = expected == 0 ? 1 : expected + (expected / 3) + 1;
            _keys = new TKey[capacity];
            _states = new byte[capacity];
            _firstSeen = new long[capacity];
            _stateSince = new long[capacity];
        }

        public int Count { get; private set; }

        /// <summary>An exact entry into the slot's current state, known from elsewhere (the kernel tracer).</summary>
        public void SetStateSince(int slot, long ticks) => _stateSince[slot] = ticks;

        /// <summary>The slot of <paramref name="key"/>, or the complement of the empty slot where it would go.</summary>
        public int Find(TKey key, ulong hash)
        {
            if (Count == 0)
            {
                return ~Home(hash);
            }

            var i = Home(hash);
            while (_states[i] != 0)
            {
                if (_keys[i].Equals(key))
                {
                    return i;
                }

                i = i + 1 == _keys.Length ? 0 : i + 1;
            }

            return ~i;
        }

        public void Add(int slot, TKey key, TcpState state, long firstSeen, long stateSince)
        {
            _keys[slot] = key;
            _states[slot] = (byte)(state + 1);
            _firstSeen[slot] = firstSeen;
            _stateSince[slot] = stateSince;
            Count++;
        }

        public (TcpState State, long FirstSeen, long StateSince) Entry(int slot) =>
            ((TcpState)(_states[slot] - 1), _firstSeen[slot], _stateSince[slot]);

        public (long FirstSeen, long StateSince) Times(int slot) => (_firstSeen[slot], _stateSince[slot]);

        /// <summary>Fibonacci hashing (sequential cookies spread out), then scaled onto the table's length.</summary>
        private int Home(ulong hash) => (int)(((hash * 0x9E3779B97F4A7C15UL) >> 32) * (ulong)_keys.Length >> 32);
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
        long[] firstSeen,
        long[] stateSince,
        int newSockets,
        int droppedSockets,
        int transitionsObserved,
        int anomaliesObserved,
        IReadOnlyDictionary<(TcpState From, TcpState To), long> transitions,
        IReadOnlyDictionary<(TcpState From, TcpState To), long> anomalies,
        IReadOnlyDictionary<(TcpState From, TcpState To), TransitionExample> anomalyExamples)
    {
        At = at;
        FirstSeen = new TimeList(firstSeen);
        StateSince = new TimeList(stateSince);
        AgeInState = new AgeList(at.UtcTicks, stateSince);
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

/// <summary>UTC ticks read as times: 8 bytes a socket where a DateTimeOffset takes 16.</summary>
internal sealed class TimeList(long[] ticks) : IReadOnlyList<DateTimeOffset>
{
    public DateTimeOffset this[int index] => new(ticks[index], TimeSpan.Zero);

    public int Count => ticks.Length;

    public IEnumerator<DateTimeOffset> GetEnumerator()
    {
        foreach (var t in ticks)
        {
            yield return new DateTimeOffset(t, TimeSpan.Zero);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>The time from each socket's state-since to the poll, never negative (the clock may step back).</summary>
internal sealed class AgeList(long at, long[] stateSince) : IReadOnlyList<TimeSpan>
{
    public TimeSpan this[int index] => new(Math.Max(0, at - stateSince[index]));

    public int Count => stateSince.Length;

    public IEnumerator<TimeSpan> GetEnumerator()
    {
        for (var i = 0; i < stateSince.Length; i++)
        {
            yield return this[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
