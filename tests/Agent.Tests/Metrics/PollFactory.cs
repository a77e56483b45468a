using System.Net;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>Builds polls from hand-made sockets, for the metric tests.</summary>
internal static class PollFactory
{
    public static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    public static SocketRecord Socket(TcpState state, string local, int localPort, string remote, int remotePort, ulong inode, uint rx = 0, uint tx = 0)
    {
        var r = new SocketRecord
        {
            Family = IPAddress.Parse(local).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? SocketFamily.Inet6 : SocketFamily.Inet,
            State = state,
            LocalAddress = IpAddressBytes.FromIPAddress(IPAddress.Parse(local)),
            RemoteAddress = IpAddressBytes.FromIPAddress(IPAddress.Parse(remote)),
            LocalPort = (ushort)localPort,
            RemotePort = (ushort)remotePort,
            Inode = inode,
            RxQueue = rx,
            TxQueue = tx,
        };
        return r;
    }

    public static SocketOwner Owner(int pid, string process, string? unit) =>
        new(pid, (ulong)pid * 10, process, 0, "root", unit, null, null);

    /// <summary>
    /// A poll of one namespace ("host") made of hand-made sockets and owners, as the pipeline
    /// would hand it on: tracked by <paramref name="tracker"/> and judged by default detectors.
    /// </summary>
    public static Poll Poll(
        SocketTracker tracker,
        DateTimeOffset at,
        SocketRecord[] sockets,
        SocketOwner?[] owners,
        NamespaceFacts? facts = null,
        Dictionary<int, DescriptorUsage>? descriptors = null)
    {
        var table = new SocketTable(Math.Max(sockets.Length, 1));
        foreach (var s in sockets)
        {
            table.Append() = s;
        }

        var segment = new NamespaceSegment(new NetworkNamespace(1, "host", null, true), 0, sockets.Length, new CollectionStats { Collector = "proc" }, facts ?? new NamespaceFacts());
        var reasons = owners.Select(o => o is null ? UnownedReason.NotFound : UnownedReason.None).ToArray();
        var poll = new Poll(at, "proc", table, new NamespaceCollection([segment], 0, 0, []), new Poll.Owners(owners, new OwnerVia[sockets.Length], reasons, new string?[sockets.Length], null));
        var ns = new NamespacePoll(poll, segment, new PollInput
        {
            At = at,
            Sockets = table.AsMemory(),
            Owners = owners,
            Facts = segment.Facts,
            Descriptors = descriptors ?? [],
        });
        poll.SetNamespaces([ns]);
        ns.Track = tracker.Update(ns.Input);
        ns.Findings = new Detectors().Evaluate(ns.Input, ns.Track);
        poll.Findings = ns.Findings;
        poll.Transitions = ns.Track.Transitions;
        poll.Anomalies = ns.Track.Anomalies;
        return poll;
    }

    /// <summary>One poll of hand-made sockets, tracked by <paramref name="tracker"/>, turned into a published result.</summary>
    public static PollResult Result(
        SocketTracker tracker,
        DateTimeOffset at,
        SocketRecord[] sockets,
        SocketOwner?[] owners,
        SeriesCaps caps,
        NamespaceFacts? facts = null,
        Dictionary<int, DescriptorUsage>? descriptors = null,
        IReadOnlyList<SockWatch.Agent.Systemd.UnitRestarts>? unitRestarts = null)
    {
        var poll = Poll(tracker, at, sockets, owners, facts, descriptors);
        poll.UnitRestarts = unitRestarts ?? [];
        var view = PollMetrics.Build(poll, TimeSpan.FromMinutes(2), caps);
        return new PollResult(at, TimeSpan.FromMilliseconds(3), "proc", sockets.Length, poll.Table.CountByState(), new CollectionStats { Collector = "proc" }, poll.Findings, poll.Unowned, view);
    }

    /// <summary>
    /// Poll <paramref name="poll"/> of an owner churn: <paramref name="perPoll"/> owners never seen
    /// before, each with one established and one close_wait socket (OwnerChurnTests, and the
    /// exporter bench's churn).
    /// </summary>
    public static (SocketRecord[] Sockets, SocketOwner?[] Owners) ChurnPoll(int poll, int perPoll)
    {
        var sockets = new List<SocketRecord>();
        var owners = new List<SocketOwner?>();
        for (var i = 0; i < perPoll; i++)
        {
            var n = (poll * perPoll) + i;
            var owner = Owner(1000 + n, $"proc{n}", $"unit{n}.service");
            sockets.Add(Socket(TcpState.Established, "10.0.0.1", 8080, "10.1.0.1", 30000 + i, (ulong)(n * 2) + 1));
            sockets.Add(Socket(TcpState.CloseWait, "10.0.0.1", 8080, "10.1.0.2", 30000 + i, (ulong)(n * 2) + 2, rx: 1));
            owners.Add(owner);
            owners.Add(owner);
        }

        return ([.. sockets], [.. owners]);
    }

}
