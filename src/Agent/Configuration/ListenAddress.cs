using System.Globalization;
using System.Net;

namespace SockWatch.Agent.Configuration;

/// <summary>HOST:PORT as --listen-address takes it: ":9859" (every address), "127.0.0.1:9859", "[::1]:9859", "localhost:9859".</summary>
internal sealed record ListenAddress(string? Host, IPAddress? Address, int Port)
{
    public static bool TryParse(string? text, out ListenAddress address)
    {
        address = new ListenAddress(null, null, 0);
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            return false;
        }

        var host = text[..colon];
        if (host.Length == 0)
        {
            address = new ListenAddress(null, null, port);
            return true;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (IPAddress.TryParse(host, out var ip))
        {
            address = new ListenAddress(null, ip, port);
            return true;
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = new ListenAddress("localhost", null, port);
            return true;
        }

        return false; // other host names would need a resolver at start; give an address
    }
}
