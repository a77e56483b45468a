using SockWatch.Collectors.Ownership;

namespace SockWatch.Agent.Tracing;

/// <summary>
/// Whether the daemon traces, and why not: the labels of <c>sockwatch_trace_info</c>.
/// </summary>
/// <param name="Mode"><c>on</c> while the tracer is loaded, else <c>off</c>.</param>
/// <param name="Reason"><c>traced</c> when on; <c>disabled</c> (trace off), or why tracing was impossible (<c>permission_denied</c>, <c>no_libbpf</c>, <c>no_btf</c>, <c>load_failed</c>, <c>attach_failed</c>, <c>no_object</c>).</param>
/// <param name="Message">The words for a person; empty when traced.</param>
internal sealed record TraceStatus(string Mode, string Reason, string Message)
{
    public static readonly TraceStatus Disabled = new("off", "disabled", "trace is off");

    public bool On => Mode == "on";
}

/// <summary>
/// The daemon's tracer: the kernel side (<see cref="TraceSession"/>), what user space keeps of its
/// ring buffer (<see cref="TraceAggregator"/>: connect failures), and the names of the owners' cgroups.
/// </summary>
internal sealed class Tracer : IDisposable
{
    private readonly TraceSession _session;
    private readonly CgroupIdMap? _cgroups;
    private readonly Lock _cgroupLock = new();

    private Tracer(TraceSession session, TraceAggregator aggregator)
    {
        _session = session;
        Aggregator = aggregator;
        _cgroups = CgroupIdMap.FindCgroup2Mount() is { } mount ? new CgroupIdMap(mount) : null;
    }

    public TraceAggregator Aggregator { get; }

    /// <summary>
    /// The tracer for <paramref name="mode"/> (<c>auto</c>, <c>on</c>, <c>off</c>), and its status;
    /// null when off or impossible (the status then says why).
    /// </summary>
    public static Tracer? Start(string mode, out TraceStatus status)
    {
        if (mode == "off")
        {
            status = TraceStatus.Disabled;
            return null;
        }

        var aggregator = new TraceAggregator();
        try
        {
            var session = TraceSession.Open(streamAll: false, r => aggregator.Add(r));
            session.Start();
            status = new TraceStatus("on", "traced", "");
            return new Tracer(session, aggregator);
        }
        catch (TraceUnavailableException e)
        {
            status = new TraceStatus("off", e.Reason, e.Message);
            return null;
        }
    }

    /// <summary>The counters now.</summary>
    public TraceCounters Counters() => _session.Read(Aggregator.ConnectFailures());

    /// <summary>
    /// When each of <paramref name="cookies"/> (sockets a poll found in close_wait) entered
    /// close_wait, CLOCK_MONOTONIC ns, for those the kernel's socket table holds.
    /// </summary>
    public IReadOnlyDictionary<ulong, long> CloseWaitEntries(IReadOnlyList<ulong> cookies)
    {
        var entries = new Dictionary<ulong, long>();
        foreach (var cookie in cookies)
        {
            if (_session.TryCloseWaitEntry(cookie, out var enteredNs))
            {
                entries[cookie] = enteredNs;
            }
        }

        return entries;
    }

    /// <summary>Time from the peer's FIN to the application's close, per (namespace, comm), since tracing started (log2 slots of ns).</summary>
    public Dictionary<(uint Netns, string Process), long[]> CloseDelays() => _session.CloseDelays();

    /// <summary>Starts a round of <see cref="UnitOf"/>: the first unknown id of the round walks the cgroup tree again.</summary>
    public void BeginRound()
    {
        lock (_cgroupLock)
        {
            _cgroups?.BeginRound();
        }
    }

    /// <summary>The systemd unit of a cgroup id (the owner's, taken in process context); null when none.</summary>
    public string? UnitOf(ulong cgroup)
    {
        if (_cgroups is null || cgroup == 0)
        {
            return null;
        }

        lock (_cgroupLock)
        {
            return _cgroups.Lookup(cgroup) is { } path ? CgroupParser.Describe(path).Unit : null;
        }
    }

    public void Dispose() => _session.Dispose();
}
