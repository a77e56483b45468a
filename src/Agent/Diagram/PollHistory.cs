namespace SockWatch.Agent.Diagram;

/// <summary>One kept poll: its time and its counts by namespace and by owner (shared with the poll, not copied).</summary>
internal sealed record HistoryPoint(DateTimeOffset At, IReadOnlyList<NamespaceCount> Namespaces, IReadOnlyList<OwnerCount> Owners);

/// <summary>
/// The last hour of polls, in memory and bounded: at most <see cref="MaxPoints"/> points, one
/// every <see cref="Window"/> / <see cref="MaxPoints"/> (5 s) at most, so a short poll interval
/// thins the points instead of growing the memory. Each point holds the poll's capped counts by
/// namespace and owner (no socket), so its size is bounded by the series caps. The poll thread
/// adds; readers take the current array without a lock and never hold the poll thread up.
/// </summary>
internal sealed class PollHistory
{
    public const int MaxPoints = 720;

    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    private static readonly TimeSpan Spacing = Window / MaxPoints;

    private HistoryPoint[] _points = [];

    /// <summary>The points kept, oldest first (an array no one changes after it is published).</summary>
    public IReadOnlyList<HistoryPoint> Points => Volatile.Read(ref _points);

    /// <summary>Keeps a poll unless it is within 5 s of the last point kept; drops the points older than an hour before it.</summary>
    public void Add(DiagramPoll poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var points = Volatile.Read(ref _points);
        if (points.Length > 0 && poll.At - points[^1].At < Spacing)
        {
            return;
        }

        var keepFrom = 0;
        while (keepFrom < points.Length && (poll.At - points[keepFrom].At >= Window || points.Length - keepFrom >= MaxPoints))
        {
            keepFrom++;
        }

        var next = new HistoryPoint[points.Length - keepFrom + 1];
        Array.Copy(points, keepFrom, next, 0, points.Length - keepFrom);
        next[^1] = new HistoryPoint(poll.At, poll.Namespaces, poll.Owners);
        Volatile.Write(ref _points, next);
    }
}
