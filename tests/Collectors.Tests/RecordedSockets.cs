using System.Net;
using System.Text.Json;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>The sockets tests/fixtures/record.py made when it recorded live-6.18.</summary>
internal sealed record RecordedSockets(string What, SocketFamily Family, TcpState State, IPAddress LocalAddress, int LocalPort, IPAddress RemoteAddress, int RemotePort, ulong Inode)
{
    public static IReadOnlyList<RecordedSockets> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Repo.Fixture("live-6.18", "expected.json")));
        return doc.RootElement.GetProperty("sockets").EnumerateArray().Select(e =>
        {
            Assert.True(Lifecycle.TryParse(e.GetProperty("state").GetString(), out var state));
            return new RecordedSockets(
                e.GetProperty("what").GetString()!,
                e.GetProperty("family").GetString() == "inet" ? SocketFamily.Inet : SocketFamily.Inet6,
                state,
                IPAddress.Parse(e.GetProperty("local_address").GetString()!),
                e.GetProperty("local_port").GetInt32(),
                IPAddress.Parse(e.GetProperty("remote_address").GetString()!),
                e.GetProperty("remote_port").GetInt32(),
                e.GetProperty("inode").GetUInt64());
        }).ToList();
    }

    public bool Matches(SocketRecord r) =>
        r.Family == Family && r.State == State && r.LocalPort == LocalPort && r.RemotePort == RemotePort
        && r.LocalAddress.ToIPAddress(r.Family).Equals(LocalAddress) && r.RemoteAddress.ToIPAddress(r.Family).Equals(RemoteAddress);
}
