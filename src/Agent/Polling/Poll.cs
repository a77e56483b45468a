using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Polling;

/// <summary>
/// What one run of the <see cref="PollPipeline"/> produced: one table of every watched
/// namespace's sockets, each namespace a segment of it, and for every socket one view
/// (<see cref="PolledSocket"/>) of its record, owner and namespace. Valid until the pipeline's
/// next run reuses the table.
/// </summary>
internal sealed class Poll
{
    private readonly Owners? _owners;

    /// <summary>Each row's segment; null with one segment (the daemon's `--netns self`), which spares 4 bytes a socket a poll.</summary>
    private readonly int[]? _segmentOf;
    private List<NamespacePoll> _namespaces = [];

    /// <param name="at">When the poll was taken.</param>
    /// <param name="collector">The collector of this process's namespace.</param>
    /// <param name="table">Every namespace's sockets.</param>
    /// <param name="collection">How the namespaces were read, a segment each.</param>
    /// <param name="owners">The owners, parallel to the table; null when not resolved.</param>
    internal Poll(DateTimeOffset at, string collector, SocketTable table, NamespaceCollection collection, Owners? owners)
    {
        At = at;
        Collector = collector;
        Table = table;
        Collection = collection;
        _owners = owners;
        if (collection.Segments.Count <= 1)
        {
            return;
        }

        _segmentOf = new int[table.Count];
        for (var s = 0; s < collection.Segments.Count; s++)
        {
            var segment = collection.Segments[s];
            _segmentOf.AsSpan(segment.Start, segment.Count).Fill(s);
        }
    }

    public DateTimeOffset At { get; }

    /// <summary>The collector of this process's namespace (proc after a fallback from netlink).</summary>
    public string Collector { get; }

    public SocketTable Table { get; }

    public int Count => Table.Count;

    /// <summary>How the namespaces were read: segments, vanished, denied, failed.</summary>
    public NamespaceCollection Collection { get; }

    /// <summary>Every watched namespace read, in table order, with its tracking and findings.</summary>
    public IReadOnlyList<NamespacePoll> Namespaces => _namespaces;

    /// <summary>Every finding of every namespace, most severe first.</summary>
    public IReadOnlyList<Finding> Findings { get; internal set; } = [];

    /// <summary>Each stage that ran, in order, with its time and whether it succeeded.</summary>
    public IReadOnlyList<StageReport> Stages { get; internal set; } = [];

    /// <summary>Whether owners were resolved (asked for, and the owners stage succeeded).</summary>
    public bool HasOwners => _owners is not null;

    /// <summary>The owners as arrays parallel to the table, for readers that take them whole; null without owners.</summary>
    internal Owners? OwnersOfTable => _owners;

    /// <summary>The owner scan's figures; null without owners.</summary>
    public OwnerScanStats? OwnerStats => _owners?.Stats;

    /// <summary>Observed transitions since the pipeline started, over every namespace ever watched (never decreasing).</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions { get; internal set; } = new Dictionary<(TcpState, TcpState), long>();

    /// <summary>Anomalous observed transitions since the pipeline started.</summary>
    public IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies { get; internal set; } = new Dictionary<(TcpState, TcpState), long>();

    /// <summary>systemd's restart counts of the units that own close_wait leaks; empty without the system bus.</summary>
    public IReadOnlyList<Systemd.UnitRestarts> UnitRestarts { get; internal set; } = [];

    /// <summary>The stats of the first namespace (this process's, when watched), with the malformed records of all of them.</summary>
    public CollectionStats Stats => Collection.Segments.Count > 0
        ? Collection.Segments[0].Stats with { Malformed = Malformed }
        : new CollectionStats { Collector = Collector };

    /// <summary>Malformed kernel records over every namespace.</summary>
    public int Malformed => Collection.Segments.Sum(s => s.Stats.Malformed);

    /// <summary>One socket of the table, with everything the poll knows of it.</summary>
    public PolledSocket this[int index] => new(this, index);

    /// <summary>Unowned sockets (every socket when owners were not resolved).</summary>
    public int Unowned => _owners?.Of.Count(o => o is null) ?? Count;

    internal SocketOwner? OwnerAt(int index) => _owners?.Of[index];

    internal OwnerVia ViaAt(int index) => _owners?.Via[index] ?? default;

    internal UnownedReason ReasonAt(int index) => _owners?.Reasons[index] ?? UnownedReason.None;

    internal string? CgroupUnitAt(int index) => _owners?.CgroupUnits[index];

    internal NamespacePoll NamespaceAt(int index) => _namespaces[_segmentOf is null ? 0 : _segmentOf[index]];

    /// <summary>The owners as the tracker and detectors take them: parallel to the table (empty without owners).</summary>
    internal ArraySegment<SocketOwner?> OwnersOf(NamespaceSegment segment) =>
        _owners is { } o ? new ArraySegment<SocketOwner?>(o.Of, segment.Start, segment.Count) : [];

    internal void SetNamespaces(List<NamespacePoll> namespaces) => _namespaces = namespaces;

    /// <summary>The owners of a poll's sockets, parallel to its table.</summary>
    internal sealed record Owners(SocketOwner?[] Of, OwnerVia[] Via, UnownedReason[] Reasons, string?[] CgroupUnits, OwnerScanStats? Stats)
    {
        public static Owners From(SocketOwnership ownership) => new(
            ownership.Owners as SocketOwner?[] ?? [.. ownership.Owners],
            ownership.Via as OwnerVia[] ?? [.. ownership.Via],
            ownership.Reasons as UnownedReason[] ?? [.. ownership.Reasons],
            ownership.CgroupUnits as string?[] ?? [.. ownership.CgroupUnits],
            ownership.Stats);
    }
}

/// <summary>One namespace of a poll: its segment of the table, how it was read, and what the tracker and detectors made of it.</summary>
internal sealed class NamespacePoll(Poll poll, NamespaceSegment segment, PollInput input)
{
    public NetworkNamespace Namespace => Segment.Namespace;

    public NamespaceSegment Segment { get; } = segment;

    /// <summary>Its sockets, owners, facts and descriptor use, as Core's tracker and detectors take them.</summary>
    public PollInput Input { get; } = input;

    public int Count => Segment.Count;

    /// <summary>The tracker's result; null when the track stage did not run or failed.</summary>
    public TrackResult? Track { get; internal set; }

    /// <summary>Its findings, each marked with its namespace.</summary>
    public IReadOnlyList<Finding> Findings { get; internal set; } = [];

    /// <summary>Its <paramref name="index"/>th socket.</summary>
    public PolledSocket this[int index] => poll[Segment.Start + index];
}

/// <summary>One socket of a poll: its record, its owner (or why it has none), and its namespace.</summary>
internal readonly struct PolledSocket(Poll poll, int index)
{
    /// <summary>The row in the poll's table.</summary>
    public int Index => index;

    public ref readonly SocketRecord Record => ref poll.Table.Records[index];

    public SocketOwner? Owner => poll.OwnerAt(index);

    /// <summary>How the owner was found (a descriptor, or a local listener's port).</summary>
    public OwnerVia Via => poll.ViaAt(index);

    /// <summary>Why it has no owner (<see cref="UnownedReason.None"/> when it has one, or owners were not resolved).</summary>
    public UnownedReason Unowned => poll.ReasonAt(index);

    /// <summary>The unit of its own cgroup (netlink), when known.</summary>
    public string? CgroupUnit => poll.CgroupUnitAt(index);

    public NamespacePoll Namespace => poll.NamespaceAt(index);

    /// <summary>How long it has been in its state, as the tracker knows it; zero when not tracked.</summary>
    public TimeSpan AgeInState
    {
        get
        {
            var ns = Namespace;
            return ns.Track is { } track ? track.AgeInState[index - ns.Segment.Start] : TimeSpan.Zero;
        }
    }
}
