using System.Globalization;
using System.Runtime.InteropServices;

namespace SockWatch.Core.Detection;

/// <summary>
/// Finds what is stuck in one poll: close_wait leaks, ephemeral-port and time_wait pressure,
/// full accept queues, listen drops, and closes or handshakes that do not finish.
/// </summary>
/// <remarks>
/// <para>
/// State kept across polls is small and bounded: the leaked close_wait count of each leaking
/// owner over the last <see cref="DetectorOptions.GrowthWindowPolls"/> polls (an owner that
/// stops leaking is forgotten), and the previous poll's kernel counters (to see them rise).
/// </para>
/// <para>
/// Owners are grouped by unit and process name, not pid: the workers of one service leak
/// together, and a restart does not split the history. The reported <see cref="Finding.Owner"/>
/// is the process of the group holding the most of its sockets.
/// </para>
/// <para>
/// Accept queues: only listeners with a known backlog are judged. sock_diag reports the
/// backlog in the listener's TxQueue; /proc/net/tcp does not report it (its tx_queue column is
/// 0 for listeners), so from /proc no listener has TxQueue &gt; 0 and no accept-queue finding
/// is made; the ListenOverflow counters still work.
/// </para>
/// <para>Not thread-safe: one poll loop calls <see cref="Evaluate"/>.</para>
/// </remarks>
public sealed class Detectors
{
    private const string Unowned = "unowned";

    private readonly Dictionary<OwnerKey, Queue<int>> _leakHistory = [];
    private IReadOnlyDictionary<string, long>? _previousCounters;

    /// <summary>Creates the detectors; throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public Detectors(DetectorOptions? options = null)
    {
        Options = options ?? new DetectorOptions();
        var errors = Options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"{errors[0].Key}: {errors[0].Reason}", nameof(options));
        }
    }

    public DetectorOptions Options { get; }

    /// <summary>The findings of one poll, ordered by severity (critical first), then kind, then subject.</summary>
    /// <param name="poll">The poll.</param>
    /// <param name="track">The tracker's result for the same poll (ages parallel to its sockets).</param>
    public IReadOnlyList<Finding> Evaluate(PollInput poll, TrackResult track)
    {
        ArgumentNullException.ThrowIfNull(poll);
        ArgumentNullException.ThrowIfNull(track);
        if (track.AgeInState.Count != poll.Sockets.Length)
        {
            throw new ArgumentException("the track result is not of this poll: its length differs", nameof(track));
        }

        var findings = new List<Finding>();
        var records = poll.Sockets.Span;
        var closeWait = new Dictionary<OwnerKey, OwnerGroup>();
        var finWait2 = new Dictionary<OwnerKey, OwnerGroup>();
        var lastAck = new Dictionary<OwnerKey, OwnerGroup>();
        var synSent = new Dictionary<OwnerKey, OwnerGroup>();
        var finTimeout = poll.Facts.FinTimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null;
        var timeWait = 0;

        for (var i = 0; i < records.Length; i++)
        {
            ref readonly var r = ref records[i];
            var age = track.AgeInState[i];
            switch (r.State)
            {
                case TcpState.CloseWait when age > Options.CloseWaitLeakAfter:
                    Group(closeWait, poll.OwnerAt(i)).Add(poll.OwnerAt(i), age, in r);
                    break;
                case TcpState.FinWait2 when r.Inode != 0 && age > finTimeout:
                    Group(finWait2, poll.OwnerAt(i)).Add(poll.OwnerAt(i), age, in r);
                    break;
                case TcpState.LastAck when age > Options.LastAckStuckAfter:
                    Group(lastAck, poll.OwnerAt(i)).Add(poll.OwnerAt(i), age, in r);
                    break;
                case TcpState.SynSent when r.Retransmits >= Options.SynSentRetries:
                    Group(synSent, poll.OwnerAt(i)).Add(poll.OwnerAt(i), age, in r);
                    break;
                case TcpState.TimeWait:
                    timeWait++;
                    break;
                case TcpState.Listen:
                    AcceptQueue(findings, poll, i);
                    break;
                default:
                    break;
            }
        }

        CloseWaitLeaks(findings, poll, closeWait);
        StuckCloses(findings, finWait2, lastAck, synSent, finTimeout);
        EphemeralPorts(findings, poll);
        TimeWaitBuckets(findings, poll, timeWait);
        Counters(findings, poll);

        findings.Sort(Compare);
        return findings;
    }

    private static int Compare(Finding a, Finding b)
    {
        var c = b.Severity.CompareTo(a.Severity);
        if (c == 0)
        {
            c = a.Kind.CompareTo(b.Kind);
        }

        if (c == 0)
        {
            c = string.CompareOrdinal(a.Subject, b.Subject);
        }

        if (c == 0)
        {
            c = (a.Owner?.Pid ?? -1).CompareTo(b.Owner?.Pid ?? -1);
        }

        return c != 0 ? c : b.Count.CompareTo(a.Count);
    }

    private static OwnerGroup Group(Dictionary<OwnerKey, OwnerGroup> groups, SocketOwner? owner)
    {
        ref var group = ref CollectionsMarshal.GetValueRefOrAddDefault(groups, OwnerKey.Of(owner), out _);
        return group ??= new OwnerGroup();
    }

    private void CloseWaitLeaks(List<Finding> findings, PollInput poll, Dictionary<OwnerKey, OwnerGroup> groups)
    {
        // Forget owners that stopped leaking: bounded memory, and a new leak's growth starts from it.
        foreach (var key in _leakHistory.Keys)
        {
            if (!groups.ContainsKey(key))
            {
                _leakHistory.Remove(key);
            }
        }

        foreach (var (key, g) in groups)
        {
            ref var history = ref CollectionsMarshal.GetValueRefOrAddDefault(_leakHistory, key, out _);
            history ??= new Queue<int>();
            history.Enqueue(g.Count);
            while (history.Count > Options.GrowthWindowPolls + 1)
            {
                history.Dequeue();
            }

            var growth = g.Count - history.Peek();
            var growthPolls = history.Count - 1;

            // The FIN is counted as one byte of the receive queue: it is not data.
            var unread = Math.Max(0, g.RxBytes - g.Count);

            var values = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [FindingValues.OldestAgeSeconds] = g.Oldest.TotalSeconds,
                [FindingValues.UnreadBytes] = unread,
                [FindingValues.Growth] = growth,
                [FindingValues.GrowthPolls] = growthPolls,
                [FindingValues.Processes] = g.Pids.Count,
            };

            var c = CultureInfo.InvariantCulture;
            var text = string.Create(c, $"the peer closed at least {Text.Age(g.Oldest)} ago (wave 1) and the kernel acknowledged it (wave 2); {Who(g)} has not called close(), so wave 3 was never sent: {Text.Count(g.Count, "socket", "sockets")}, {Text.Bytes(unread)} unread");
            if (growth > 0)
            {
                text += string.Create(c, $", {growth} more than {growthPolls} polls ago");
            }

            var critical = g.Count >= Options.CloseWaitCriticalCount;
            if (WorstDescriptors(poll, g) is { } fds)
            {
                values[FindingValues.OpenDescriptors] = fds.Open;
                if (fds.Limit is { } limit && limit > 0)
                {
                    var used = (double)fds.Open / limit;
                    values[FindingValues.DescriptorLimit] = limit;
                    values[FindingValues.DescriptorUtilization] = used;
                    critical |= used >= Options.DescriptorCriticalUtilization;
                    text += string.Create(c, $", {fds.Open} of {limit} descriptors in use");
                }
                else
                {
                    text += string.Create(c, $", {fds.Open} descriptors in use (limit unknown)");
                }
            }

            findings.Add(new Finding(
                FindingKind.CloseWaitLeak,
                critical ? FindingSeverity.Critical : FindingSeverity.Warning,
                g.Representative,
                key.Subject,
                g.Count,
                g.Oldest,
                text,
                values));
        }
    }

    /// <summary>The process of the group closest to its descriptor limit (most open when no limit is known).</summary>
    private static DescriptorUsage? WorstDescriptors(PollInput poll, OwnerGroup g)
    {
        DescriptorUsage? worst = null;
        foreach (var pid in g.Pids.Keys)
        {
            if (!poll.Descriptors.TryGetValue(pid, out var usage))
            {
                continue;
            }

            if (worst is not { } w || Fill(usage) > Fill(w) || (Fill(usage) == Fill(w) && usage.Open > w.Open))
            {
                worst = usage;
            }
        }

        return worst;

        static double Fill(DescriptorUsage u) => u.Limit is { } l && l > 0 ? (double)u.Open / l : 0;
    }

    private void StuckCloses(
        List<Finding> findings,
        Dictionary<OwnerKey, OwnerGroup> finWait2,
        Dictionary<OwnerKey, OwnerGroup> lastAck,
        Dictionary<OwnerKey, OwnerGroup> synSent,
        TimeSpan? finTimeout)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var (key, g) in finWait2)
        {
            var timeout = finTimeout.GetValueOrDefault();
            findings.Add(Grouped(FindingKind.FinWait2Stuck, key, g,
                string.Create(c, $"this side sent its FIN (wave 1) and the peer acknowledged it (wave 2), but the peer's FIN (wave 3) has not come for at least {Text.Age(g.Oldest)}, longer than tcp_fin_timeout ({(long)timeout.TotalSeconds} s); {Who(g)} still holds {Text.Count(g.Count, "half-closed socket", "half-closed sockets")}, and the kernel times out only sockets no process holds"),
                (FindingValues.FinTimeoutSeconds, timeout.TotalSeconds)));
        }

        foreach (var (key, g) in lastAck)
        {
            findings.Add(Grouped(FindingKind.LastAckStuck, key, g,
                string.Create(c, $"after the peer's FIN the application closed and this side's FIN went out (wave 3), but the final ACK (wave 4) has not come for at least {Text.Age(g.Oldest)}: {Text.Count(g.Count, "socket", "sockets")} of {Who(g)}; the peer is gone or its packets are dropped, and the kernel keeps retransmitting the FIN"),
                (FindingValues.ThresholdSeconds, Options.LastAckStuckAfter.TotalSeconds)));
        }

        foreach (var (key, g) in synSent)
        {
            findings.Add(Grouped(FindingKind.SynSentRetrying, key, g,
                string.Create(c, $"handshake step 1 (SYN) was sent and retransmitted up to {g.MaxRetransmits} times without a SYN+ACK (step 2): {Text.Count(g.Count, "connection", "connections")} of {Who(g)} wait for a destination that does not answer (down, filtered, or dropping SYNs)"),
                (FindingValues.MaxRetransmits, g.MaxRetransmits)));
        }
    }

    private static Finding Grouped(FindingKind kind, OwnerKey key, OwnerGroup g, string text, (string Name, double Value) extra) =>
        new(kind, FindingSeverity.Warning, g.Representative, key.Subject, g.Count, g.Oldest, text,
            new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [FindingValues.OldestAgeSeconds] = g.Oldest.TotalSeconds,
                [FindingValues.Processes] = g.Pids.Count,
                [extra.Name] = extra.Value,
            });

    private void AcceptQueue(List<Finding> findings, PollInput poll, int index)
    {
        ref readonly var r = ref poll.Sockets.Span[index];
        if (r.TxQueue == 0)
        {
            return; // backlog unknown (from /proc), or listen(fd, 0)
        }

        var used = (double)r.RxQueue / r.TxQueue;
        if (used < Options.AcceptQueueUtilization)
        {
            return;
        }

        var owner = poll.OwnerAt(index);
        var endpoint = Text.Endpoint(r.Family, r.LocalAddress, r.LocalPort);
        var who = owner is null ? "its process" : Describe(owner, 1);
        findings.Add(new Finding(
            FindingKind.AcceptQueueFull,
            r.RxQueue >= r.TxQueue ? FindingSeverity.Critical : FindingSeverity.Warning,
            owner,
            endpoint,
            (int)Math.Min(r.RxQueue, int.MaxValue),
            null,
            string.Create(CultureInfo.InvariantCulture, $"{Text.Count(r.RxQueue, "connection", "connections")} finished the handshake (step 3) and wait in the accept queue of {endpoint}, {Text.Percent(used)} of its backlog of {r.TxQueue}: {who} is not calling accept() fast enough, and once the queue is full the kernel drops new handshakes"),
            new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [FindingValues.AcceptQueue] = r.RxQueue,
                [FindingValues.Backlog] = r.TxQueue,
                [FindingValues.Utilization] = used,
            }));
    }

    private void EphemeralPorts(List<Finding> findings, PollInput poll)
    {
        if (poll.Facts.EphemeralPorts is not { } range || poll.Facts.UsableEphemeralPorts is not { } usable || usable <= 0)
        {
            return;
        }

        var records = poll.Sockets.Span;
        var listeners = new HashSet<ushort>();
        foreach (ref readonly var r in records)
        {
            if (r.State == TcpState.Listen)
            {
                listeners.Add(r.LocalPort);
            }
        }

        bool IsClient(in SocketRecord r) =>
            r.State != TcpState.Listen && r.RemotePort != 0 && range.Contains(r.LocalPort) && !listeners.Contains(r.LocalPort)
            && !poll.Facts.IsReservedPort(r.LocalPort); // a reserved port is never handed out by connect()

        // Pass 1 counts sockets per destination, cheaply. A four-tuple is unique, so the
        // sockets of a destination are at least its distinct local ports: a destination whose
        // socket count is below the threshold cannot be over it.
        var counts = new Dictionary<Destination, int>();
        foreach (ref readonly var r in records)
        {
            if (IsClient(in r))
            {
                CollectionsMarshal.GetValueRefOrAddDefault(counts, Destination.Of(in r), out _)++;
            }
        }

        var hot = new Dictionary<Destination, PortGroup>();
        foreach (var (destination, count) in counts)
        {
            if ((double)count / usable >= Options.EphemeralPortUtilization)
            {
                hot[destination] = new PortGroup();
            }
        }

        if (hot.Count == 0)
        {
            return;
        }

        // Pass 2, for the few hot destinations: distinct ports, time_wait, and owners.
        for (var i = 0; i < records.Length; i++)
        {
            ref readonly var r = ref records[i];
            if (IsClient(in r) && hot.TryGetValue(Destination.Of(in r), out var g) && g.Ports.Add(r.LocalPort))
            {
                if (r.State == TcpState.TimeWait)
                {
                    g.TimeWait++;
                }

                if (poll.OwnerAt(i) is { } owner)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(g.Owners, owner, out _)++;
                }
            }
        }

        foreach (var (d, g) in hot)
        {
            var used = (double)g.Ports.Count / usable;
            if (used < Options.EphemeralPortUtilization)
            {
                continue;
            }

            var subject = Text.Address(d.Family, d.Local) + " -> " + Text.Endpoint(d.Family, d.Remote, d.RemotePort);
            var owner = g.Owners.Count == 0 ? null : g.Owners.OrderByDescending(o => o.Value).ThenBy(o => o.Key.Pid).First().Key;
            findings.Add(new Finding(
                FindingKind.EphemeralPortPressure,
                used >= Options.EphemeralPortCriticalUtilization ? FindingSeverity.Critical : FindingSeverity.Warning,
                owner,
                subject,
                g.Ports.Count,
                null,
                string.Create(CultureInfo.InvariantCulture, $"connections from {Text.Address(d.Family, d.Local)} to {Text.Endpoint(d.Family, d.Remote, d.RemotePort)} hold {g.Ports.Count} of {usable} usable ephemeral ports ({Text.Percent(used)}), {g.TimeWait} of them in time_wait (wave 4 sent, each port held for 60 s); when none is left, connect() to this destination fails with EADDRNOTAVAIL"),
                new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    [FindingValues.PortsInUse] = g.Ports.Count,
                    [FindingValues.PortsAvailable] = usable,
                    [FindingValues.Utilization] = used,
                    [FindingValues.TimeWait] = g.TimeWait,
                }));
        }
    }

    private void TimeWaitBuckets(List<Finding> findings, PollInput poll, int timeWait)
    {
        if (poll.Facts.MaxTimeWaitBuckets is not { } max || max <= 0)
        {
            return;
        }

        var used = (double)timeWait / max;
        if (used < Options.TimeWaitBucketUtilization)
        {
            return;
        }

        findings.Add(new Finding(
            FindingKind.TimeWaitBucketPressure,
            timeWait >= max ? FindingSeverity.Critical : FindingSeverity.Warning,
            null,
            "net.ipv4.tcp_max_tw_buckets",
            timeWait,
            null,
            string.Create(CultureInfo.InvariantCulture, $"{Text.Count(timeWait, "socket is", "sockets are")} in time_wait (wave 4 sent, each four-tuple held for 60 s), {Text.Percent(used)} of net.ipv4.tcp_max_tw_buckets ({max}); at the limit the kernel drops new time_wait sockets at once and counts TCPTimeWaitOverflow"),
            new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [FindingValues.TimeWait] = timeWait,
                [FindingValues.MaxTimeWaitBuckets] = max,
                [FindingValues.Utilization] = used,
            }));
    }

    private void Counters(List<Finding> findings, PollInput poll)
    {
        var now = poll.Facts.Counters;
        var previous = _previousCounters;
        _previousCounters = new Dictionary<string, long>(now, StringComparer.Ordinal);
        if (previous is null)
        {
            return; // the first poll has nothing to compare with
        }

        // A counter that went down was reset (a new namespace under the same name): not a rise.
        long Rise(string name) =>
            now.TryGetValue(name, out var current) && previous.TryGetValue(name, out var before) && current > before ? current - before : 0;

        var c = CultureInfo.InvariantCulture;
        var overflow = Rise("TCPTimeWaitOverflow");
        if (overflow > 0)
        {
            findings.Add(new Finding(
                FindingKind.TimeWaitOverflow,
                FindingSeverity.Critical,
                null,
                "TCPTimeWaitOverflow",
                (int)Math.Min(overflow, int.MaxValue),
                null,
                string.Create(c, $"the kernel dropped {Text.Count(overflow, "time_wait socket", "time_wait sockets")} early since the previous poll ({now["TCPTimeWaitOverflow"]} in all) because net.ipv4.tcp_max_tw_buckets was reached: their four-tuples lost the 60 s protection of time_wait (wave 4), so late segments of old connections can reach new ones"),
                new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    [FindingValues.Increase] = overflow,
                    [FindingValues.Total] = now["TCPTimeWaitOverflow"],
                }));
        }

        var overflows = Rise("ListenOverflows");
        var drops = Rise("ListenDrops");
        if (overflows > 0 || drops > 0)
        {
            findings.Add(new Finding(
                FindingKind.ListenOverflow,
                FindingSeverity.Critical,
                null,
                "ListenOverflows",
                (int)Math.Min(Math.Max(overflows, drops), int.MaxValue),
                null,
                string.Create(c, $"listeners dropped handshakes since the previous poll (ListenOverflows +{overflows}, ListenDrops +{drops}): an accept queue was full when handshake step 3 arrived, so the kernel discarded it and the client has to retry; some application is not calling accept() fast enough"),
                new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    [FindingValues.ListenOverflows] = overflows,
                    [FindingValues.ListenDrops] = drops,
                }));
        }
    }

    private static string Who(OwnerGroup g) =>
        g.Representative is { } owner ? Describe(owner, g.Pids.Count) : "an unknown process (no readable process holds these sockets)";

    private static string Describe(SocketOwner owner, int processes)
    {
        var c = CultureInfo.InvariantCulture;
        var pids = processes > 1
            ? string.Create(c, $"pid {owner.Pid} and {processes - 1} more")
            : string.Create(c, $"pid {owner.Pid}");
        return owner.Unit is null
            ? $"process {owner.Process} ({pids})"
            : $"process {owner.Process} ({pids}, unit {owner.Unit})";
    }

    /// <summary>An owner's identity for grouping: unit and process name; both null for unowned sockets.</summary>
    private readonly record struct OwnerKey(string? Unit, string? Process)
    {
        public static OwnerKey Of(SocketOwner? owner) => owner is null ? default : new OwnerKey(owner.Unit, owner.Process);

        public string Subject => Process is null ? Unowned : Unit is null ? Process : $"{Process} ({Unit})";
    }

    private sealed class OwnerGroup
    {
        public int Count { get; private set; }

        public TimeSpan Oldest { get; private set; }

        public long RxBytes { get; private set; }

        public uint MaxRetransmits { get; private set; }

        /// <summary>Sockets per pid, with the owner instance.</summary>
        public Dictionary<int, (SocketOwner Owner, int Sockets)> Pids { get; } = [];

        /// <summary>The process holding the most sockets of the group (the lowest pid on a tie); null when unowned.</summary>
        public SocketOwner? Representative =>
            Pids.Count == 0 ? null : Pids.Values.OrderByDescending(p => p.Sockets).ThenBy(p => p.Owner.Pid).First().Owner;

        public void Add(SocketOwner? owner, TimeSpan age, in SocketRecord r)
        {
            Count++;
            RxBytes += r.RxQueue;
            if (age > Oldest)
            {
                Oldest = age;
            }

            if (r.Retransmits > MaxRetransmits)
            {
                MaxRetransmits = r.Retransmits;
            }

            if (owner is not null)
            {
                ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(Pids, owner.Pid, out _);
                entry = (owner, entry.Sockets + 1);
            }
        }
    }

    /// <summary>One destination of client connections: local address to remote address and port.</summary>
    private readonly record struct Destination(SocketFamily Family, IpAddressBytes Local, IpAddressBytes Remote, ushort RemotePort)
    {
        public static Destination Of(in SocketRecord r) => new(r.Family, r.LocalAddress, r.RemoteAddress, r.RemotePort);
    }

    private sealed class PortGroup
    {
        public HashSet<ushort> Ports { get; } = [];

        public int TimeWait { get; set; }

        public Dictionary<SocketOwner, int> Owners { get; } = [];
    }
}
