using System.Net;
using SockWatch.Core.Detection;

namespace SockWatch.Core.Tests.Detection;

/// <summary>A hand-driven clock: the time every built poll carries.</summary>
internal sealed class TestClock
{
    public DateTimeOffset Now { get; private set; } = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public DateTimeOffset Advance(TimeSpan by) => Now += by;
}

/// <summary>Socket records from text, for tests: endpoints as <c>10.0.0.1:40000</c> or <c>[::1]:80</c>.</summary>
internal static class Sock
{
    public static SocketRecord Make(
        TcpState state,
        string local,
        string remote = "0.0.0.0:0",
        ulong? cookie = null,
        ulong inode = 0,
        uint rx = 0,
        uint tx = 0,
        uint retransmits = 0,
        uint? lastAckMs = null,
        uint? lastDataMs = null)
    {
        var (la, lp, family) = Parse(local);
        var (ra, rp, _) = Parse(remote);
        var r = new SocketRecord
        {
            Family = family,
            State = state,
            LocalAddress = la,
            LocalPort = lp,
            RemoteAddress = ra,
            RemotePort = rp,
            Inode = inode,
            Cookie = cookie ?? 0,
            HasCookie = cookie is not null,
            RxQueue = rx,
            TxQueue = tx,
            Retransmits = retransmits,
        };
        if (lastAckMs is not null || lastDataMs is not null)
        {
            r.TcpInfo = new TcpInfoSummary
            {
                Length = 232,
                LastAckReceivedMs = lastAckMs ?? TcpInfoSummary.Absent,
                LastDataReceivedMs = lastDataMs ?? TcpInfoSummary.Absent,
                LastDataSentMs = TcpInfoSummary.Absent,
                RttMicroseconds = TcpInfoSummary.Absent,
                TotalRetransmits = TcpInfoSummary.Absent,
            };
        }

        return r;
    }

    private static (IpAddressBytes Address, ushort Port, SocketFamily Family) Parse(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        var host = endpoint[..colon].Trim('[', ']');
        var port = ushort.Parse(endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var address = IPAddress.Parse(host);
        var family = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? SocketFamily.Inet6 : SocketFamily.Inet;
        return (IpAddressBytes.FromIPAddress(address), port, family);
    }
}

/// <summary>Builds a <see cref="PollInput"/> by hand.</summary>
internal sealed class PollBuilder
{
    private readonly List<SocketRecord> _sockets = [];
    private readonly List<SocketOwner?> _owners = [];
    private readonly Dictionary<int, DescriptorUsage> _descriptors = [];

    public NamespaceFacts Facts { get; set; } = new();

    public PollBuilder Add(SocketRecord record, SocketOwner? owner = null, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _sockets.Add(record);
            _owners.Add(owner);
        }

        return this;
    }

    public PollBuilder Descriptors(int pid, long open, long? limit)
    {
        _descriptors[pid] = new DescriptorUsage(open, limit);
        return this;
    }

    public PollInput Build(DateTimeOffset at) => new()
    {
        At = at,
        Sockets = _sockets.ToArray(),
        Owners = _owners.ToArray(),
        Facts = Facts,
        Descriptors = new Dictionary<int, DescriptorUsage>(_descriptors),
    };

    public static PollInput Of(DateTimeOffset at, params SocketRecord[] sockets)
    {
        var b = new PollBuilder();
        foreach (var s in sockets)
        {
            b.Add(s);
        }

        return b.Build(at);
    }
}

internal static class Owners
{
    public static SocketOwner Make(int pid, string process, string? unit) =>
        new(pid, 1000, process, 1000, "app", unit, null, unit is null ? null : "/system.slice/" + unit);
}
