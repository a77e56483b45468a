using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Metrics;

/// <summary>The cardinality caps of the owner and destination series.</summary>
/// <param name="Owners">Owner series (unit, process) per metric; the rest fold into <c>other</c>.</param>
/// <param name="Destinations">Destination and listener series per metric; the rest fold into <c>other</c>.</param>
internal readonly record struct SeriesCaps(int Owners, int Destinations);

/// <summary>Sockets of one owner in one state.</summary>
internal readonly record struct OwnerStateCount(string Unit, string Process, TcpState State, int Sockets);

/// <summary>The close_wait picture of one owner.</summary>
internal readonly record struct CloseWaitOwner(string Unit, string Process, int Leaked, double OldestAgeSeconds, double? DescriptorUtilization);

/// <summary>Ports in use toward one destination, against the usable ephemeral range.</summary>
internal readonly record struct DestinationUse(string LocalAddress, string RemoteAddress, string RemotePort, double Utilization);

/// <summary>A listener's accept queue against its backlog.</summary>
internal readonly record struct ListenerQueue(string LocalAddress, string LocalPort, string Unit, string Process, double Utilization);

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
    public static readonly IReadOnlyList<(SocketFamily Family, string Name)> Families = [(SocketFamily.Inet, "inet"), (SocketFamily.Inet6, "inet6")];

    private PollMetrics()
    {
    }

    /// <summary>Sockets by [family index, state value], for every reported state.</summary>
    public required int[,] SocketsByFamilyState { get; init; }

    public required IReadOnlyList<OwnerStateCount> OwnerSockets { get; init; }

    public required IReadOnlyList<CloseWaitOwner> CloseWait { get; init; }

    public required IReadOnlyList<DestinationUse> Destinations { get; init; }

    public required IReadOnlyList<ListenerQueue> Listeners { get; init; }

    /// <summary>Usable ephemeral ports (range less reserved), when known.</summary>
    public int? EphemeralPorts { get; init; }

    /// <summary>time_wait / tcp_max_tw_buckets, when the limit is known.</summary>
    public double? TimeWaitBucketUtilization { get; init; }

    /// <summary>Unowned sockets by reason name (no_inode, not_found, permission_denied).</summary>
    public required IReadOnlyDictionary<string, int> UnownedByReason { get; init; }

    /// <summary>Findings by kind name, every kind present.</summary>
    public required IReadOnlyList<(string Kind, int Count)> FindingsByKind { get; init; }

    /// <summary>Cumulative observed transitions and anomalies, as the tracker counts them.</summary>
    public required IReadOnlyDictionary<(TcpState From, TcpState To), long> Transitions { get; init; }

    public required IReadOnlyDictionary<(TcpState From, TcpState To), long> Anomalies { get; init; }

    /// <summary>Kernel TcpExt counters by name, as read in this poll (cumulative, since boot).</summary>
    public required IReadOnlyDictionary<string, long> KernelCounters { get; init; }

    /// <summary>
    /// Builds the view of one poll.
    /// </summary>
    /// <param name="poll">The poll.</param>
    /// <param name="track">The tracker's result for the poll (ages parallel to its sockets).</param>
    /// <param name="findings">The detectors' findings for the poll.</param>
    /// <param name="unowned">Why each socket is unowned (parallel to the sockets; empty when owners were not resolved).</param>
    /// <param name="cgroupUnits">The unit of each socket's own cgroup (netlink), parallel; empty when unknown.</param>
    /// <param name="closeWaitLeakAfter">The age from which a close_wait socket is a leak.</param>
    /// <param name="caps">The series caps.</param>
    public static PollMetrics Build(
        PollInput poll,
        TrackResult track,
        IReadOnlyList<Finding> findings,
        IReadOnlyList<UnownedReason> unowned,
        IReadOnlyList<string?> cgroupUnits,
        TimeSpan closeWaitLeakAfter,
        SeriesCaps caps)
    {
        ArgumentNullException.ThrowIfNull(poll);
        ArgumentNullException.ThrowIfNull(track);
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(unowned);
        ArgumentNullException.ThrowIfNull(cgroupUnits);

        var records = poll.Sockets.Span;
        var byFamilyState = new int[Families.Count, 14];
        var owners = new Dictionary<(string Unit, string Process), OwnerTally>();
        var closeWait = new Dictionary<(string Unit, string Process), CloseWaitTally>();
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        var listeners = new List<ListenerQueue>();
        var timeWait = 0;

        for (var i = 0; i < records.Length; i++)
        {
            ref readonly var r = ref records[i];
            byFamilyState[r.Family == SocketFamily.Inet6 ? 1 : 0, (int)r.State]++;
            var owner = poll.OwnerAt(i);
            var key = OwnerLabels(owner, i < cgroupUnits.Count ? cgroupUnits[i] : null);
            ref var tally = ref CollectionsMarshal.GetValueRefOrAddDefault(owners, key, out var exists);
            if (!exists)
            {
                tally = new OwnerTally();
            }

            tally!.Add(r.State);
            if (owner is null && i < unowned.Count && unowned[i] != UnownedReason.None)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(reasons, ReasonName(unowned[i]), out _)++;
            }

            switch (r.State)
            {
                case TcpState.CloseWait:
                    ref var cw = ref CollectionsMarshal.GetValueRefOrAddDefault(closeWait, key, out _);
                    cw ??= new CloseWaitTally();
                    cw.Add(track.AgeInState[i], closeWaitLeakAfter, owner is null ? null : poll.Descriptors.GetValueOrDefault(owner.Pid));
                    break;
                case TcpState.TimeWait:
                    timeWait++;
                    break;
                case TcpState.Listen when r.TxQueue > 0:
                    listeners.Add(new ListenerQueue(
                        Label(r.LocalAddress.Format(r.Family)),
                        r.LocalPort.ToString(CultureInfo.InvariantCulture),
                        key.Unit,
                        key.Process,
                        (double)r.RxQueue / r.TxQueue));
                    break;
                default:
                    break;
            }
        }

        var max = poll.Facts.MaxTimeWaitBuckets;
        return new PollMetrics
        {
            SocketsByFamilyState = byFamilyState,
            OwnerSockets = CapOwnerSockets(owners, caps.Owners),
            CloseWait = CapCloseWait(closeWait, caps.Owners),
            Destinations = DestinationUses(poll, caps.Destinations),
            Listeners = CapListeners(listeners, caps.Destinations),
            EphemeralPorts = poll.Facts.UsableEphemeralPorts,
            TimeWaitBucketUtilization = max is > 0 ? (double)timeWait / max.Value : null,
            UnownedByReason = reasons,
            FindingsByKind = FindingKinds(findings),
            Transitions = track.Transitions,
            Anomalies = track.Anomalies,
            KernelCounters = poll.Facts.Counters,
        };
    }

    /// <summary>
    /// A label value from text the kernel or a process chose: invalid UTF-16 (lone surrogates)
    /// replaced, control characters replaced, and at most <see cref="MaxLabelLength"/> characters.
    /// </summary>
    public static string Label(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var clean = true;
        for (var i = 0; i < value.Length && clean; i++)
        {
            var c = value[i];
            clean = !char.IsControl(c) && !char.IsSurrogate(c);
        }

        if (clean && value.Length <= MaxLabelLength)
        {
            return value;
        }

        var sb = new StringBuilder(Math.Min(value.Length, MaxLabelLength + 1));
        foreach (var rune in EnumerateRunes(value))
        {
            if (sb.Length + rune.Utf16SequenceLength > MaxLabelLength - 1)
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

    private static List<OwnerStateCount> CapOwnerSockets(Dictionary<(string Unit, string Process), OwnerTally> owners, int cap)
    {
        var ranked = owners.OrderByDescending(o => o.Value.Total).ThenBy(o => o.Key.Unit, StringComparer.Ordinal).ThenBy(o => o.Key.Process, StringComparer.Ordinal).ToList();
        var other = new int[14];
        var result = new List<OwnerStateCount>();
        for (var n = 0; n < ranked.Count; n++)
        {
            var ((unit, process), tally) = ranked[n];
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
                    result.Add(new OwnerStateCount(unit, process, (TcpState)s, tally.ByState[s]));
                }
            }
        }

        for (var s = 1; s < 14; s++)
        {
            if (other[s] > 0)
            {
                result.Add(new OwnerStateCount(Other, Other, (TcpState)s, other[s]));
            }
        }

        return result;
    }

    private static List<CloseWaitOwner> CapCloseWait(Dictionary<(string Unit, string Process), CloseWaitTally> owners, int cap)
    {
        var ranked = owners
            .OrderByDescending(o => o.Value.Leaked).ThenByDescending(o => o.Value.Oldest)
            .ThenBy(o => o.Key.Unit, StringComparer.Ordinal).ThenBy(o => o.Key.Process, StringComparer.Ordinal)
            .ToList();
        var result = new List<CloseWaitOwner>();
        CloseWaitTally? other = null;
        for (var n = 0; n < ranked.Count; n++)
        {
            var ((unit, process), t) = ranked[n];
            if (n < cap && !(unit == Other && process == Other))
            {
                result.Add(new CloseWaitOwner(unit, process, t.Leaked, t.Oldest.TotalSeconds, t.DescriptorUtilization));
            }
            else
            {
                (other ??= new CloseWaitTally()).Fold(t);
            }
        }

        if (other is not null)
        {
            result.Add(new CloseWaitOwner(Other, Other, other.Leaked, other.Oldest.TotalSeconds, other.DescriptorUtilization));
        }

        return result;
    }

    private static List<ListenerQueue> CapListeners(List<ListenerQueue> listeners, int cap)
    {
        listeners.Sort((a, b) =>
        {
            var c = b.Utilization.CompareTo(a.Utilization);
            c = c != 0 ? c : string.CompareOrdinal(a.LocalAddress, b.LocalAddress);
            return c != 0 ? c : string.CompareOrdinal(a.LocalPort, b.LocalPort);
        });

        // One series per address and port: SO_REUSEPORT listeners share one, with the fullest queue.
        var result = new List<ListenerQueue>();
        var seen = new HashSet<(string, string)>();
        double? otherMax = null;
        foreach (var l in listeners)
        {
            if (!seen.Add((l.LocalAddress, l.LocalPort)))
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
            result.Add(new ListenerQueue(Other, Other, Other, Other, m));
        }

        return result;
    }

    private static List<DestinationUse> DestinationUses(PollInput poll, int cap)
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
                || IsReserved(poll.Facts.ReservedPorts, r.LocalPort))
            {
                continue;
            }

            CollectionsMarshal.GetValueRefOrAddDefault(counts, (r.Family, r.LocalAddress, r.RemoteAddress, r.RemotePort), out _)++;
        }

        var ranked = counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key.Item4).ToList();
        double? otherMax = null;
        for (var n = 0; n < ranked.Count; n++)
        {
            var ((family, local, remote, port), count) = ranked[n];
            var used = (double)count / usable;
            if (n < cap)
            {
                result.Add(new DestinationUse(local.Format(family), remote.Format(family), port.ToString(CultureInfo.InvariantCulture), used));
            }
            else
            {
                otherMax = Math.Max(otherMax ?? 0, used);
            }
        }

        if (otherMax is { } m)
        {
            result.Add(new DestinationUse(Other, Other, Other, m));
        }

        return result;
    }

    private static bool IsReserved(IReadOnlyList<PortRange> reserved, ushort port)
    {
        foreach (var range in reserved)
        {
            if (range.Contains(port))
            {
                return true;
            }
        }

        return false;
    }

    private static List<(string Kind, int Count)> FindingKinds(IReadOnlyList<Finding> findings)
    {
        var result = new List<(string, int)>();
        foreach (var kind in Enum.GetValues<FindingKind>())
        {
            var n = 0;
            foreach (var f in findings)
            {
                if (f.Kind == kind)
                {
                    n++;
                }
            }

            result.Add((Output.FindingsWriter.KindName(kind), n));
        }

        return result;
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
