using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Agent.Polling;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Metrics;

/// <summary>The cardinality caps of the owner and destination series.</summary>
/// <param name="Owners">Owner series (unit, process) per metric; the rest fold into <c>other</c>.</param>
/// <param name="Destinations">Destination and listener series per metric; the rest fold into <c>other</c>.</param>
/// <param name="Namespaces">Namespaces with series of their own in the per-namespace metrics; the rest fold into <c>netns="other"</c>.</param>
internal readonly record struct SeriesCaps(int Owners, int Destinations, int Namespaces = 100);

/// <summary>The sockets of one namespace by family and state, and its facts.</summary>
internal sealed record NamespaceFigures(string Netns, int[,] SocketsByFamilyState, int? EphemeralPorts, double? TimeWaitBucketUtilization, IReadOnlyDictionary<string, long> KernelCounters);

/// <summary>Sockets of one owner in one state.</summary>
internal readonly record struct OwnerStateCount(string Netns, string Unit, string Process, TcpState State, int Sockets);

/// <summary>The close_wait picture of one owner.</summary>
internal readonly record struct CloseWaitOwner(string Netns, string Unit, string Process, int Leaked, double OldestAgeSeconds, double? DescriptorUtilization);

/// <summary>Ports in use toward one destination, against the usable ephemeral range.</summary>
internal readonly record struct DestinationUse(string Netns, string LocalAddress, string RemoteAddress, string RemotePort, double Utilization);

/// <summary>A listener's accept queue against its backlog.</summary>
internal readonly record struct ListenerQueue(string Netns, string LocalAddress, string LocalPort, string Unit, string Process, double Utilization);

/// <summary>
/// What the metrics say about one poll, computed once on the poll thread so that a scrape only
/// reads: counts by family and state, owners, close_wait leaks, destinations and listeners,
/// all capped (<see cref="SeriesCaps"/>) with the rest folded into <c>other</c>. Immutable.
/// </summary>
internal sealed class PollMetrics
{
    /// <summary>The label value for owners beyond the cap, destinations beyond the cap, and so on.</summary>
    public const string Other = "other";

    /// <summary>The label value of sockets no process could be named for.</summary>
    public const string Unowned = "unowned";

    /// <summary>The unit of a process outside any systemd unit.</summary>
    public const string NoUnit = "none";

    /// <summary>Label values longer than this are cut (at a character boundary) and end in "…".</summary>
    public const int MaxLabelLength = 128;

    /// <summary>The families, in the order of <see cref="SocketFamily"/> values.</summary>
    public static readonly IReadOnlyList<(SocketFamily Family, string Name)> Families = [.. SocketFamilies.All.Select(f => (f, SocketFamilies.NameOf(f)))];

    private PollMetrics()
    {
    }

    /// <summary>Each namespace's sockets by family and state and its facts; namespaces beyond the cap folded into <c>other</c>.</summary>
    public required IReadOnlyList<NamespaceFigures> Namespaces { get; init; }

    public required IReadOnlyList<OwnerStateCount> OwnerSockets { get; init; }

    public required IReadOnlyList<CloseWaitOwner> CloseWait { get; init; }

    public required IReadOnlyList<DestinationUse> Destinations { get; init; }

    public required IReadOnlyList<ListenerQueue> Listeners { get; init; }

    /// <summary>systemd's restart counts of the units owning close_wait leaks (at most the owner cap); empty without the system bus.</summary>
    public IReadOnlyList<Systemd.UnitRestarts> UnitRestarts { get; init; } = [];

    /// <summary>Unowned sockets by reason name (no_inode, not_found, permission_denied), over every namespace.</summary>
    public required IReadOnlyDictionary<string, int> UnownedByReason { get; init; }

    /// <summary>Findings by kind name, every kind present, over every namespace.</summary>
    public required IReadOnlyList<(string Kind, int Count)> FindingsByKind { get; init; }

    /// <summary>Cumulative observed transitions and anomalies over every namespace (never decreasing).</summary>
    public required IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions { get; init; }

    public required IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies { get; init; }

    /// <summary>Builds the view of one poll over every watched namespace.</summary>
    /// <param name="poll">The poll: every namespace's sockets, owners, tracking and findings.</param>
    /// <param name="closeWaitLeakAfter">The age from which a close_wait socket is a leak.</param>
    /// <param name="caps">The series caps.</param>
    public static PollMetrics Build(Poll poll, TimeSpan closeWaitLeakAfter, SeriesCaps caps)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var owners = new Dictionary<(string Netns, string Unit, string Process), OwnerTally>();
        var closeWait = new Dictionary<(string Netns, string Unit, string Process), CloseWaitTally>();
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        var listeners = new List<ListenerQueue>();
        var destinations = new List<DestinationUse>();
        var figures = new List<NamespaceFigures>(poll.Namespaces.Count);

        // Labels and tallies are looked up once per owner object (a process's sockets share it)
        // or per cgroup unit of unowned sockets, not once per socket: hashing three strings and
        // cleaning two labels for each of 100,000 sockets was most of this method's time.
        var byOwner = new Dictionary<SocketOwner, OwnerSlot>(ReferenceEqualityComparer.Instance);
        var byUnit = new Dictionary<string, OwnerSlot>(StringComparer.Ordinal);
        foreach (var ns in poll.Namespaces)
        {
            var netns = Label(ns.Namespace.Name);
            var input = ns.Input;
            var byFamilyState = new int[Families.Count, 14];
            var timeWait = 0;
            byOwner.Clear();
            byUnit.Clear();
            OwnerSlot? noUnit = null;
            for (var i = 0; i < ns.Count; i++)
            {
                var socket = ns[i];
                ref readonly var r = ref socket.Record;
                byFamilyState[SocketFamilies.IndexOf(r.Family), (int)r.State]++;
                var owner = socket.Owner;
                OwnerSlot slot;
                if (owner is not null)
                {
                    ref var cached = ref CollectionsMarshal.GetValueRefOrAddDefault(byOwner, owner, out _);
                    slot = cached ??= OwnerSlot.For(owners, netns, OwnerLabels(owner, null));
                }
                else if (socket.CgroupUnit is { } cgroupUnit)
                {
                    ref var cached = ref CollectionsMarshal.GetValueRefOrAddDefault(byUnit, cgroupUnit, out _);
                    slot = cached ??= OwnerSlot.For(owners, netns, OwnerLabels(null, cgroupUnit));
                }
                else
                {
                    slot = noUnit ??= OwnerSlot.For(owners, netns, OwnerLabels(null, null));
                }

                slot.Tally.Add(r.State);
                if (owner is null && socket.Unowned != UnownedReason.None)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(reasons, ReasonName(socket.Unowned), out _)++;
                }

                switch (r.State)
                {
                    case TcpState.CloseWait:
                        var cw = slot.CloseWait ??= CloseWaitTallyFor(closeWait, slot.Key);
                        cw.Add(socket.AgeInState, closeWaitLeakAfter, owner is null ? null : input.Descriptors.GetValueOrDefault(owner.Pid));
                        break;
                    case TcpState.TimeWait:
                        timeWait++;
                        break;
                    case TcpState.Listen when r.TxQueue > 0:
                        listeners.Add(new ListenerQueue(
                            netns,
                            Label(r.LocalAddress.Format(r.Family)),
                            r.LocalPort.ToString(CultureInfo.InvariantCulture),
                            slot.Key.Unit,
                            slot.Key.Process,
                            (double)r.RxQueue / r.TxQueue));
                        break;
                    default:
                        break;
                }
            }

            destinations.AddRange(DestinationUses(input, netns));
            var max = input.Facts.MaxTimeWaitBuckets;
            figures.Add(new NamespaceFigures(netns, byFamilyState, input.Facts.UsableEphemeralPorts, max is > 0 ? (double)timeWait / max.Value : null, input.Facts.Counters));
        }

        return new PollMetrics
        {
            Namespaces = CapNamespaces(figures, caps.Namespaces),
            OwnerSockets = CapOwnerSockets(owners, caps.Owners),
            CloseWait = CapCloseWait(closeWait, caps.Owners),
            Destinations = CapDestinations(destinations, caps.Destinations),
            Listeners = CapListeners(listeners, caps.Destinations),
            UnownedByReason = reasons,
            FindingsByKind = FindingKindCounts(poll.Findings),
            Transitions = poll.Transitions,
            Anomalies = poll.Anomalies,
            UnitRestarts = [.. poll.UnitRestarts.Take(caps.Owners).Select(u => u with { Netns = Label(u.Netns), Unit = Label(u.Unit) })],
        };
    }

    /// <summary>
    /// A label value from text the kernel or a process chose: invalid UTF-16 (lone surrogates)
    /// replaced, control characters replaced, and at most <see cref="MaxLabelLength"/> characters.
    /// </summary>
    public static string Label(string value) => Label(value, MaxLabelLength);

    /// <summary>The same cleaning as <see cref="Label(string)"/>, cut at <paramref name="maxLength"/> characters instead.</summary>
    public static string Label(string value, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(value);
        var clean = true;
        for (var i = 0; i < value.Length && clean; i++)
        {
            var c = value[i];
            clean = !char.IsControl(c) && !char.IsSurrogate(c);
        }

        if (clean && value.Length <= maxLength)
        {
            return value;
        }

        var sb = new StringBuilder(Math.Min(value.Length, maxLength) + 1);
        foreach (var rune in EnumerateRunes(value))
        {
            if (sb.Length + rune.Utf16SequenceLength > maxLength - 1)
            {
                sb.Append('…');
                break;
            }

            sb.Append(Rune.IsControl(rune) ? "\uFFFD" : rune.ToString());
        }

        return sb.ToString();
    }

    private static IEnumerable<Rune> EnumerateRunes(string value)
    {
        var i = 0;
        while (i < value.Length)
        {
            if (Rune.DecodeFromUtf16(value.AsSpan(i), out var rune, out var used) != System.Buffers.OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
                used = Math.Max(used, 1);
            }

            yield return rune;
            i += used;
        }
    }

    private static CloseWaitTally CloseWaitTallyFor(Dictionary<(string Netns, string Unit, string Process), CloseWaitTally> closeWait, (string Netns, string Unit, string Process) key)
    {
        ref var tally = ref CollectionsMarshal.GetValueRefOrAddDefault(closeWait, key, out _);
        return tally ??= new CloseWaitTally();
    }

    private static (string Unit, string Process) OwnerLabels(SocketOwner? owner, string? cgroupUnit) =>
        owner is null
            ? (cgroupUnit is null ? Unowned : Label(cgroupUnit), Unowned)
            : (owner.Unit is null ? NoUnit : Label(owner.Unit), Label(owner.Process));

    private static string ReasonName(UnownedReason reason) => reason switch
    {
        UnownedReason.NoInode => "no_inode",
        UnownedReason.NotFound => "not_found",
        UnownedReason.PermissionDenied => "permission_denied",
        _ => "unknown",
    };

    private static List<NamespaceFigures> CapNamespaces(List<NamespaceFigures> figures, int cap)
    {
        static int Total(int[,] counts)
        {
            var n = 0;
            foreach (var c in counts)
            {
                n += c;
            }

            return n;
        }

        var ranked = figures.OrderByDescending(f => Total(f.SocketsByFamilyState)).ThenBy(f => f.Netns, StringComparer.Ordinal).ToList();
        if (ranked.Count <= cap)
        {
            return ranked;
        }

        // The rest as one: sockets and counters summed, the time_wait ratio the highest; the
        // usable port range differs from namespace to namespace and has no sum.
        var sockets = new int[Families.Count, 14];
        double? timeWait = null;
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var f in ranked.Skip(cap))
        {
            for (var x = 0; x < Families.Count; x++)
            {
                for (var y = 0; y < 14; y++)
                {
                    sockets[x, y] += f.SocketsByFamilyState[x, y];
                }
            }

            if (f.TimeWaitBucketUtilization is { } t)
            {
                timeWait = Math.Max(timeWait ?? 0, t);
            }

            foreach (var (name, value) in f.KernelCounters)
            {
                counters[name] = counters.GetValueOrDefault(name) + value;
            }
        }

        return [.. ranked.Take(cap), new NamespaceFigures(Other, sockets, null, timeWait, counters)];
    }

    private static List<OwnerStateCount> CapOwnerSockets(Dictionary<(string Netns, string Unit, string Process), OwnerTally> owners, int cap)
    {
        var ranked = owners.OrderByDescending(o => o.Value.Total)
            .ThenBy(o => o.Key.Netns, StringComparer.Ordinal).ThenBy(o => o.Key.Unit, StringComparer.Ordinal).ThenBy(o => o.Key.Process, StringComparer.Ordinal).ToList();
        var other = new int[14];
        var result = new List<OwnerStateCount>();
        for (var n = 0; n < ranked.Count; n++)
        {
            var ((netns, unit, process), tally) = ranked[n];
            var fold = n >= cap || (unit == Other && process == Other);
            for (var s = 1; s < 14; s++)
            {
                if (tally.ByState[s] == 0)
                {
                    continue;
                }

                if (fold)
                {
                    other[s] += tally.ByState[s];
                }
                else
                {
                    result.Add(new OwnerStateCount(netns, unit, process, (TcpState)s, tally.ByState[s]));
                }
            }
        }

        for (var s = 1; s < 14; s++)
        {
            if (other[s] > 0)
            {
                result.Add(new OwnerStateCount(Other, Other, Other, (TcpState)s, other[s]));
            }
        }

        return result;
    }

    private static List<CloseWaitOwner> CapCloseWait(Dictionary<(string Netns, string Unit, string Process), CloseWaitTally> owners, int cap)
    {
        var ranked = owners
            .OrderByDescending(o => o.Value.Leaked).ThenByDescending(o => o.Value.Oldest)
            .ThenBy(o => o.Key.Netns, StringComparer.Ordinal).ThenBy(o => o.Key.Unit, StringComparer.Ordinal).ThenBy(o => o.Key.Process, StringComparer.Ordinal)
            .ToList();
        var result = new List<CloseWaitOwner>();
        CloseWaitTally? other = null;
        for (var n = 0; n < ranked.Count; n++)
        {
            var ((netns, unit, process), t) = ranked[n];
            if (n < cap && !(unit == Other && process == Other))
            {
                result.Add(new CloseWaitOwner(netns, unit, process, t.Leaked, t.Oldest.TotalSeconds, t.DescriptorUtilization));
            }
            else
            {
                (other ??= new CloseWaitTally()).Fold(t);
            }
        }

        if (other is not null)
        {
            result.Add(new CloseWaitOwner(Other, Other, Other, other.Leaked, other.Oldest.TotalSeconds, other.DescriptorUtilization));
        }

        return result;
    }

    private static List<ListenerQueue> CapListeners(List<ListenerQueue> listeners, int cap)
    {
        listeners.Sort((a, b) =>
        {
            var c = b.Utilization.CompareTo(a.Utilization);
            c = c != 0 ? c : string.CompareOrdinal(a.Netns, b.Netns);
            c = c != 0 ? c : string.CompareOrdinal(a.LocalAddress, b.LocalAddress);
            return c != 0 ? c : string.CompareOrdinal(a.LocalPort, b.LocalPort);
        });

        // One series per address and port: SO_REUSEPORT listeners share one, with the fullest queue.
        var result = new List<ListenerQueue>();
        var seen = new HashSet<(string, string, string)>();
        double? otherMax = null;
        foreach (var l in listeners)
        {
            if (!seen.Add((l.Netns, l.LocalAddress, l.LocalPort)))
            {
                continue;
            }

            if (result.Count < cap)
            {
                result.Add(l);
            }
            else
            {
                otherMax = Math.Max(otherMax ?? 0, l.Utilization);
            }
        }

        if (otherMax is { } m)
        {
            result.Add(new ListenerQueue(Other, Other, Other, Other, Other, m));
        }

        return result;
    }

    private static List<DestinationUse> CapDestinations(List<DestinationUse> destinations, int cap)
    {
        var ranked = destinations.OrderByDescending(d => d.Utilization)
            .ThenBy(d => d.Netns, StringComparer.Ordinal).ThenBy(d => d.RemoteAddress, StringComparer.Ordinal).ThenBy(d => d.RemotePort, StringComparer.Ordinal).ToList();
        if (ranked.Count <= cap)
        {
            return ranked;
        }

        return [.. ranked.Take(cap), new DestinationUse(Other, Other, Other, Other, ranked.Skip(cap).Max(d => d.Utilization))];
    }

    /// <summary>Ports in use toward each destination of one namespace, against its usable ephemeral range.</summary>
    private static List<DestinationUse> DestinationUses(PollInput poll, string netns)
    {
        var result = new List<DestinationUse>();
        if (poll.Facts.EphemeralPorts is not { } range || poll.Facts.UsableEphemeralPorts is not { } usable || usable <= 0)
        {
            return result;
        }

        var records = poll.Sockets.Span;
        var listening = new HashSet<ushort>();
        foreach (ref readonly var r in records)
        {
            if (r.State == TcpState.Listen)
            {
                listening.Add(r.LocalPort);
            }
        }

        // A four-tuple is unique: toward one destination from one local address, each socket holds its own port.
        var counts = new Dictionary<(SocketFamily, IpAddressBytes, IpAddressBytes, ushort), int>();
        foreach (ref readonly var r in records)
        {
            if (r.State == TcpState.Listen || r.RemotePort == 0 || !range.Contains(r.LocalPort) || listening.Contains(r.LocalPort)
                || poll.Facts.IsReservedPort(r.LocalPort))
            {
                continue;
            }

            CollectionsMarshal.GetValueRefOrAddDefault(counts, (r.Family, r.LocalAddress, r.RemoteAddress, r.RemotePort), out _)++;
        }

        foreach (var ((family, local, remote, port), count) in counts)
        {
            result.Add(new DestinationUse(netns, local.Format(family), remote.Format(family), port.ToString(CultureInfo.InvariantCulture), (double)count / usable));
        }

        return result;
    }

    private static List<(string Kind, int Count)> FindingKindCounts(IReadOnlyList<Finding> findings)
    {
        var result = new List<(string, int)>();
        foreach (var kind in FindingKinds.All)
        {
            var n = 0;
            foreach (var f in findings)
            {
                if (f.Kind == kind)
                {
                    n++;
                }
            }

            result.Add((FindingKinds.NameOf(kind), n));
        }

        return result;
    }

    /// <summary>One owner's labels and tallies in one namespace, shared by every owner object or unit with the same labels.</summary>
    private sealed class OwnerSlot((string Netns, string Unit, string Process) key, OwnerTally tally)
    {
        public (string Netns, string Unit, string Process) Key { get; } = key;

        public OwnerTally Tally { get; } = tally;

        public CloseWaitTally? CloseWait { get; set; }

        public static OwnerSlot For(Dictionary<(string Netns, string Unit, string Process), OwnerTally> owners, string netns, (string Unit, string Process) labels)
        {
            var key = (netns, labels.Unit, labels.Process);
            ref var tally = ref CollectionsMarshal.GetValueRefOrAddDefault(owners, key, out _);
            return new OwnerSlot(key, tally ??= new OwnerTally());
        }
    }

    private sealed class OwnerTally
    {
        public int[] ByState { get; } = new int[14];

        public int Total { get; private set; }

        public void Add(TcpState state)
        {
            ByState[(int)state]++;
            Total++;
        }
    }

    private sealed class CloseWaitTally
    {
        public int Leaked { get; private set; }

        public int Sockets { get; private set; }

        public TimeSpan Oldest { get; private set; }

        public double? DescriptorUtilization { get; private set; }

        public void Add(TimeSpan age, TimeSpan leakAfter, DescriptorUsage? descriptors)
        {
            Sockets++;
            if (age > leakAfter)
            {
                Leaked++;
            }

            if (age > Oldest)
            {
                Oldest = age;
            }

            if (descriptors is { Limit: > 0 } d)
            {
                var used = (double)d.Open / d.Limit.Value;
                DescriptorUtilization = Math.Max(DescriptorUtilization ?? 0, used);
            }
        }

        public void Fold(CloseWaitTally other)
        {
            Sockets += other.Sockets;
            Leaked += other.Leaked;
            Oldest = other.Oldest > Oldest ? other.Oldest : Oldest;
            if (other.DescriptorUtilization is { } u)
            {
                DescriptorUtilization = Math.Max(DescriptorUtilization ?? 0, u);
            }
        }
    }
}
