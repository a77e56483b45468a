using System.Diagnostics.Metrics;
using SockWatch.Agent.Daemon;
using SockWatch.Core;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// SockWatch's one Meter and its instruments. Every instrument but the poll-duration histogram
/// is observable and reads the latest <see cref="PollResult"/> (or the store's cumulative
/// counts): the instruments hold no state of their own, which is what lets
/// <see cref="MetricsPipeline"/> rebuild the owner streams without losing anything.
/// </summary>
/// <remarks>
/// Instrument names are OpenTelemetry's dotted form; the Prometheus names in docs/metrics.md are
/// what the translation rules make of them (dots to underscores, the unit <c>s</c> as
/// <c>_seconds</c>, monotonic sums with <c>_total</c>).
/// </remarks>
internal sealed class SockWatchMeter : IDisposable
{
    public const string MeterName = "sockwatch";

    /// <summary>Bounds of the poll-duration histogram, seconds: a poll of 1,000 sockets takes about a millisecond, of 100,000 a few hundred.</summary>
    public static readonly double[] PollDurationBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly PollResultStore _store;
    private readonly Action<string, string> _observed;

    /// <param name="store">Where the latest poll is.</param>
    /// <param name="observed">Called with (instrument, series key) for every measurement of an owner instrument, so the pipeline can count the series a stream has seen.</param>
    public SockWatchMeter(PollResultStore store, TimeSpan closeWaitLeakAfter, Action<string, string> observed)
    {
        _store = store;
        _observed = observed;
        Meter = new Meter(MeterName);

        Meter.CreateObservableGauge(Names.TcpSockets, TcpSockets, "{socket}", "TCP sockets per network namespace, family and state, every state present.");
        Meter.CreateObservableGauge(Names.OwnerSockets, OwnerSockets, "{socket}", "TCP sockets per owner (systemd unit, process name) and state; owners beyond the cap are summed into process=\"other\".");
        Meter.CreateObservableGauge(Names.UnownedSockets, UnownedSockets, "{socket}", "Sockets no process could be named for, by reason.");
        Meter.CreateObservableGauge(Names.CloseWaitLeaked, CloseWaitLeaked, "{socket}", "close_wait sockets older than close_wait_leak_after, per owner: the peer's FIN (close wave 1) was acknowledged and the application never called close() to send wave 3.");
        Meter.CreateObservableGauge(Names.CloseWaitLeakAfter, () => closeWaitLeakAfter.TotalSeconds, "s", "close_wait_leak_after: the age from which a close_wait socket counts as leaked.");
        Meter.CreateObservableGauge(Names.CloseWaitOldestAge, CloseWaitOldest, "s", "Age of the owner's oldest close_wait socket (a lower bound); process=\"other\" has the highest of the owners beyond the cap.");
        Meter.CreateObservableGauge(Names.DescriptorUtilization, DescriptorUtilization, "1", "Open descriptors / RLIMIT_NOFILE soft limit of the owner's fullest process, for owners holding close_wait sockets.");
        Meter.CreateObservableGauge(Names.EphemeralUtilization, EphemeralUtilization, "1", "Local ports in use toward one destination / usable ephemeral ports; top destinations, remote_address=\"other\" has the highest of the rest.");
        Meter.CreateObservableGauge(Names.EphemeralPorts, EphemeralPorts, "{port}", "Usable ephemeral ports: net.ipv4.ip_local_port_range less ip_local_reserved_ports.");
        Meter.CreateObservableGauge(Names.TimeWaitBuckets, TimeWaitBuckets, "1", "time_wait sockets / net.ipv4.tcp_max_tw_buckets.");
        Meter.CreateObservableGauge(Names.ListenQueue, ListenQueue, "1", "Accept queue / backlog per listener (netlink only); top listeners, local_address=\"other\" has the highest of the rest.");
        Meter.CreateObservableGauge(Names.Findings, Findings, "{finding}", "Findings of the latest poll by kind, as sockwatch check reports them.");
        Meter.CreateObservableCounter(Names.Transitions, () => Pairs(r => r.Metrics.Transitions), "{transition}", "TCP state changes observed between polls (polls skip states).");
        Meter.CreateObservableCounter(Names.Anomalies, () => Pairs(r => r.Metrics.Anomalies), "{transition}", "Observed state changes the TCP lifecycle does not allow.");
        Meter.CreateObservableCounter(Names.TimeWaitOverflows, () => Kernel(Names.TimeWaitOverflows, "TCPTimeWaitOverflow"), "{socket}", "TcpExt TCPTimeWaitOverflow: time_wait sockets the kernel dropped at tcp_max_tw_buckets.");
        Meter.CreateObservableCounter(Names.ListenOverflows, () => Kernel(Names.ListenOverflows, "ListenOverflows"), "{connection}", "TcpExt ListenOverflows: handshakes dropped because an accept queue was full.");
        Meter.CreateObservableCounter(Names.ListenDrops, () => Kernel(Names.ListenDrops, "ListenDrops"), "{connection}", "TcpExt ListenDrops: connections dropped by listeners.");
        Meter.CreateObservableCounter(Names.PollErrors, PollErrors, "{poll}", "Polls that failed, by collector and reason.");
        Meter.CreateObservableCounter(Names.Malformed, Malformed, "{entry}", "Kernel socket records that could not be parsed and were skipped.");
        Meter.CreateObservableGauge(Names.LastSuccess, LastSuccess, "s", "Unix time of the latest successful poll.");
        Meter.CreateObservableGauge(Names.NetnsWatched, NetnsWatched, "{namespace}", "Watched network namespaces of the latest poll by how their sockets were read: dumped, carried (TCP counters still since the last dump: listeners dumped, connections carried), empty (counters show no socket).");
        Meter.CreateObservableGauge(Names.CollectorInfo, CollectorInfo, null, "The collector in use (proc after a fallback from netlink); always 1.");
        Meter.CreateObservableGauge(Names.BuildInfo, () => new Measurement<long>(1, Tag("version", Program.Version), Tag("dotnet_version", Environment.Version.ToString())), null, "SockWatch's version; always 1.");
        PollDuration = Meter.CreateHistogram<double>(Names.PollDuration, "s", "Time one poll took: dump, owners, facts, tracker and detectors.");
    }

    public Meter Meter { get; }

    public Histogram<double> PollDuration { get; }

    /// <summary>The instruments whose series follow namespaces, owners, destinations and listeners, and the most series each can report in one collection.</summary>
    public static IReadOnlyList<(string Name, Func<SeriesCaps, int> PerCollection)> OwnerInstruments { get; } =
    [
        (Names.TcpSockets, c => (c.Namespaces + 1) * 22),
        (Names.EphemeralPorts, c => c.Namespaces + 1),
        (Names.TimeWaitBuckets, c => c.Namespaces + 1),
        (Names.TimeWaitOverflows, c => c.Namespaces + 1),
        (Names.ListenOverflows, c => c.Namespaces + 1),
        (Names.ListenDrops, c => c.Namespaces + 1),
        (Names.OwnerSockets, c => (c.Owners + 1) * 13),
        (Names.CloseWaitLeaked, c => c.Owners + 1),
        (Names.CloseWaitOldestAge, c => c.Owners + 1),
        (Names.DescriptorUtilization, c => c.Owners + 1),
        (Names.EphemeralUtilization, c => c.Destinations + 1),
        (Names.ListenQueue, c => c.Destinations + 1),
    ];

    /// <summary>Every instrument name, for views.</summary>
    public static IReadOnlyList<string> AllInstruments { get; } =
    [
        Names.TcpSockets, Names.OwnerSockets, Names.UnownedSockets, Names.CloseWaitLeaked, Names.CloseWaitOldestAge, Names.CloseWaitLeakAfter,
        Names.DescriptorUtilization, Names.EphemeralUtilization, Names.EphemeralPorts, Names.TimeWaitBuckets, Names.ListenQueue,
        Names.Findings, Names.Transitions, Names.Anomalies, Names.TimeWaitOverflows, Names.ListenOverflows, Names.ListenDrops,
        Names.PollErrors, Names.Malformed, Names.LastSuccess, Names.NetnsWatched, Names.CollectorInfo, Names.BuildInfo, Names.PollDuration,
    ];

    public void Dispose() => Meter.Dispose();

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    private IEnumerable<Measurement<long>> TcpSockets()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var ns in m.Namespaces)
        {
            for (var f = 0; f < PollMetrics.Families.Count; f++)
            {
                foreach (var state in Lifecycle.ReportedStates)
                {
                    var entry = Lifecycle.Of(state);
                    var family = PollMetrics.Families[f].Name;
                    _observed(Names.TcpSockets, string.Join('\0', ns.Netns, family, entry.Name));
                    yield return new Measurement<long>(
                        ns.SocketsByFamilyState[f, (int)state],
                        Tag("netns", ns.Netns),
                        Tag("family", family),
                        Tag("state", entry.Name),
                        Tag("phase", Lifecycle.PhaseName(entry.Phase)));
                }
            }
        }
    }

    private IEnumerable<Measurement<long>> OwnerSockets()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var o in m.OwnerSockets)
        {
            var state = Lifecycle.NameOf(o.State);
            _observed(Names.OwnerSockets, string.Join('\0', o.Netns, state, o.Unit, o.Process));
            yield return new Measurement<long>(o.Sockets, Tag("netns", o.Netns), Tag("state", state), Tag("unit", o.Unit), Tag("process", o.Process));
        }
    }

    private IEnumerable<Measurement<long>> UnownedSockets()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var reason in (string[])["no_inode", "not_found", "permission_denied"])
        {
            yield return new Measurement<long>(m.UnownedByReason.GetValueOrDefault(reason), Tag("reason", reason));
        }
    }

    private IEnumerable<Measurement<long>> CloseWaitLeaked() =>
        CloseWaitSeries(Names.CloseWaitLeaked, o => o.Leaked).Select(x => new Measurement<long>((long)x.Value, x.Tags));

    private IEnumerable<Measurement<double>> CloseWaitOldest() =>
        CloseWaitSeries(Names.CloseWaitOldestAge, o => o.OldestAgeSeconds).Select(x => new Measurement<double>(x.Value, x.Tags));

    private IEnumerable<Measurement<double>> DescriptorUtilization() =>
        CloseWaitSeries(Names.DescriptorUtilization, o => o.DescriptorUtilization).Select(x => new Measurement<double>(x.Value, x.Tags));

    private IEnumerable<(double Value, KeyValuePair<string, object?>[] Tags)> CloseWaitSeries(string instrument, Func<CloseWaitOwner, double?> value)
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var o in m.CloseWait)
        {
            if (value(o) is { } v)
            {
                _observed(instrument, string.Join('\0', o.Netns, o.Unit, o.Process));
                yield return (v, [Tag("netns", o.Netns), Tag("unit", o.Unit), Tag("process", o.Process)]);
            }
        }
    }

    private IEnumerable<Measurement<double>> EphemeralUtilization()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var d in m.Destinations)
        {
            _observed(Names.EphemeralUtilization, string.Join('\0', d.Netns, d.LocalAddress, d.RemoteAddress, d.RemotePort));
            yield return new Measurement<double>(
                d.Utilization, Tag("netns", d.Netns), Tag("local_address", d.LocalAddress), Tag("remote_address", d.RemoteAddress), Tag("remote_port", d.RemotePort));
        }
    }

    private IEnumerable<Measurement<long>> EphemeralPorts()
    {
        foreach (var ns in _store.Latest?.Metrics.Namespaces ?? [])
        {
            if (ns.EphemeralPorts is { } ports)
            {
                _observed(Names.EphemeralPorts, ns.Netns);
                yield return new Measurement<long>(ports, Tag("netns", ns.Netns));
            }
        }
    }

    private IEnumerable<Measurement<double>> TimeWaitBuckets()
    {
        foreach (var ns in _store.Latest?.Metrics.Namespaces ?? [])
        {
            if (ns.TimeWaitBucketUtilization is { } used)
            {
                _observed(Names.TimeWaitBuckets, ns.Netns);
                yield return new Measurement<double>(used, Tag("netns", ns.Netns));
            }
        }
    }

    private IEnumerable<Measurement<double>> ListenQueue()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var l in m.Listeners)
        {
            _observed(Names.ListenQueue, string.Join('\0', l.Netns, l.LocalAddress, l.LocalPort, l.Unit, l.Process));
            yield return new Measurement<double>(
                l.Utilization, Tag("netns", l.Netns), Tag("local_address", l.LocalAddress), Tag("local_port", l.LocalPort), Tag("unit", l.Unit), Tag("process", l.Process));
        }
    }

    private IEnumerable<Measurement<long>> Findings()
    {
        if (_store.Latest?.Metrics is not { } m)
        {
            yield break;
        }

        foreach (var (kind, count) in m.FindingsByKind)
        {
            yield return new Measurement<long>(count, Tag("kind", kind));
        }
    }

    private IEnumerable<Measurement<long>> Pairs(Func<PollResult, IReadOnlyDictionary<(TcpState From, TcpState To), long>> pick)
    {
        if (_store.Latest is not { } latest)
        {
            yield break;
        }

        foreach (var ((from, to), count) in pick(latest).OrderBy(p => p.Key))
        {
            yield return new Measurement<long>(count, Tag("from", Lifecycle.NameOf(from)), Tag("to", Lifecycle.NameOf(to)));
        }
    }

    private IEnumerable<Measurement<long>> Kernel(string instrument, string counter)
    {
        foreach (var ns in _store.Latest?.Metrics.Namespaces ?? [])
        {
            if (ns.KernelCounters.TryGetValue(counter, out var value) && value >= 0)
            {
                _observed(instrument, ns.Netns);
                yield return new Measurement<long>(value, Tag("netns", ns.Netns));
            }
        }
    }

    private IEnumerable<Measurement<long>> PollErrors()
    {
        foreach (var ((collector, reason), count) in _store.ErrorCounts())
        {
            yield return new Measurement<long>(count, Tag("collector", collector), Tag("reason", reason));
        }
    }

    private IEnumerable<Measurement<long>> Malformed()
    {
        foreach (var (collector, count) in _store.MalformedCounts())
        {
            yield return new Measurement<long>(count, Tag("collector", collector));
        }
    }

    private IEnumerable<Measurement<double>> LastSuccess()
    {
        if (_store.Latest is { } latest)
        {
            yield return new Measurement<double>(latest.At.ToUnixTimeMilliseconds() / 1000.0);
        }
    }

    private IEnumerable<Measurement<long>> NetnsWatched()
    {
        if (_store.Latest is { } latest)
        {
            yield return new Measurement<long>(latest.Reads.Dumped, Tag("read", "dumped"));
            yield return new Measurement<long>(latest.Reads.Carried, Tag("read", "carried"));
            yield return new Measurement<long>(latest.Reads.Empty, Tag("read", "empty"));
        }
    }

    private IEnumerable<Measurement<long>> CollectorInfo()
    {
        if (_store.Latest is { } latest)
        {
            yield return new Measurement<long>(1, Tag("collector", latest.Collector));
        }
    }

    /// <summary>The instrument names.</summary>
    public static class Names
    {
        public const string TcpSockets = "sockwatch.tcp.sockets";
        public const string OwnerSockets = "sockwatch.tcp.owner_sockets";
        public const string UnownedSockets = "sockwatch.tcp.unowned_sockets";
        public const string CloseWaitLeaked = "sockwatch.close_wait.leaked_sockets";
        public const string CloseWaitOldestAge = "sockwatch.close_wait.oldest_age";
        public const string CloseWaitLeakAfter = "sockwatch.close_wait.leak_after";
        public const string DescriptorUtilization = "sockwatch.process.descriptor_utilization_ratio";
        public const string EphemeralUtilization = "sockwatch.ephemeral_port.utilization_ratio";
        public const string EphemeralPorts = "sockwatch.ephemeral_ports";
        public const string TimeWaitBuckets = "sockwatch.time_wait_bucket.utilization_ratio";
        public const string ListenQueue = "sockwatch.listen_queue.utilization_ratio";
        public const string Findings = "sockwatch.findings";
        public const string Transitions = "sockwatch.tcp.transitions";
        public const string Anomalies = "sockwatch.tcp.transition_anomalies";
        public const string TimeWaitOverflows = "sockwatch.kernel.time_wait_overflows";
        public const string ListenOverflows = "sockwatch.kernel.listen_overflows";
        public const string ListenDrops = "sockwatch.kernel.listen_drops";
        public const string PollErrors = "sockwatch.poll.errors";
        public const string Malformed = "sockwatch.malformed_entries";
        public const string LastSuccess = "sockwatch.last_poll_success.timestamp";
        public const string NetnsWatched = "sockwatch.netns.watched";
        public const string CollectorInfo = "sockwatch.collector.info";
        public const string BuildInfo = "sockwatch.build.info";
        public const string PollDuration = "sockwatch.poll.duration";
    }
}
