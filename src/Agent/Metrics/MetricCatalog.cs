using SockWatch.Core;

namespace SockWatch.Agent.Metrics;

/// <summary>One series of a family: its value (or histogram state) and its label values, in the order of the family's label names.</summary>
internal readonly record struct Series(double Value, IReadOnlyList<string> LabelValues, HistogramValue? Histogram = null)
{
    public static Series Of(double value, params IReadOnlyList<string> labelValues) => new(value, labelValues);
}

/// <summary>
/// One metric family of SockWatch's contract: how <c>/metrics</c> exposes it, how OpenTelemetry
/// instruments it for OTLP, and where its values come from.
/// </summary>
/// <param name="Name">The Prometheus family name as exposed; a counter's without <c>_total</c>, which the serializer adds.</param>
/// <param name="Instrument">The OpenTelemetry instrument name (dotted); null for <c>target_info</c>, which is the resource.</param>
/// <param name="Type">Gauge, counter or histogram.</param>
/// <param name="OtelUnit">The instrument's unit (UCUM: <c>s</c>, <c>1</c>, <c>{socket}</c>); null for none.</param>
/// <param name="Integer">Whether the instrument measures whole numbers (long) rather than doubles.</param>
/// <param name="Help">The help text, on <c>/metrics</c> and as the instrument's description.</param>
/// <param name="Labels">The label names, in the order <paramref name="Read"/> gives their values.</param>
/// <param name="Read">The family's series in one state; none leaves the family out of that scrape.</param>
internal sealed record MetricDefinition(
    string Name,
    string? Instrument,
    MetricType Type,
    string? OtelUnit,
    bool Integer,
    string Help,
    IReadOnlyList<string> Labels,
    Func<MetricsState, IEnumerable<Series>> Read)
{
    /// <summary>The name the samples carry: counters end in <c>_total</c>.</summary>
    public string SampleName => Type == MetricType.Counter ? Name + "_total" : Name;

    /// <summary>The unit word the name ends with (OpenMetrics <c># UNIT</c>); only seconds are used.</summary>
    public string? Unit => OtelUnit == "s" ? "seconds" : null;

    /// <summary>
    /// The most series one collection of this family can hold, from its labels and the caps:
    /// the capped key (a destination or listener, else an owner, else a namespace; plus
    /// <c>other</c>) times the values of its other labels. Null for a family that follows no
    /// capped key (its series are few and fixed).
    /// </summary>
    public int? SeriesPerCollection(SeriesCaps caps)
    {
        int? cap = Labels.Contains("remote_address") || Labels.Contains("local_port") ? caps.Destinations
            : Labels.Contains("process") || Labels.Contains("unit") ? caps.Owners
            : Labels.Contains("netns") ? caps.Namespaces
            : null;
        if (cap is not { } keys)
        {
            return null;
        }

        var series = keys + 1;
        foreach (var label in Labels)
        {
            series *= MetricCatalog.ValuesPerKey(label);
        }

        return series;
    }
}

/// <summary>
/// SockWatch's metric contract: one declaration per family, in the order of their names. The
/// <c>/metrics</c> exposition (<see cref="MetricExposition"/>), the OTLP instruments
/// (<see cref="SockWatchMeter"/>) and the owner streams' series budgets read it; docs/metrics.md
/// is held to it by a test, and each Prometheus name is what OpenTelemetry's Prometheus rules
/// make of the instrument name and unit.
/// </summary>
internal static class MetricCatalog
{
    /// <summary>The OpenTelemetry scope (the Meter's name) and <c>service.name</c>.</summary>
    public const string MeterName = "sockwatch";

    private static readonly string[] UnownedReasons = ["no_inode", "not_found", "permission_denied"];

    /// <summary>Values a label takes within one key of a capped family: the key's own labels count once (the cap counts keys).</summary>
    private static readonly Dictionary<string, int> PerKey = new(StringComparer.Ordinal)
    {
        ["netns"] = 1,
        ["unit"] = 1,
        ["process"] = 1,
        ["local_address"] = 1,
        ["local_port"] = 1,
        ["remote_address"] = 1,
        ["remote_port"] = 1,
        ["family"] = PollMetrics.Families.Count,
        ["state"] = Lifecycle.Entries.Count, // every state the kernel can report, the two rarely dumped included: an upper bound
        ["phase"] = 1, // follows the state
        ["from"] = Lifecycle.Entries.Count,
        ["to"] = Lifecycle.Entries.Count,
        ["direction"] = 2, // sent or received; active or passive
    };

    /// <summary>Every family, sorted by name.</summary>
    public static IReadOnlyList<MetricDefinition> All { get; } =
    [
        new("sockwatch_build_info", "sockwatch.build.info", MetricType.Gauge, null, true,
            "SockWatch's version; always 1.",
            ["version", "dotnet_version"],
            _ => [Series.Of(1, Configuration.BuildInfo.Version, Environment.Version.ToString())]),
        new("sockwatch_close_wait_leak_after_seconds", "sockwatch.close_wait.leak_after", MetricType.Gauge, "s", false,
            "close_wait_leak_after: the age from which a close_wait socket counts as leaked.",
            [],
            s => [Series.Of(s.CloseWaitLeakAfter.TotalSeconds)]),
        new("sockwatch_close_wait_leaked_sockets", "sockwatch.close_wait.leaked_sockets", MetricType.Gauge, "{socket}", true,
            "close_wait sockets older than close_wait_leak_after, per owner: the peer's FIN (close wave 1) was acknowledged and the application never called close() to send wave 3.",
            ["netns", "unit", "process"],
            s => CloseWait(s, o => o.Leaked)),
        new("sockwatch_close_wait_oldest_age_seconds", "sockwatch.close_wait.oldest_age", MetricType.Gauge, "s", false,
            "Age of the owner's oldest close_wait socket (a lower bound); process=\"other\" has the highest of the owners beyond the cap.",
            ["netns", "unit", "process"],
            s => CloseWait(s, o => o.OldestAgeSeconds)),
        new("sockwatch_collector_info", "sockwatch.collector.info", MetricType.Gauge, null, true,
            "The collector in use (proc after a fallback from netlink); always 1.",
            ["collector"],
            s => s.Latest is { } p ? [Series.Of(1, p.Collector)] : []),
        new("sockwatch_ephemeral_port_utilization_ratio", "sockwatch.ephemeral_port.utilization_ratio", MetricType.Gauge, "1", false,
            "Local ports in use toward one destination / usable ephemeral ports; top destinations, remote_address=\"other\" has the highest of the rest.",
            ["netns", "local_address", "remote_address", "remote_port"],
            s => Poll(s, m => m.Destinations.Select(d => Series.Of(d.Utilization, d.Netns, d.LocalAddress, d.RemoteAddress, d.RemotePort)))),
        new("sockwatch_ephemeral_ports", "sockwatch.ephemeral_ports", MetricType.Gauge, "{port}", true,
            "Usable ephemeral ports: net.ipv4.ip_local_port_range less ip_local_reserved_ports.",
            ["netns"],
            s => Poll(s, m => m.Namespaces.Where(n => n.EphemeralPorts is not null).Select(n => Series.Of(n.EphemeralPorts!.Value, n.Netns)))),
        new("sockwatch_findings", "sockwatch.findings", MetricType.Gauge, "{finding}", true,
            "Findings of the latest poll by kind, as sockwatch check reports them.",
            ["kind"],
            s => Poll(s, m => m.FindingsByKind.Select(f => Series.Of(f.Count, f.Kind)))),
        new("sockwatch_kernel_listen_drops", "sockwatch.kernel.listen_drops", MetricType.Counter, "{connection}", true,
            "TcpExt ListenDrops: connections dropped by listeners.",
            ["netns"],
            s => Kernel(s, "ListenDrops")),
        new("sockwatch_kernel_listen_overflows", "sockwatch.kernel.listen_overflows", MetricType.Counter, "{connection}", true,
            "TcpExt ListenOverflows: handshakes dropped because an accept queue was full.",
            ["netns"],
            s => Kernel(s, "ListenOverflows")),
        new("sockwatch_kernel_time_wait_overflows", "sockwatch.kernel.time_wait_overflows", MetricType.Counter, "{socket}", true,
            "TcpExt TCPTimeWaitOverflow: time_wait sockets the kernel dropped at tcp_max_tw_buckets.",
            ["netns"],
            s => Kernel(s, "TCPTimeWaitOverflow")),
        new("sockwatch_last_poll_success_timestamp_seconds", "sockwatch.last_poll_success.timestamp", MetricType.Gauge, "s", false,
            "Unix time of the latest successful poll.",
            [],
            s => s.Latest is { } p ? [Series.Of(p.At.ToUnixTimeMilliseconds() / 1000.0)] : []),
        new("sockwatch_listen_queue_utilization_ratio", "sockwatch.listen_queue.utilization_ratio", MetricType.Gauge, "1", false,
            "Accept queue / backlog per listener (netlink only); top listeners, local_address=\"other\" has the highest of the rest.",
            ["netns", "local_address", "local_port", "unit", "process"],
            s => Poll(s, m => m.Listeners.Select(l => Series.Of(l.Utilization, l.Netns, l.LocalAddress, l.LocalPort, l.Unit, l.Process)))),
        new("sockwatch_malformed_entries", "sockwatch.malformed_entries", MetricType.Counter, "{entry}", true,
            "Kernel socket records that could not be parsed and were skipped.",
            ["collector"],
            s => s.Malformed.Select(m => Series.Of(m.Value, m.Key))),
        new("sockwatch_netns_watched", "sockwatch.netns.watched", MetricType.Gauge, "{namespace}", true,
            "Watched network namespaces of the latest poll by how their sockets were read: dumped, carried (TCP counters still since the last dump: listeners dumped, connections carried), empty (counters show no socket).",
            ["read"],
            s => s.Latest is { } p ? [Series.Of(p.Dumped, "dumped"), Series.Of(p.Carried, "carried"), Series.Of(p.Empty, "empty")] : []),
        new("sockwatch_poll_duration_seconds", "sockwatch.poll.duration", MetricType.Histogram, "s", false,
            "Time one poll took: dump, owners, facts, tracker and detectors.",
            [],
            s => s.PollDurations.Count > 0 ? [new Series(double.NaN, [], s.PollDurations)] : []),
        new("sockwatch_poll_errors", "sockwatch.poll.errors", MetricType.Counter, "{poll}", true,
            "Polls that failed, by collector and reason.",
            ["collector", "reason"],
            s => s.Errors.Select(e => Series.Of(e.Value, e.Key.Collector, e.Key.Reason))),
        new("sockwatch_poll_stage_duration_seconds", "sockwatch.poll.stage_duration", MetricType.Gauge, "s", false,
            "Time each stage of the latest poll took; a stage the poll did not report has no series.",
            ["stage"],
            s => Stages(s, st => st.Seconds)),
        new("sockwatch_poll_stage_success", "sockwatch.poll.stage_success", MetricType.Gauge, null, true,
            "Whether each stage of the latest poll succeeded (1) or failed (0); a stage the poll did not report has no series.",
            ["stage"],
            s => Stages(s, st => st.Success ? 1 : 0)),
        new("sockwatch_process_descriptor_utilization_ratio", "sockwatch.process.descriptor_utilization_ratio", MetricType.Gauge, "1", false,
            "Open descriptors / RLIMIT_NOFILE soft limit of the owner's fullest process, for owners holding close_wait sockets.",
            ["netns", "unit", "process"],
            s => CloseWait(s, o => o.DescriptorUtilization)),
        new("sockwatch_tcp_connect_failures", "sockwatch.tcp.connect_failures", MetricType.Counter, "{connection}", true,
            "Connects that failed in handshake step 1 (syn_sent to close: refused, unreachable or timed out) per destination, since tracing started; top destinations, remote_address=\"other\" sums the rest.",
            ["netns", "remote_address", "remote_port"],
            s => Trace(s, t => t.ConnectFailures.Select(f => Series.Of(f.Count, f.Netns, f.RemoteAddress, f.RemotePort)))),
        new("sockwatch_tcp_connections", "sockwatch.tcp.connections", MetricType.Counter, "{connection}", true,
            "Connections opened (handshake step 3 done: syn_sent or syn_recv to established) per owner, direction active (connect) or passive (accept), since tracing started; owners beyond the cap are summed into process=\"other\".",
            ["netns", "unit", "process", "direction"],
            s => Trace(s, t => t.Connections.Select(c => Series.Of(c.Count, c.Netns, c.Unit, c.Process, c.Direction)))),
        new("sockwatch_tcp_owner_sockets", "sockwatch.tcp.owner_sockets", MetricType.Gauge, "{socket}", true,
            "TCP sockets per owner (systemd unit, process name) and state; owners beyond the cap are summed into process=\"other\".",
            ["netns", "state", "unit", "process"],
            s => Poll(s, m => m.OwnerSockets.Select(o => Series.Of(o.Sockets, o.Netns, Lifecycle.NameOf(o.State), o.Unit, o.Process)))),
        new("sockwatch_tcp_resets", "sockwatch.tcp.resets", MetricType.Counter, "{reset}", true,
            "Resets sent or received per namespace and the state the socket was in (close: sent for a segment no socket took, such as a refused connect), since tracing started.",
            ["netns", "state", "direction"],
            s => Trace(s, t => t.Resets.Select(r => Series.Of(r.Count, r.Netns, Lifecycle.NameOf(r.State), r.Direction)))),
        new("sockwatch_tcp_sockets", "sockwatch.tcp.sockets", MetricType.Gauge, "{socket}", true,
            "TCP sockets per network namespace, family and state, every state present.",
            ["netns", "family", "state", "phase"],
            s => Poll(s, TcpSockets)),
        new("sockwatch_tcp_state_changes", "sockwatch.tcp.state_changes", MetricType.Counter, "{change}", true,
            "Every TCP state change the kernel made (sock:inet_sock_set_state), exact, since tracing started.",
            ["netns", "from", "to"],
            s => Trace(s, t => t.StateChanges.Select(c => Series.Of(c.Count, c.Netns, Lifecycle.NameOf(c.From), Lifecycle.NameOf(c.To))))),
        new("sockwatch_tcp_state_duration_seconds", "sockwatch.tcp.state_duration", MetricType.Histogram, "s", false,
            "Time sockets spent in a state, observed when they left it (log2 buckets of the kernel, every other one exposed), since tracing started; /metrics only.",
            ["netns", "state"],
            s => Trace(s, t => t.Durations.Select(d => new Series(double.NaN, [d.Netns, Lifecycle.NameOf(d.State)], d.Histogram)))),
        new("sockwatch_tcp_transition_anomalies", "sockwatch.tcp.transition_anomalies", MetricType.Counter, "{transition}", true,
            "Observed state changes the TCP lifecycle does not allow.",
            ["from", "to"],
            s => Poll(s, m => Pairs(m.Anomalies))),
        new("sockwatch_tcp_transitions", "sockwatch.tcp.transitions", MetricType.Counter, "{transition}", true,
            "TCP state changes observed between polls (polls skip states).",
            ["from", "to"],
            s => Poll(s, m => Pairs(m.Transitions))),
        new("sockwatch_tcp_unowned_sockets", "sockwatch.tcp.unowned_sockets", MetricType.Gauge, "{socket}", true,
            "Sockets no process could be named for, by reason.",
            ["reason"],
            s => Poll(s, m => UnownedReasons.Select(r => Series.Of(m.UnownedByReason.GetValueOrDefault(r), r)))),
        new("sockwatch_time_wait_bucket_utilization_ratio", "sockwatch.time_wait_bucket.utilization_ratio", MetricType.Gauge, "1", false,
            "time_wait sockets / net.ipv4.tcp_max_tw_buckets.",
            ["netns"],
            s => Poll(s, m => m.Namespaces.Where(n => n.TimeWaitBucketUtilization is not null).Select(n => Series.Of(n.TimeWaitBucketUtilization!.Value, n.Netns)))),
        new("sockwatch_trace_changes_missed", "sockwatch.trace.changes_missed", MetricType.Counter, "{change}", true,
            "State changes the tracer did not count: the kernel skipped its program because a run of it was in progress on that CPU (an interrupt inside it), or the namespace found no room.",
            [],
            s => Trace(s, t => [Series.Of(t.Missed)])),
        new("sockwatch_trace_entry_evictions", "sockwatch.trace.entry_evictions", MetricType.Counter, "{socket}", true,
            "Live sockets whose entry time the tracer's bounded socket table gave to a newer socket: their next change is an entry miss.",
            [],
            s => Trace(s, t => [Series.Of(t.Evictions)])),
        new("sockwatch_trace_entry_misses", "sockwatch.trace.entry_misses", MetricType.Counter, "{change}", true,
            "States left whose entry the tracer had not seen (the socket existed before tracing started, or its entry was evicted): their time is not in the duration histogram.",
            [],
            s => Trace(s, t => [Series.Of(t.EntryMisses)])),
        new("sockwatch_trace_events_lost", "sockwatch.trace.events_lost", MetricType.Counter, "{event}", true,
            "Per-connection trace records the kernel could not put in the ring buffer (close_wait entries and exits, connect failures).",
            [],
            s => Trace(s, t => [Series.Of(t.Lost)])),
        new("sockwatch_trace_info", "sockwatch.trace.info", MetricType.Gauge, null, true,
            "Whether every state change is traced in the kernel: mode on or off, and why off (disabled, permission_denied, no_libbpf, no_btf, load_failed, attach_failed); always 1.",
            ["mode", "reason"],
            s => [Series.Of(1, s.Trace.Mode, s.Trace.Reason)]),
        new("sockwatch_unit_restarts", "sockwatch.unit.restarts", MetricType.Gauge, "{restart}", true,
            "systemd's restart count (NRestarts) of each service unit that owns a close_wait leak, asked over D-Bus; absent without the system bus.",
            ["netns", "unit"],
            s => Poll(s, m => m.UnitRestarts.Select(u => Series.Of(u.Restarts, u.Netns, u.Unit)))),
        new("target_info", null, MetricType.Gauge, null, true,
            "Target metadata: the OpenTelemetry resource.",
            ["service_name", "service_version"],
            _ => [Series.Of(1, MeterName, Configuration.BuildInfo.Version)]),
    ];

    /// <summary>The family named <paramref name="name"/> (without <c>_total</c>).</summary>
    public static MetricDefinition Get(string name) => All.Single(d => d.Name == name);

    /// <summary>How many values <paramref name="label"/> takes within one key of a capped family.</summary>
    /// <exception cref="InvalidOperationException">The label is not bounded per key: a capped family cannot carry it.</exception>
    public static int ValuesPerKey(string label) =>
        PerKey.TryGetValue(label, out var n) ? n : throw new InvalidOperationException($"label {label} has no bound per capped key");

    private static IEnumerable<Series> Poll(MetricsState state, Func<PollMetrics, IEnumerable<Series>> read) =>
        state.Latest is { } latest ? read(latest.Metrics) : [];

    private static IEnumerable<Series> Trace(MetricsState state, Func<TraceMetrics, IEnumerable<Series>> read) =>
        state.Latest?.Trace is { } trace ? read(trace) : [];

    private static IEnumerable<Series> TcpSockets(PollMetrics m)
    {
        foreach (var ns in m.Namespaces)
        {
            for (var f = 0; f < PollMetrics.Families.Count; f++)
            {
                foreach (var state in Lifecycle.ReportedStates)
                {
                    var entry = Lifecycle.Of(state);
                    yield return Series.Of(ns.SocketsByFamilyState[f, (int)state], ns.Netns, PollMetrics.Families[f].Name, entry.Name, Lifecycle.PhaseName(entry.Phase));
                }
            }
        }
    }

    private static IEnumerable<Series> CloseWait(MetricsState state, Func<CloseWaitOwner, double?> value) =>
        Poll(state, m => m.CloseWait.Where(o => value(o) is not null).Select(o => Series.Of(value(o)!.Value, o.Netns, o.Unit, o.Process)));

    private static IEnumerable<Series> Pairs(IReadOnlyDictionary<(TcpState From, TcpState To), long> pairs) =>
        pairs.OrderBy(p => p.Key).Select(p => Series.Of(p.Value, Lifecycle.NameOf(p.Key.From), Lifecycle.NameOf(p.Key.To)));

    private static IEnumerable<Series> Kernel(MetricsState state, string counter) =>
        Poll(state, m => m.Namespaces
            .Where(n => n.KernelCounters.TryGetValue(counter, out var v) && v >= 0)
            .Select(n => Series.Of(n.KernelCounters[counter], n.Netns)));

    private static IEnumerable<Series> Stages(MetricsState state, Func<StageFigure, double> value) =>
        state.Latest is { } latest ? latest.Stages.Select(st => Series.Of(value(st), st.Stage)) : [];
}
