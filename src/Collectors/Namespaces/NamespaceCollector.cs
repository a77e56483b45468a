using Microsoft.Extensions.Logging;
using SockWatch.Collectors.Facts;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Namespaces;

/// <summary>The sockets of one namespace within a collected table: rows Start to Start + Count.</summary>
public sealed record NamespaceSegment(NetworkNamespace Namespace, int Start, int Count, CollectionStats Stats, NamespaceFacts Facts)
{
    /// <summary>How its sockets were read this poll.</summary>
    public NamespaceRead Read { get; init; } = NamespaceRead.Dumped;
}

/// <summary>How a namespace's sockets were read in one poll.</summary>
public enum NamespaceRead
{
    /// <summary>A full dump: the kernel walked its TCP table.</summary>
    Dumped,

    /// <summary>
    /// Its TCP counters had not moved since its last full dump: listeners dumped afresh, the
    /// connections taken from that dump (<see cref="CarriedSockets"/>).
    /// </summary>
    Carried,

    /// <summary>Its counters showed no TCP socket: nothing to dump.</summary>
    Empty,
}

/// <summary>What one collection across namespaces gave.</summary>
/// <param name="Segments">One per namespace collected, in table order; the namespace of this process first when it is watched.</param>
/// <param name="Vanished">Namespaces that went away between discovery and collection: expected.</param>
/// <param name="Denied">Namespaces setns refused.</param>
/// <param name="Failed">Namespaces whose tables could not be read, by name, with why.</param>
public sealed record NamespaceCollection(IReadOnlyList<NamespaceSegment> Segments, int Vanished, int Denied, IReadOnlyList<string> Failed)
{
    /// <summary>
    /// Namespaces dumped whose TCP sockets live in the host's hash table, not one of their own
    /// (net.ipv4.tcp_ehash_entries negative in them): each one's dump walked every socket of
    /// the host. 0 on kernels before 6.1, which have no per-namespace tables at all.
    /// </summary>
    public int SharingHostTable { get; init; }

    /// <summary>Namespaces by how their sockets were read.</summary>
    public int Count(NamespaceRead read) => Segments.Count(s => s.Read == read);
}

/// <summary>
/// Collects the sockets of the watched network namespaces into one table, namespace after
/// namespace, with each one's facts (sysctls, TcpExt counters). The namespace of this process is
/// read on the calling thread; the others on a thread that enters each with setns and keeps, per
/// namespace, a collector whose netlink socket was opened inside it (a socket stays in the
/// namespace it was made in, whichever thread uses it later). With <c>self</c>, a --proc-root
/// other than /proc, or without CAP_SYS_ADMIN, only the namespace of this process is read,
/// and the last two say so once. Another namespace is not dumped when its counters show no
/// socket, and, with <see cref="RedumpAfter"/>, only its listeners are while its TCP counters
/// stand still (<see cref="CarriedSockets"/>).
/// </summary>
public sealed partial class NamespaceCollector : IDisposable
{
    private const string ThreadNet = "thread-self/net";

    private readonly NamespaceSelection _selection;
    private readonly CollectorKind _kind;
    private readonly string _procRoot;
    private readonly ILogger _logger;
    private readonly bool _selfOnly;
    private readonly ISocketCollector _self;
    private readonly NamespaceFactsReader _selfFacts;
    private readonly Dictionary<ulong, Other> _others = [];
    private readonly Func<IReadOnlyList<NetworkNamespace>> _discover;
    private NetworkNamespace? _selfNamespace;
    private bool _deniedLogged;
    private bool _sharedLogged;

    public NamespaceCollector(NamespaceSelection selection, CollectorKind kind, string procRoot, ILogger logger)
        : this(selection, kind, procRoot, logger, null)
    {
    }

    /// <summary>
    /// For tests: <paramref name="discover"/> in place of <see cref="NamespaceDiscovery.Discover"/>
    /// (a namespace removed after discovery), and <paramref name="self"/> as the collector of this
    /// process's namespace (one that fails).
    /// </summary>
    internal NamespaceCollector(
        NamespaceSelection selection, CollectorKind kind, string procRoot, ILogger logger, Func<IReadOnlyList<NetworkNamespace>>? discover, ISocketCollector? self = null)
    {
        _discover = discover ?? (() => NamespaceDiscovery.Discover(procRoot));
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(logger);
        _selection = selection;
        _kind = kind;
        _procRoot = procRoot;
        _logger = logger;
        _self = self ?? CollectorKinds.Create(kind, procRoot, logger);
        _selfFacts = new NamespaceFactsReader(procRoot);
        _selfOnly = selection.SelfOnly;
        if (!_selfOnly && Path.TrimEndingDirectorySeparator(procRoot) != "/proc")
        {
            _selfOnly = true;
            LogProcRootSelfOnly(logger, procRoot);
        }
        else if (!_selfOnly && !NamespaceEntry.CanEnter())
        {
            _selfOnly = true;
            LogCannotEnter(logger, SelfNamespace.Name);
        }
    }

    /// <summary>
    /// How long a quiet namespace's connections may be carried from its last full dump (see
    /// <see cref="CarriedSockets"/>) before it is dumped again; zero: every namespace is dumped
    /// every poll. The namespace of this process is always dumped.
    /// </summary>
    public TimeSpan RedumpAfter { get; set; }

    /// <summary>The clock of carried sockets' ages (tests set their own before the first collection).</summary>
    internal TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>The collector of this process's namespace (proc after a fallback from netlink).</summary>
    public string CollectorName => _self.Name;

    /// <summary>Whether only the namespace of this process is read.</summary>
    public bool SelfOnly => _selfOnly;

    private NetworkNamespace SelfNamespace => _selfNamespace ??= NamespaceDiscovery.SelfOnly(_procRoot);

    /// <exception cref="CollectorException">The tables of this process's own namespace could not be read.</exception>
    public NamespaceCollection Collect(SocketTable table, CollectRequest request, bool readFacts)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (_selfOnly)
        {
            var stats = _self.Collect(table, request);
            return new NamespaceCollection([new NamespaceSegment(SelfNamespace, 0, table.Count, stats, readFacts ? _selfFacts.Read() : new NamespaceFacts())], 0, 0, []);
        }

        var watched = _discover().Where(_selection.Includes).ToList();
        var segments = new List<NamespaceSegment>(watched.Count);
        table.Clear();
        if (watched.FirstOrDefault(n => n.IsSelf) is { } self)
        {
            _selfNamespace = self;
            var stats = _self.Collect(table, request);
            segments.Add(new NamespaceSegment(self, 0, table.Count, stats, readFacts ? _selfFacts.Read() : new NamespaceFacts()));
        }

        var others = watched.Where(n => !n.IsSelf).ToList();
        foreach (var ns in others)
        {
            if (!_others.ContainsKey(ns.Inode))
            {
                _others[ns.Inode] = new Other(CollectorKinds.Create(_kind, _procRoot, _logger, ThreadNet), _procRoot, new CarriedSockets(ns.Inode, Time));
            }
        }

        // Each namespace appends its rows to the one table, on the entry thread, one after the
        // other: a segment is where its rows start and how many there are. A namespace that
        // fails takes back what it appended.
        var results = new (int Start, int Count, CollectionStats? Stats, NamespaceFacts? Facts, string? Error, NamespaceRead Read)[others.Count];
        // Bound-only sockets are dumped only when asked for by name, and sockstat does not count them.
        var mayHoldUncounted = (NetlinkCollector.KernelStateMask(request.StateMask) & TcpStateMask.Of(TcpState.BoundInactive)) != 0;
        var redumpAfter = mayHoldUncounted ? TimeSpan.Zero : RedumpAfter;
        var entries = NamespaceEntry.RunInEach(others, (ns, i) =>
        {
            var state = _others[ns.Inode];
            var start = table.Count;
            if (state.Table == TableOwnership.NotRead)
            {
                state.Table = ReadTableOwnership(_procRoot);
            }

            try
            {
                var activity = redumpAfter > TimeSpan.Zero ? TcpActivity.Read(state.Sockstat, state.Sockstat6, state.Snmp) : null;
                NamespaceRead read;
                CollectionStats stats;
                if (!mayHoldUncounted && (activity?.ShowsNoSockets ?? SocketCountHint.ShowsNoSockets(state.Sockstat, state.Sockstat6)))
                {
                    // A namespace whose counters show no TCP socket is not dumped: where namespaces
                    // share the host's table, a dump walks every socket of the host to find none.
                    state.Carried.Forget();
                    stats = new CollectionStats { Collector = state.Collector.Name };
                    read = NamespaceRead.Empty;
                }
                else if (state.Carried.TryCarry(activity, request))
                {
                    // Quiet since its last dump: listeners afresh (the kernel walks only its
                    // listening hash for them), the connections from that dump.
                    stats = CarriedSockets.ListenersOf(request) is { } listeners
                        ? state.Collector.Append(table, listeners)
                        : new CollectionStats { Collector = state.Collector.Name };
                    state.Carried.AppendTo(table);
                    read = NamespaceRead.Carried;
                }
                else
                {
                    var started = Time.GetTimestamp();
                    stats = state.Collector.Append(table, request);
                    state.Carried.Remember(table.Records[start..], activity, request, redumpAfter, started);
                    read = NamespaceRead.Dumped;
                }

                results[i] = (start, table.Count - start, stats, readFacts ? state.Facts.Read() : new NamespaceFacts(), null, read);
            }
            catch (CollectorException e)
            {
                // Append took back what it had added (ISocketCollector's contract).
                state.Carried.Forget();
                results[i] = (start, 0, null, null, e.Message, NamespaceRead.Dumped);
            }
        });

        int vanished = 0, denied = 0, sharing = 0;
        var failed = new List<string>();
        for (var i = 0; i < others.Count; i++)
        {
            switch (entries[i])
            {
                case EntryFailure.Vanished:
                    vanished++;
                    continue;
                case EntryFailure.Denied:
                    denied++;
                    continue;
            }

            if (results[i].Stats is not { } stats)
            {
                failed.Add($"{others[i].Name}: {results[i].Error}");
                LogNamespaceFailed(_logger, others[i].Name, results[i].Error ?? "");
                continue;
            }

            segments.Add(new NamespaceSegment(others[i], results[i].Start, results[i].Count, stats, results[i].Facts!) { Read = results[i].Read });
            if (results[i].Read == NamespaceRead.Dumped && _others[others[i].Inode].Table == TableOwnership.Shared)
            {
                sharing++;
            }
        }

        if (denied > 0 && !_deniedLogged)
        {
            _deniedLogged = true;
            LogDenied(_logger, denied);
        }

        if (sharing >= SharedTableAdvisoryThreshold && !_sharedLogged)
        {
            _sharedLogged = true;
            LogSharedTable(_logger, sharing, segments.Count);
        }

        // Namespaces that are gone take their collectors (and netlink sockets) with them.
        var current = others.Select(o => o.Inode).ToHashSet();
        foreach (var inode in _others.Keys.Where(k => !current.Contains(k)).ToList())
        {
            _others[inode].Dispose();
            _others.Remove(inode);
        }

        return new NamespaceCollection(segments, vanished, denied, failed) { SharingHostTable = sharing };
    }

    /// <summary>
    /// How many collected namespaces must share the host's table before the cost is worth a
    /// word in the log (once): below that, their extra walks of the host's table cost little.
    /// Tests lower it.
    /// </summary>
    internal int SharedTableAdvisoryThreshold { get; set; } = 16;

    /// <summary>
    /// Whether the namespace of the calling thread has a TCP hash table of its own:
    /// net.ipv4.tcp_ehash_entries (Linux 6.1+) is its bucket count, negative when it uses the
    /// host's. Fixed for the namespace's life, so read once.
    /// </summary>
    private static TableOwnership ReadTableOwnership(string procRoot)
    {
        using var file = new ProcFile(Path.Join(procRoot, "sys", "net", "ipv4", "tcp_ehash_entries"), keepOpen: false);
        return int.TryParse(file.ReadText(), System.Globalization.NumberStyles.AllowLeadingSign | System.Globalization.NumberStyles.AllowTrailingWhite, System.Globalization.CultureInfo.InvariantCulture, out var entries)
            ? entries < 0 ? TableOwnership.Shared : TableOwnership.Own
            : TableOwnership.Unknown;
    }

    /// <summary>Lets go of every collector's scratch; sockets and kept files stay open.</summary>
    public void ReleaseScratch()
    {
        _self.ReleaseScratch();
        foreach (var other in _others.Values)
        {
            other.ReleaseScratch();
        }
    }

    public void Dispose()
    {
        _self.Dispose();
        _selfFacts.Dispose();
        foreach (var other in _others.Values)
        {
            other.Dispose();
        }

        _others.Clear();
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "watching only this network namespace ({Name}): entering the others needs CAP_SYS_ADMIN")]
    private static partial void LogCannotEnter(ILogger logger, string name);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "--proc-root {ProcRoot} is not /proc: reading its tables only, as one namespace")]
    private static partial void LogProcRootSelfOnly(ILogger logger, string procRoot);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "{Count} network namespaces refused setns (owned by another user namespace?); they are not watched")]
    private static partial void LogDenied(ILogger logger, int count);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "network namespace {Name} could not be read: {Reason}")]
    private static partial void LogNamespaceFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "{Sharing} of the {Watched} watched network namespaces hold their sockets in the host's TCP socket table, not a table of their own (net.ipv4.tcp_ehash_entries is negative in them): to dump each, the kernel walks every socket of the host, so a poll costs about their number times the host's sockets. Namespaces made after net.ipv4.tcp_child_ehash_entries is set (1024, say) in the namespace that makes them get tables of their own.")]
    private static partial void LogSharedTable(ILogger logger, int sharing, int watched);

    /// <summary>Whose TCP hash table a namespace's sockets live in.</summary>
    private enum TableOwnership
    {
        NotRead,
        Own,
        Shared,
        Unknown,
    }

    /// <summary>
    /// What is kept for one other namespace from poll to poll: its collector (a netlink socket
    /// made inside it), and its facts and socket counters as files kept open. All of them stay
    /// bound to that namespace, so they keep it alive: they go when discovery no longer finds it.
    /// </summary>
    private sealed class Other(ISocketCollector collector, string procRoot, CarriedSockets carried) : IDisposable
    {
        public ISocketCollector Collector { get; } = collector;

        /// <summary>Its connections from its last full dump, while its counters stay still.</summary>
        public CarriedSockets Carried { get; } = carried;

        public ProcFile Snmp { get; } = new(Path.Join(procRoot, ThreadNet, "snmp"), keepOpen: true);

        public NamespaceFactsReader Facts { get; } = new(procRoot, ThreadNet, keepOpen: true);

        public ProcFile Sockstat { get; } = new(Path.Join(procRoot, ThreadNet, "sockstat"), keepOpen: true);

        public ProcFile Sockstat6 { get; } = new(Path.Join(procRoot, ThreadNet, "sockstat6"), keepOpen: true);

        /// <summary>Whether its sockets live in a TCP hash table of its own; read on its first collection.</summary>
        public TableOwnership Table { get; set; }

        public void ReleaseScratch() => Collector.ReleaseScratch();

        public void Dispose()
        {
            Collector.Dispose();
            Facts.Dispose();
            Sockstat.Dispose();
            Sockstat6.Dispose();
            Snmp.Dispose();
        }
    }
}
