namespace SockWatch.Agent.Diagram;

/// <summary>One kept poll: its time and its counts by namespace and by owner (shared with the poll, not copied).</summary>
internal sealed record HistoryPoint(DateTimeOffset At, IReadOnlyList<NamespaceCount> Namespaces, IReadOnlyList<OwnerCount> Owners);

/// <summary>
/// The last hour of polls, in memory and bounded: at most <see cref="MaxPoints"/> points kept,
/// one every <see cref="Window"/> / <see cref="MaxPoints"/> (5 s) at most, so a short poll
/// interval thins the points instead of growing the memory; the latest poll always ends the list,
/// kept or not. Each point holds the poll's capped counts by namespace and owner (no socket), so
/// its size is bounded by the series caps. The poll thread adds; readers take the current
/// arrays without a lock and never hold the poll thread up.
/// </summary>
internal sealed class PollHistory
{
    public const int MaxPoints = 720;

    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    private static readonly TimeSpan Spacing = Window / MaxPoints;

    private State _state = new([], null);

    /// <summary>The points kept, oldest first, then the latest poll when it was not kept (a list no one changes after it is published).</summary>
    public IReadOnlyList<HistoryPoint> Points => Volatile.Read(ref _state).Points;

    /// <summary>Keeps a poll unless it is within 5 s of the last point kept; drops the points older than an hour before it.</summary>
    public void Add(DiagramPoll poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var point = new HistoryPoint(poll.At, poll.Namespaces, poll.Owners);
        var kept = Volatile.Read(ref _state).Kept;
        if (kept.Length > 0 && poll.At - kept[^1].At < Spacing)
        {
            Volatile.Write(ref _state, new State(kept, point));
            return;
        }

        var keepFrom = 0;
        while (keepFrom < kept.Length && (poll.At - kept[keepFrom].At >= Window || kept.Length - keepFrom >= MaxPoints))
        {
            keepFrom++;
        }

        var next = new HistoryPoint[kept.Length - keepFrom + 1];
        Array.Copy(kept, keepFrom, next, 0, kept.Length - keepFrom);
        next[^1] = point;
        Volatile.Write(ref _state, new State(next, null));
    }

    private sealed class State(HistoryPoint[] kept, HistoryPoint? latest)
    {
        public HistoryPoint[] Kept { get; } = kept;

        public IReadOnlyList<HistoryPoint> Points { get; } = latest is null ? kept : [.. kept, latest];
    }
}
