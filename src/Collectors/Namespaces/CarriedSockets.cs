using SockWatch.Core;

namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// The connections of one namespace as its last full dump found them, with the namespace's
/// <see cref="TcpActivity"/> taken just before that dump. A later poll that reads the same
/// activity, before any carried socket's timer was due, takes these rows instead of dumping
/// again; listeners are never carried (they change without a segment: listen(), accept()), the
/// caller dumps them afresh, which walks only the kernel's listening hash.
/// </summary>
/// <remarks>
/// Time_wait minisockets (time_wait, and fin_wait2 of an orphan: timer 3) end at their timer
/// without a segment. When the only change is that tw fell by exactly the number of carried
/// minisockets whose timers have come due, those are the ones that ended (a timer never fires
/// before its time, and anything else that ends one moves another counter): they are dropped
/// and the rest carried. Any other timer that comes due means a dump.
/// </remarks>
/// <remarks>
/// Where namespaces share the host's TCP table, a dump of a namespace walks every socket of the
/// host; a quiet namespace carried costs three small reads and a walk of the listening hash.
/// What a carried row can miss is what moves without a segment or a timer (see
/// <see cref="TcpActivity"/>): receive-queue bytes read without a window update, send-queue
/// bytes held by Nagle or TCP_CORK, and a shutdown(SHUT_RD). A full dump at least every
/// redump interval bounds that; each namespace's interval is spread between half and all of it
/// (by its inode), so that namespaces dumped together at the start do not all come due together.
/// </remarks>
internal sealed class CarriedSockets
{
    /// <summary>
    /// Namespaces with more connections are dumped every poll: the copy would cost memory in
    /// proportion, and a namespace that large is seldom quiet for a whole poll interval.
    /// </summary>
    public const int MaxRows = 4096;

    private static readonly uint ListenMask = TcpStateMask.Of(TcpState.Listen);

    private readonly TimeProvider _time;
    private readonly double _spread;
    private SocketRecord[] _rows = [];
    private int _count;
    private bool _held;
    private TcpActivity _activity;
    private CollectRequest? _request;
    private long _dumpedAt;
    private TimeSpan _due;

    /// <summary>
    /// Milliseconds after the dump at which the first carried timer other than a time_wait
    /// minisocket's (retransmit, keepalive, probe) fires.
    /// </summary>
    private long _firstTimerMs;

    /// <param name="inode">The namespace's inode: where in [1/2, 1] of the redump interval its own interval falls.</param>
    public CarriedSockets(ulong inode, TimeProvider time)
    {
        _time = time;
        _spread = 0.5 + (0.5 * ((inode * 0x9E3779B97F4A7C15UL) >> 11) / (1UL << 53));
    }

    /// <summary>How many rows are held (0 when none are).</summary>
    public int Count => _held ? _count : 0;

    /// <summary>
    /// The request for the listeners alone, when <paramref name="request"/> asks for them; null
    /// when it does not (then there is nothing to dump for a carried namespace).
    /// </summary>
    public static CollectRequest? ListenersOf(CollectRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return (request.StateMask & ListenMask) == 0 ? null : request with { StateMask = ListenMask };
    }

    /// <summary>
    /// Whether the rows held can stand for a dump now: held, taken for the same request, the
    /// namespace's redump interval not over, no carried timer due but time_wait minisockets',
    /// and the namespace's activity unchanged since just before that dump but for tw, down by
    /// exactly the minisockets due. Those are dropped then (see the remarks).
    /// </summary>
    public bool TryCarry(TcpActivity? activity, CollectRequest request)
    {
        if (!_held || activity is not { } now || !Equals(request, _request))
        {
            return false;
        }

        var elapsed = _time.GetElapsedTime(_dumpedAt);
        var ms = (long)elapsed.TotalMilliseconds;
        if (elapsed >= _due || ms >= _firstTimerMs)
        {
            return false;
        }

        if (now == _activity)
        {
            return true; // nothing ended: a minisocket past its time that the kernel has not yet let go still counts in tw
        }

        var ended = 0;
        foreach (ref readonly var r in _rows.AsSpan(0, _count))
        {
            if (r.Timer == SocketTimer.TimeWait && r.TimerExpiresMs <= ms)
            {
                ended++;
            }
        }

        if (ended == 0 || now != _activity with { TimeWait = _activity.TimeWait - ended })
        {
            return false;
        }

        var kept = 0;
        for (var i = 0; i < _count; i++)
        {
            if (!(_rows[i].Timer == SocketTimer.TimeWait && _rows[i].TimerExpiresMs <= ms))
            {
                _rows[kept++] = _rows[i];
            }
        }

        _count = kept;
        _activity = now;
        return true;
    }

    /// <summary>
    /// Keeps the connections (every row but listeners) of a full dump just made, with the
    /// activity read before it; forgets instead when there is no activity to compare with, the
    /// redump interval is zero, or there are more than <see cref="MaxRows"/>.
    /// </summary>
    /// <param name="dumpStarted">The <see cref="TimeProvider.GetTimestamp"/> taken as the dump began: timers are
    /// counted from then, so that one due during the dump is never carried past.</param>
    public void Remember(ReadOnlySpan<SocketRecord> dumped, TcpActivity? activity, CollectRequest request, TimeSpan redumpAfter, long dumpStarted)
    {
        if (activity is not { } a || redumpAfter <= TimeSpan.Zero || dumped.Length > MaxRows)
        {
            Forget();
            return;
        }

        if (_rows.Length < dumped.Length)
        {
            _rows = new SocketRecord[Math.Max(dumped.Length, Math.Min(2 * _rows.Length, MaxRows))];
        }

        var count = 0;
        var firstTimer = long.MaxValue;
        foreach (ref readonly var r in dumped)
        {
            if (r.State == TcpState.Listen)
            {
                continue;
            }

            _rows[count++] = r;
            if (r.Timer is not (SocketTimer.Off or SocketTimer.TimeWait) && r.TimerExpiresMs < firstTimer)
            {
                firstTimer = r.TimerExpiresMs;
            }
        }

        _count = count;
        _firstTimerMs = firstTimer;
        _activity = a;
        _request = request;
        _dumpedAt = dumpStarted;
        _due = redumpAfter * _spread;
        _held = true;
    }

    /// <summary>
    /// Appends the rows held, aged by the time since their dump: timers are that much nearer
    /// (none is due, or <see cref="TryCarry"/> would have said no, but a minisocket's whose end
    /// the kernel's timer wheel has not reached yet: it shows 0), tcp_info's times since the
    /// last data and ACK that much longer (no segment came or went).
    /// </summary>
    public void AppendTo(SocketTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (!_held)
        {
            return;
        }

        var elapsed = (uint)Math.Min((long)_time.GetElapsedTime(_dumpedAt).TotalMilliseconds, uint.MaxValue - 1);
        table.EnsureCapacity(table.Count + _count);
        foreach (ref readonly var held in _rows.AsSpan(0, _count))
        {
            ref var r = ref table.Append();
            r = held;
            if (r.Timer != SocketTimer.Off)
            {
                r.TimerExpiresMs = r.TimerExpiresMs > elapsed ? r.TimerExpiresMs - elapsed : 0;
            }

            if (r.TcpInfo.IsPresent)
            {
                r.TcpInfo.LastDataSentMs = Later(r.TcpInfo.LastDataSentMs, elapsed);
                r.TcpInfo.LastDataReceivedMs = Later(r.TcpInfo.LastDataReceivedMs, elapsed);
                r.TcpInfo.LastAckReceivedMs = Later(r.TcpInfo.LastAckReceivedMs, elapsed);
            }
        }
    }

    /// <summary>Lets the rows go: the next poll dumps.</summary>
    public void Forget()
    {
        _held = false;
        _count = 0;
        _request = null;
        _rows = [];
    }

    private static uint Later(uint ms, uint elapsed) =>
        ms == TcpInfoSummary.Absent ? ms : (uint)Math.Min((ulong)ms + elapsed, TcpInfoSummary.Absent - 1);
}
