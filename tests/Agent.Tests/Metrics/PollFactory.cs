using System.Net;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Collectors;
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

    /// <summary>One poll's input, tracked by <paramref name="tracker"/>, turned into a published result.</summary>
    public static PollResult Result(
        SocketTracker tracker,
        DateTimeOffset at,
        SocketRecord[] sockets,
        SocketOwner?[] owners,
        SeriesCaps caps,
        NamespaceFacts? facts = null,
        Dictionary<int, DescriptorUsage>? descriptors = null)
    {
        var input = new PollInput
        {
            At = at,
            Sockets = sockets,
            Owners = owners,
            Facts = facts ?? new NamespaceFacts(),
            Descriptors = descriptors ?? [],
        };
        var track = tracker.Update(input);
        var findings = new Detectors().Evaluate(input, track);
        var reasons = owners.Select(o => o is null ? UnownedReason.NotFound : UnownedReason.None).ToArray();
        var view = PollMetrics.Build(input, track, findings, reasons, [], TimeSpan.FromMinutes(2), caps);
        var counts = new int[14];
        foreach (var s in sockets)
        {
            counts[(int)s.State]++;
        }

        return new PollResult(at, TimeSpan.FromMilliseconds(3), "proc", sockets.Length, counts, new CollectionStats { Collector = "proc" }, findings, owners.Count(o => o is null), view);
    }
}
