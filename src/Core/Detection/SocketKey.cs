using System.Globalization;

namespace SockWatch.Core.Detection;

/// <summary>
/// The identity that follows one socket from poll to poll. With netlink it is the socket
/// cookie, unique for the life of the boot. From /proc there is no cookie, so it is the
/// four-tuple plus the family and the inode: the inode alone is 0 for every time_wait and
/// request socket, and the four-tuple alone cannot tell a new connection that reuses a tuple
/// from the old one while the old one still holds an inode.
/// </summary>
/// <remarks>
/// A poll comes from one collector, so cookie keys and tuple keys never describe the same
/// socket in one poll. After a fallback from netlink to /proc every socket gets a new key
/// once: it is seen as new, and its age restarts (with the tcp_info bound where it applies).
/// </remarks>
public readonly record struct SocketKey(
    bool ByCookie,
    ulong Cookie,
    SocketFamily Family,
    IpAddressBytes LocalAddress,
    ushort LocalPort,
    IpAddressBytes RemoteAddress,
    ushort RemotePort,
    ulong Inode)
{
    /// <summary>The key of a record: its cookie when it has one, else its tuple and inode.</summary>
    public static SocketKey Of(in SocketRecord record) => record.HasCookie
        ? new SocketKey(true, record.Cookie, default, default, 0, default, 0, 0)
        : new SocketKey(false, 0, record.Family, record.LocalAddress, record.LocalPort, record.RemoteAddress, record.RemotePort, record.Inode);

    /// <summary>
    /// A readable description of a socket for messages and examples: its endpoints and what
    /// identifies it, e.g. <c>10.0.0.1:40000 -> 10.0.0.5:5432 cookie 0x2a</c>.
    /// </summary>
    public static string Describe(in SocketRecord record)
    {
        var endpoints = Text.Endpoint(record.Family, record.LocalAddress, record.LocalPort) + " -> " +
                        Text.Endpoint(record.Family, record.RemoteAddress, record.RemotePort);
        return record.HasCookie
            ? string.Create(CultureInfo.InvariantCulture, $"{endpoints} cookie 0x{record.Cookie:x}")
            : string.Create(CultureInfo.InvariantCulture, $"{endpoints} inode {record.Inode}");
    }
}
