using System.Diagnostics;
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

    /// <summary>Time spent reading the namespaces' facts (sysctls and counters), within the collection.</summary>
    public TimeSpan FactsTime { get; init; }

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
    private readonly NamespaceAccounting _accounting;

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
        _accounting = new NamespaceAccounting(logger);
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

    /// <summary>
    /// The namespaces to read this poll, this process's first when it is watched: the discovery
    /// stage. Per-namespace state of namespaces no longer found is let go at the next collection.
    /// </summary>
    public IReadOnlyList<NetworkNamespace> Discover()
    {
        if (_selfOnly)
        {
            return [SelfNamespace];
        }

        var watched = _discover().Where(_selection.Includes).ToList();
        if (watched.FindIndex(n => n.IsSelf) is var at and > 0)
        {
            var self = watched[at];
            watched.RemoveAt(at);
            watched.Insert(0, self);
        }

        return watched;
    }

    /// <summary>Discovers, then collects (for callers that do not time the stages apart).</summary>
    /// <exception cref="CollectorException">The tables of this process's own namespace could not be read.</exception>
    public NamespaceCollection Collect(SocketTable table, CollectRequest request, bool readFacts) =>
        Collect(table, Discover(), request, readFacts);

    /// <summary>
    /// Reads the sockets of <paramref name="watched"/> into <paramref name="table"/>, a segment
    /// each, and their facts when asked. This process's namespace is read on the calling thread;
    /// the others on one thread that enters each (<see cref="NamespaceEntry"/>), by the read
    /// policy of <see cref="Other.Read"/>. What went wrong where is tallied by
    /// <see cref="Accounting"/>.
    /// </summary>
    /// <exception cref="CollectorException">The tables of this process's own namespace could not be read.</exception>
    public NamespaceCollection Collect(SocketTable table, IReadOnlyList<NetworkNamespace> watched, CollectRequest request, bool readFacts)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(watched);
        ArgumentNullException.ThrowIfNull(request);
        table.Clear();
        var factsTime = 0L;
        var segments = new List<NamespaceSegment>(watched.Count);
        var others = new List<NetworkNamespace>(watched.Count);
        foreach (var ns in watched)
        {
            if (ns.IsSelf || _selfOnly)
            {
                _selfNamespace = ns;
                var stats = _self.Append(table, request);
                var facts = ReadFacts(_selfFacts, readFacts, ref factsTime);
                segments.Add(new NamespaceSegment(ns, 0, table.Count, stats, facts));
            }
            else
            {
                others.Add(ns);
            }
        }

        KeepStateOf(others);
        var results = new Other.Result[others.Count];
        // Bound-only sockets are dumped only when asked for by name, and sockstat does not count them.
        var mayHoldUncounted = (NetlinkCollector.KernelStateMask(request.StateMask) & TcpStateMask.Of(TcpState.BoundInactive)) != 0;
        var redumpAfter = mayHoldUncounted ? TimeSpan.Zero : RedumpAfter;
        var entries = others.Count == 0 ? [] : NamespaceEntry.RunInEach(others, (ns, i) =>
        {
            var state = _others[ns.Inode];
            results[i] = state.Read(table, request, redumpAfter, mayHoldUncounted, _procRoot, Time);
            if (results[i].Stats is not null)
            {
                results[i] = results[i] with { Facts = ReadFacts(state.Facts, readFacts, ref factsTime) };
            }
        });

        var collection = _accounting.Tally(segments, others, entries, results, ns => _others[ns.Inode].Table == TableOwnership.Shared);
        return collection with { FactsTime = Stopwatch.GetElapsedTime(0, factsTime) };
    }

    private static NamespaceFacts ReadFacts(NamespaceFactsReader reader, bool readFacts, ref long elapsed)
    {
        if (!readFacts)
        {
            return new NamespaceFacts();
        }

        var started = Stopwatch.GetTimestamp();
        var facts = reader.Read();
        elapsed += Stopwatch.GetTimestamp() - started;
        return facts;
    }

    /// <summary>Keeps a collector and open files for each other namespace watched, and lets go of those no longer found.</summary>
    private void KeepStateOf(List<NetworkNamespace> others)
    {
        foreach (var ns in others)
        {
            if (!_others.ContainsKey(ns.Inode))
            {
                _others[ns.Inode] = new Other(CollectorKinds.Create(_kind, _procRoot, _logger, ThreadNet), _procRoot, new CarriedSockets(ns.Inode, Time));
            }
        }

        if (_selfOnly)
        {
            return;
        }

        // Namespaces that are gone take their collectors (and netlink sockets) with them.
        var current = others.Select(o => o.Inode).ToHashSet();
        foreach (var inode in _others.Keys.Where(k => !current.Contains(k)).ToList())
        {
            _others[inode].Dispose();
            _others.Remove(inode);
        }
    }

    /// <summary>See <see cref="NamespaceAccounting.SharedTableAdvisoryThreshold"/> (tests lower it).</summary>
    internal int SharedTableAdvisoryThreshold
    {
        get => _accounting.SharedTableAdvisoryThreshold;
        set => _accounting.SharedTableAdvisoryThreshold = value;
    }

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

    /// <summary>Whose TCP hash table a namespace's sockets live in.</summary>
    internal enum TableOwnership
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
    internal sealed class Other(ISocketCollector collector, string procRoot, CarriedSockets carried) : IDisposable
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

        /// <summary>
        /// The read policy, on the thread that entered the namespace. A namespace whose counters
        /// show no TCP socket is not dumped: where namespaces share the host's table, a dump walks
        /// every socket of the host to find none. One whose TCP counters stood still since its
        /// last dump is carried (<see cref="CarriedSockets"/>): listeners afresh, for which the
        /// kernel walks only its listening hash, and the connections from that dump. Anything
        /// else is dumped. A failure takes back what the namespace appended (Append's contract).
        /// </summary>
        public Result Read(SocketTable table, CollectRequest request, TimeSpan redumpAfter, bool mayHoldUncounted, string procRoot, TimeProvider time)
        {
            var start = table.Count;
            if (Table == TableOwnership.NotRead)
            {
                Table = ReadTableOwnership(procRoot);
            }

            try
            {
                var activity = redumpAfter > TimeSpan.Zero ? TcpActivity.Read(Sockstat, Sockstat6, Snmp) : null;
                if (!mayHoldUncounted && (activity?.ShowsNoSockets ?? SocketCountHint.ShowsNoSockets(Sockstat, Sockstat6)))
                {
                    Carried.Forget();
                    return new Result(start, 0, new CollectionStats { Collector = Collector.Name }, null, NamespaceRead.Empty);
                }

                if (Carried.TryCarry(activity, request))
                {
                    var stats = CarriedSockets.ListenersOf(request) is { } listeners
                        ? Collector.Append(table, listeners)
                        : new CollectionStats { Collector = Collector.Name };
                    Carried.AppendTo(table);
                    return new Result(start, table.Count - start, stats, null, NamespaceRead.Carried);
                }

                var started = time.GetTimestamp();
                var dumped = Collector.Append(table, request);
                Carried.Remember(table.Records[start..], activity, request, redumpAfter, started);
                return new Result(start, table.Count - start, dumped, null, NamespaceRead.Dumped);
            }
            catch (CollectorException e)
            {
                Carried.Forget();
                return new Result(start, 0, null, e.Message, NamespaceRead.Dumped);
            }
        }

        public void ReleaseScratch() => Collector.ReleaseScratch();

        public void Dispose()
        {
            Collector.Dispose();
            Facts.Dispose();
            Sockstat.Dispose();
            Sockstat6.Dispose();
            Snmp.Dispose();
        }

        /// <summary>How one namespace was read: its rows, or why it failed (null stats).</summary>
        public readonly record struct Result(int Start, int Count, CollectionStats? Stats, string? Error, NamespaceRead Read)
        {
            public NamespaceFacts? Facts { get; init; }
        }
    }
}
