using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SockWatch.Agent.Interop;
using SockWatch.Collectors;
using SockWatch.Collectors.Facts;
using SockWatch.Collectors.Namespaces;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Polling;

/// <summary>
/// The one poll that <c>snapshot</c>, <c>check</c>, <c>run</c> and the bench harness call:
/// discover the watched namespaces, dump (or carry) their sockets into one table with their
/// facts, name the owners, track every socket across polls, and detect what is stuck. Each stage
/// is timed and its success recorded (<see cref="Poll.Stages"/>), as node_exporter does per
/// collector; a failing stage does not lose the others' results. Only a dump of this process's
/// own namespace that fails fails the poll: without it there is nothing to report.
/// </summary>
internal sealed partial class PollPipeline : IDisposable
{
    private readonly PollSettings _settings;
    private readonly ILogger _logger;
    private readonly NamespaceCollector _namespaces;
    private readonly Func<SocketTable, IReadOnlyList<(int Start, int Count)>, SocketOwnership>? _resolveOwners;

    /// <summary>The owner scan's walk of /proc, which needs no table: run beside the dump.</summary>
    private readonly Action? _prepareOwners;
    private readonly DescriptorUsageReader _descriptors;
    private readonly LifecycleTracking? _tracking;
    private readonly HashSet<PollStage> _failing = [];
    private readonly Systemd.SystemdUnits? _units;

    /// <summary>
    /// The table of the current poll, reused by the next one unless <see cref="ReleaseScratch"/>
    /// let it go: nothing keeps a poll's records once the next begins (results hold counts).
    /// </summary>
    private SocketTable? _table;
    private int _lastCount;

    public PollPipeline(PollSettings settings, ILogger logger)
        : this(settings, logger, new NamespaceCollector(settings.Namespaces, settings.Collector, settings.ProcRoot, logger) { RedumpAfter = settings.RedumpAfter })
    {
    }

    /// <summary>
    /// For tests and the bench harness: any namespace collector (one whose collector fails, say),
    /// and any owner scan in place of <see cref="OwnerResolver.Resolve(SocketTable, IReadOnlyList{ValueTuple{int, int}})"/>.
    /// </summary>
    internal PollPipeline(
        PollSettings settings, ILogger logger, NamespaceCollector namespaces, Func<SocketTable, IReadOnlyList<(int Start, int Count)>, SocketOwnership>? resolveOwners = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(logger);
        _settings = settings;
        _logger = logger;
        _namespaces = namespaces;
        if (settings.Owners && resolveOwners is null)
        {
            var resolver = new OwnerResolver(settings.ProcRoot, logger);
            _resolveOwners = resolver.Resolve;
            _prepareOwners = resolver.Prepare;
        }
        else if (settings.Owners)
        {
            _resolveOwners = resolveOwners;
        }

        _descriptors = new DescriptorUsageReader(settings.ProcRoot);
        _tracking = settings.Detect is { } detect ? new LifecycleTracking(detect) : null;
        _units = settings.AskSystemd && _tracking is not null ? Systemd.SystemdUnits.System(logger) : null;
    }

    /// <summary>The collector of this process's namespace (proc after a fallback from netlink).</summary>
    public string CollectorName => _namespaces.CollectorName;

    /// <summary>
    /// Called as each stage's report is made, on the polling thread: the bench harness reads the
    /// process's CPU time there to split a poll's cost by stage.
    /// </summary>
    internal Action<StageReport>? StageEnded { get; set; }

    /// <summary>
    /// With the kernel tracer: given the cookies of the sockets the dump found in close_wait,
    /// when each entered it (CLOCK_MONOTONIC ns), for those whose entry the tracer holds; asked
    /// once a poll, after the dump. The pipeline places them against the poll's time
    /// (<see cref="PollInput.CloseWaitEntries"/>).
    /// </summary>
    public Func<IReadOnlyList<ulong>, IReadOnlyDictionary<ulong, long>>? CloseWaitEntries { get; set; }

    /// <summary>Runs every stage the settings ask for; the poll's table is reused by the next run.</summary>
    /// <exception cref="CollectorException">The socket table of this process's namespace could not be read.</exception>
    public Poll Run(DateTimeOffset at)
    {
        var stages = new List<StageReport>(6);
        var started = Stopwatch.GetTimestamp();
        var atMonotonic = started;
        IReadOnlyList<NetworkNamespace> watched;
        try
        {
            watched = _namespaces.Discover();
            Done(stages, PollStage.Discover, started, true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Without the list, this process's own namespace is still worth reading.
            Failed(stages, PollStage.Discover, started, e);
            watched = [NamespaceDiscovery.SelfOnly(_settings.ProcRoot)];
        }

        // The owners' walk of /proc needs no table: it runs on another thread while this one
        // dumps, so a poll's wall time is the longer of the two, not their sum (the kernel's
        // work for the dump and the readlinks of /proc/PID/fd use a core each).
        var ownersWalk = _prepareOwners is { } prepare ? Task.Run(() => Timed(prepare)) : null;
        started = Stopwatch.GetTimestamp();
        var table = TableFor();
        NamespaceCollection collection;
        try
        {
            collection = _namespaces.Collect(table, watched, _settings.Request, _settings.Facts);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Add(stages, new StageReport(PollStage.Dump, Stopwatch.GetElapsedTime(started), false));
            // Whatever failed the dump, the walk must not outlive the poll: the next one walks
            // again with the same scanner.
            try
            {
                ownersWalk?.Wait();
            }
            catch (AggregateException)
            {
                // the poll fails for its dump; the walk's own failure adds nothing
            }

            throw;
        }

        _lastCount = table.Count;
        var dumpAndFacts = Stopwatch.GetElapsedTime(started);
        Add(stages, new StageReport(PollStage.Dump, dumpAndFacts - collection.FactsTime, true));

        SocketOwnership? ownership = null;
        var descriptors = new Dictionary<int, DescriptorUsage>();
        if (_resolveOwners is not null)
        {
            started = Stopwatch.GetTimestamp();
            var walked = TimeSpan.Zero;
            try
            {
                if (ownersWalk is not null)
                {
                    // The stage's time is the walk's own plus what follows it here, whether the
                    // walk ended during the dump or after.
                    (walked, var walkEnded) = ownersWalk.GetAwaiter().GetResult();
                    started = Math.Max(started, walkEnded);
                }

                ownership = _resolveOwners(table, [.. collection.Segments.Select(s => (s.Start, s.Count))]);
                ReadDescriptorUse(table, ownership, descriptors);
                Done(stages, PollStage.Owners, started, true, walked);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The counts stand without owners: every socket is reported unowned this poll.
                ownership = null;
                Failed(stages, PollStage.Owners, started, e, walked);
            }
        }

        if (_settings.Facts)
        {
            Add(stages, new StageReport(PollStage.Facts, collection.FactsTime, true));
        }

        var closeWaitEntries = CloseWaitEntries is { } entries
            ? WallTimes(entries(CloseWaitCookies(table)), at, atMonotonic)
            : new Dictionary<ulong, DateTimeOffset>();
        var poll = new Poll(at, CollectorName, table, collection, ownership is null ? null : Poll.Owners.From(ownership));
        var namespaces = new List<NamespacePoll>(collection.Segments.Count);
        foreach (var segment in collection.Segments)
        {
            namespaces.Add(new NamespacePoll(poll, segment, new PollInput
            {
                At = at,
                Sockets = table.AsMemory().Slice(segment.Start, segment.Count),
                Owners = poll.OwnersOf(segment),
                Facts = segment.Facts,
                Descriptors = descriptors,
                CloseWaitEntries = closeWaitEntries,
            }));
        }

        poll.SetNamespaces(namespaces);
        if (_tracking is not null)
        {
            Track(poll, stages);
        }

        poll.Stages = stages;
        return poll;
    }

    /// <summary>The track and detect stages; a stage that throws is reported failed and the poll goes on without its result.</summary>
    private void Track(Poll poll, List<StageReport> stages)
    {
        var tracking = _tracking!;
        var started = Stopwatch.GetTimestamp();
        try
        {
            tracking.Track(poll.Namespaces);
            Done(stages, PollStage.Track, started, true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failed(stages, PollStage.Track, started, e);
        }

        started = Stopwatch.GetTimestamp();
        try
        {
            poll.Findings = tracking.Detect(poll.Namespaces);
            if (_units is not null && poll.Findings.Count > 0)
            {
                // systemd's word on the leaking units (no stage of its own: it never fails a poll).
                var restarts = new List<Systemd.UnitRestarts>();
                poll.Findings = _units.Annotate(poll.Findings, poll.Namespaces.Count > 0 ? poll.Namespaces[0].Namespace.Name : "self", restarts);
                poll.UnitRestarts = restarts;
            }

            Done(stages, PollStage.Detect, started, true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failed(stages, PollStage.Detect, started, e);
        }

        poll.Transitions = tracking.Transitions;
        poll.Anomalies = tracking.Anomalies;
    }

    /// <summary>The descriptor use of every process that holds a close_wait socket (the leak's headroom).</summary>
    private void ReadDescriptorUse(SocketTable table, SocketOwnership ownership, Dictionary<int, DescriptorUsage> descriptors)
    {
        var records = table.Records;
        for (var i = 0; i < records.Length; i++)
        {
            if (records[i].State == TcpState.CloseWait && ownership.Owners[i] is { } owner && !descriptors.ContainsKey(owner.Pid)
                && _descriptors.Read(owner.Pid) is { } usage)
            {
                descriptors[owner.Pid] = usage;
            }
        }
    }

    /// <summary>
    /// The table for this poll, sized for the sockets to expect: this namespace's counters say
    /// how many it holds now; the other namespaces' are known only from the last poll, whose
    /// count is kept across a release. 10% headroom for sockets that arrive during the dump and
    /// for request sockets, which sockstat does not count.
    /// </summary>
    private SocketTable TableFor()
    {
        var expected = Math.Max(SocketCountHint.Read(_settings.ProcRoot), _lastCount);
        var capacity = expected + (expected / 10) + 256;
        if (_table is null)
        {
            // Made afresh after a release: its pages are new, so fault them in at once.
            _table = new SocketTable(capacity);
            NativeHeap.Prefault(_table.SpareCapacity);
        }

        _table.EnsureCapacity(capacity);
        return _table;
    }

    /// <param name="stages">The poll's reports so far.</param>
    /// <param name="stage">The stage that ended.</param>
    /// <param name="started">When it started on this thread.</param>
    /// <param name="success">Whether it succeeded.</param>
    /// <param name="besides">Time it spent on another thread beside an earlier stage (the owners' walk of /proc during the dump): the stage's duration is its work, not only its wait.</param>
    private void Done(List<StageReport> stages, PollStage stage, long started, bool success, TimeSpan besides = default)
    {
        if (success)
        {
            _failing.Remove(stage); // failing again later is worth a line again
        }

        Add(stages, new StageReport(stage, besides + Stopwatch.GetElapsedTime(started), success));
    }

    /// <summary>Runs <paramref name="work"/>: how long it took, and when it ended.</summary>
    private static (TimeSpan Took, long Ended) Timed(Action work)
    {
        var started = Stopwatch.GetTimestamp();
        work();
        var ended = Stopwatch.GetTimestamp();
        return (Stopwatch.GetElapsedTime(started, ended), ended);
    }

    private void Add(List<StageReport> stages, StageReport report)
    {
        stages.Add(report);
        StageEnded?.Invoke(report);
    }

    private void Failed(List<StageReport> stages, PollStage stage, long started, Exception e, TimeSpan besides = default)
    {
        Done(stages, stage, started, false, besides);
        // One line when a stage starts failing, not one every poll while it goes on failing.
        if (_failing.Add(stage))
        {
            LogStageFailed(_logger, PollStages.NameOf(stage), e.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// Lets go of what only a poll in progress needs: the socket table (120 bytes a socket) and
    /// each namespace's scratch. The daemon calls it between polls, which leave it idle for
    /// nearly the whole interval; the next poll allocates them again. The last poll's table stays
    /// valid for whoever holds it.
    /// </summary>
    public void ReleaseScratch()
    {
        _table = null;
        _namespaces.ReleaseScratch();
    }

    public void Dispose()
    {
        _namespaces.Dispose();
        _units?.Dispose();
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Error, Message = "the {Stage} stage of the poll failed ({Type}: {Message}); the other stages' results are kept")]
    private static partial void LogStageFailed(ILogger logger, string stage, string type, string message);

    /// <summary>The cookies of the table's sockets in close_wait.</summary>
    private static List<ulong> CloseWaitCookies(SocketTable table)
    {
        var cookies = new List<ulong>();
        foreach (ref readonly var record in table.Records)
        {
            if (record.State == TcpState.CloseWait && record.HasCookie)
            {
                cookies.Add(record.Cookie);
            }
        }

        return cookies;
    }

    /// <summary>
    /// Entry times on CLOCK_MONOTONIC (Stopwatch's clock on Linux) placed against the poll's
    /// wall-clock time <paramref name="at"/>, taken at <paramref name="atTimestamp"/>; an entry
    /// after that instant (during the dump) is taken as the poll's time.
    /// </summary>
    internal static Dictionary<ulong, DateTimeOffset> WallTimes(IReadOnlyDictionary<ulong, long> enteredNs, DateTimeOffset at, long atTimestamp)
    {
        var atNs = (long)(atTimestamp * (1e9 / Stopwatch.Frequency));
        var wall = new Dictionary<ulong, DateTimeOffset>(enteredNs.Count);
        foreach (var (cookie, ns) in enteredNs)
        {
            wall[cookie] = at - TimeSpan.FromTicks(Math.Max(0, atNs - ns) / 100);
        }

        return wall;
    }
}

/// <summary>Names of the stages, as in the <c>stage</c> label.</summary>
internal static class PollStages
{
    public static IReadOnlyList<PollStage> All { get; } = Enum.GetValues<PollStage>();

    public static string NameOf(PollStage stage) => stage switch
    {
        PollStage.Discover => "discover",
        PollStage.Dump => "dump",
        PollStage.Owners => "owners",
        PollStage.Facts => "facts",
        PollStage.Track => "track",
        PollStage.Detect => "detect",
        _ => throw new ArgumentOutOfRangeException(nameof(stage)),
    };
}
