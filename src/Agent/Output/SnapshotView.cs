using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>What a snapshot prints: the sockets, and their owners when they were resolved.</summary>
internal sealed class SnapshotView
{
    private SnapshotView(
        ReadOnlyMemory<SocketRecord> records, SocketOwner?[]? owners, OwnerVia[]? via, UnownedReason[]? reasons, CollectionStats stats, OwnerScanStats? ownerStats,
        string?[]? cgroupUnits, string[] netns, int namespaces)
    {
        Netns = netns;
        Namespaces = namespaces;
        CgroupUnits = cgroupUnits;
        Records = records;
        Owners = owners;
        Via = via;
        Reasons = reasons;
        Stats = stats;
        OwnerStats = ownerStats;
    }

    public ReadOnlyMemory<SocketRecord> Records { get; }

    public int Count => Records.Length;

    /// <summary>Null when owners were not resolved (`--format summary` without `--owner`).</summary>
    public SocketOwner?[]? Owners { get; }

    public OwnerVia[]? Via { get; }

    public UnownedReason[]? Reasons { get; }

    public CollectionStats Stats { get; }

    public OwnerScanStats? OwnerStats { get; }

    /// <summary>Units from the sockets' own cgroup ids (netlink), when owners were resolved.</summary>
    public string?[]? CgroupUnits { get; }

    public bool HasOwners => Owners is not null;

    /// <summary>The network namespace of each socket, by name.</summary>
    public string[] Netns { get; }

    /// <summary>How many network namespaces were read.</summary>
    public int Namespaces { get; }

    /// <summary>The view of a poll: its owners when they were resolved.</summary>
    public static SnapshotView Of(Poll poll)
    {
        ArgumentNullException.ThrowIfNull(poll);
        var count = poll.Count;
        var netns = new string[count];
        foreach (var ns in poll.Namespaces)
        {
            netns.AsSpan(ns.Segment.Start, ns.Count).Fill(ns.Namespace.Name);
        }

        // The poll's own arrays, parallel to its table: a snapshot prints them once, no copy.
        return poll.OwnersOfTable is { } o
            ? new(poll.Table.AsMemory(), o.Of, o.Via, o.Reasons, poll.Stats, o.Stats, o.CgroupUnits, netns, poll.Namespaces.Count)
            : new(poll.Table.AsMemory(), null, null, null, poll.Stats, null, null, netns, poll.Namespaces.Count);
    }

    /// <summary>Only the sockets whose owner matches <paramref name="name"/> (see <see cref="Matches"/>).</summary>
    public SnapshotView WhereOwner(string name)
    {
        var records = Records.Span;
        var keep = new List<int>();
        for (var i = 0; i < records.Length; i++)
        {
            if (Matches(Owners![i], name))
            {
                keep.Add(i);
            }
        }

        var kept = new SocketRecord[keep.Count];
        for (var k = 0; k < kept.Length; k++)
        {
            kept[k] = records[keep[k]];
        }

        return new SnapshotView(
            kept,
            keep.Select(i => Owners![i]).ToArray(),
            keep.Select(i => Via![i]).ToArray(),
            keep.Select(i => Reasons![i]).ToArray(),
            Stats,
            OwnerStats,
            keep.Select(i => CgroupUnits![i]).ToArray(),
            keep.Select(i => Netns[i]).ToArray(),
            Namespaces);
    }

    /// <summary>
    /// `--owner NAME` matches the process name, the unit (with or without ".service"), or a
    /// container id by prefix of at least 12 characters (docker's short id).
    /// </summary>
    public static bool Matches(SocketOwner? owner, string name)
    {
        if (owner is null)
        {
            return false;
        }

        return string.Equals(owner.Process, name, StringComparison.Ordinal)
            || string.Equals(owner.Unit, name, StringComparison.Ordinal)
            || string.Equals(owner.Unit, name + ".service", StringComparison.Ordinal)
            || (name.Length >= 12 && owner.Container is not null && owner.Container.StartsWith(name, StringComparison.Ordinal));
    }

    public int[] CountByState()
    {
        var counts = new int[14];
        foreach (ref readonly var r in Records.Span)
        {
            counts[(int)r.State]++;
        }

        return counts;
    }

    public int CountUnowned(UnownedReason reason) => Reasons?.Count(r => r == reason) ?? 0;
}
