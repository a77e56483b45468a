using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Collectors;
using SockWatch.Collectors.Facts;
using SockWatch.Collectors.Namespaces;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent;

/// <summary>One namespace of a poll: its sockets as the tracker and detectors take them, and what its collection saw.</summary>
/// <param name="Namespace">The namespace.</param>
/// <param name="Input">Its sockets, their owners, its facts and the descriptor use of close_wait owners.</param>
/// <param name="Stats">What its collection saw besides the records.</param>
/// <param name="Reasons">Why each of its sockets is unowned, parallel to its sockets.</param>
/// <param name="CgroupUnits">The unit of each of its sockets' own cgroup (netlink), parallel.</param>
internal sealed record NamespacePoll(NetworkNamespace Namespace, PollInput Input, CollectionStats Stats, IReadOnlyList<UnownedReason> Reasons, IReadOnlyList<string?> CgroupUnits);

/// <summary>What one poll produced: the table of every watched namespace, and each namespace's part of it.</summary>
internal sealed record PollOutcome(SocketTable Table, IReadOnlyList<NamespacePoll> Namespaces, SocketOwnership Ownership, NamespaceCollection Collection)
{
    /// <summary>The stats of the first namespace (this process's, when watched), for one-namespace callers.</summary>
    public CollectionStats Stats => Namespaces.Count > 0 ? Namespaces[0].Stats : new CollectionStats { Collector = "none" };

    /// <summary>Malformed records over every namespace.</summary>
    public int Malformed => Namespaces.Sum(n => n.Stats.Malformed);
}

/// <summary>
/// One poll of the watched network namespaces: their socket tables (tcp_info only for
/// close_wait and fin_wait2, whose ages it bounds), the owners (one scan of /proc serves every
/// namespace: a socket's inode is unique host-wide), each namespace's sysctls and counters, and
/// the descriptor use of every process that holds a close_wait socket.
/// </summary>
internal sealed class Poller : IDisposable
{
    private static readonly uint TcpInfoStates = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]);

    private readonly NamespaceCollector _namespaces;
    private readonly OwnerResolver _owners;
    private readonly DescriptorUsageReader _descriptors;
    private readonly string _procRoot;

    /// <summary>
    /// The table of the current poll, reused by the next one unless <see cref="ReleaseScratch"/>
    /// let it go: nothing keeps a poll's records once the next begins (results hold counts).
    /// </summary>
    private SocketTable? _table;
    private int _lastCount;

    /// <param name="options">Validated options.</param>
    /// <param name="logger">For the collectors' and resolver's warnings.</param>
    /// <param name="defaultNetns">The command's default when options say nothing: run watches all, check self.</param>
    /// <param name="carryQuietNamespaces">
    /// The daemon's way: a namespace whose TCP counters stood still since its last dump is carried
    /// for up to netns_redump_after. One-shot commands dump every namespace at every poll.
    /// </param>
    public Poller(SockWatchOptions options, ILogger logger, string defaultNetns, bool carryQuietNamespaces = false)
        : this(options, logger, new NamespaceCollector(
            CommonOptions.Namespaces(options, defaultNetns),
            CollectorKinds.TryParse(options.Collector, out var kind) ? kind : CollectorKind.Auto, // validated at start
            options.ProcRoot,
            logger) { RedumpAfter = carryQuietNamespaces ? options.NetnsRedumpAfter : TimeSpan.Zero })
    {
    }

    /// <summary>For tests: any namespace collector (one whose collector fails, say).</summary>
    internal Poller(SockWatchOptions options, ILogger logger, NamespaceCollector namespaces)
    {
        _procRoot = options.ProcRoot;
        _namespaces = namespaces;
        _owners = new OwnerResolver(options.ProcRoot, logger);
        _descriptors = new DescriptorUsageReader(options.ProcRoot);
    }

    public string CollectorName => _namespaces.CollectorName;

    /// <summary>Polls; the outcome's table is reused by the next poll.</summary>
    /// <exception cref="CollectorException">The socket table of this process's namespace, or /proc, could not be read.</exception>
    public PollOutcome Poll(DateTimeOffset at)
    {
        // The sockets to expect: this namespace's counters say how many it holds now; the other
        // namespaces' are known only from the last poll, whose count is kept across a release.
        var expected = Math.Max(SocketCountHint.Read(_procRoot), _lastCount);
        if (_table is null)
        {
            // Made afresh after a release: its pages are new, so fault them in at once.
            _table = new SocketTable(expected + (expected / 10) + 256);
            NativeHeap.Prefault(_table.SpareCapacity);
        }

        var table = _table;
        table.EnsureCapacity(expected + (expected / 10) + 256);
        var collection = _namespaces.Collect(table, new CollectRequest { TcpInfoStateMask = TcpInfoStates }, readFacts: true);
        _lastCount = table.Count;
        var ownership = _owners.Resolve(table, [.. collection.Segments.Select(s => (s.Start, s.Count))]);
        var owners = ownership.Owners as SocketOwner?[] ?? [.. ownership.Owners];
        var reasons = ownership.Reasons as UnownedReason[] ?? [.. ownership.Reasons];
        var units = ownership.CgroupUnits as string?[] ?? [.. ownership.CgroupUnits];

        var descriptors = new Dictionary<int, DescriptorUsage>();
        var records = table.Records;
        for (var i = 0; i < records.Length; i++)
        {
            if (records[i].State == TcpState.CloseWait && owners[i] is { } owner && !descriptors.ContainsKey(owner.Pid)
                && _descriptors.Read(owner.Pid) is { } usage)
            {
                descriptors[owner.Pid] = usage;
            }
        }

        var parts = new List<NamespacePoll>(collection.Segments.Count);
        foreach (var s in collection.Segments)
        {
            var input = new PollInput
            {
                At = at,
                Sockets = table.AsMemory().Slice(s.Start, s.Count),
                Owners = new ArraySegment<SocketOwner?>(owners, s.Start, s.Count),
                Facts = s.Facts,
                Descriptors = descriptors,
            };
            parts.Add(new NamespacePoll(
                s.Namespace, input, s.Stats, new ArraySegment<UnownedReason>(reasons, s.Start, s.Count), new ArraySegment<string?>(units, s.Start, s.Count)));
        }

        return new PollOutcome(table, parts, ownership, collection);
    }

    /// <summary>
    /// Lets go of what only a poll in progress needs: the socket table (120 bytes a socket)
    /// and each namespace's scratch. The daemon calls it between polls, which leave it idle for
    /// nearly the whole interval; the next poll allocates them again. The last outcome's table
    /// stays valid for whoever holds it.
    /// </summary>
    public void ReleaseScratch()
    {
        _table = null;
        _namespaces.ReleaseScratch();
    }

    public void Dispose() => _namespaces.Dispose();
}
