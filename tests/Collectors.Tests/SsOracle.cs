using System.Globalization;
using SockWatch.Core;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// One line of `ss -tanOHe`, the tests' oracle (the product never runs ss). Fields:
/// State Recv-Q Send-Q Local:Port Peer:Port, then timer:(...), uid:N (when not 0), ino:N,
/// sk:COOKIE-IN-HEX, cgroup:PATH, v6only:N, and the shutdown arrows.
/// </summary>
internal sealed record SsOracle(TcpState State, uint RecvQ, uint SendQ, string LocalHost, int LocalPort, string PeerHost, int PeerPort, ulong Inode, ulong Cookie)
{
    public static List<SsOracle> Parse(IEnumerable<string> lines)
    {
        var list = new List<SsOracle>();
        foreach (var line in lines)
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5)
            {
                continue;
            }

            var (lh, lp) = SplitEndpoint(f[3]);
            var (ph, pp) = SplitEndpoint(f[4]);
            ulong inode = 0, cookie = 0;
            foreach (var extra in f.Skip(5))
            {
                if (extra.StartsWith("ino:", StringComparison.Ordinal))
                {
                    inode = ulong.Parse(extra.AsSpan(4), CultureInfo.InvariantCulture);
                }
                else if (extra.StartsWith("sk:", StringComparison.Ordinal))
                {
                    cookie = ulong.Parse(extra.AsSpan(3), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                }
            }

            list.Add(new SsOracle(
                StateOf(f[0]),
                uint.Parse(f[1], CultureInfo.InvariantCulture),
                uint.Parse(f[2], CultureInfo.InvariantCulture),
                lh, lp, ph, pp, inode, cookie));
        }

        return list;
    }

    public void AssertSame(SocketRecord r, bool compareQueues)
    {
        Assert.Equal(State, r.State);
        Assert.Equal(LocalPort, r.LocalPort);
        Assert.Equal(PeerPort, r.RemotePort);
        Assert.Equal(Inode, r.Inode);
        if (LocalHost != "*")
        {
            Assert.Equal(LocalHost, r.LocalAddress.Format(r.Family));
        }

        if (PeerHost != "*")
        {
            Assert.Equal(PeerHost, r.RemoteAddress.Format(r.Family));
        }

        if (compareQueues)
        {
            Assert.Equal(RecvQ, r.RxQueue);
            Assert.Equal(SendQ, r.TxQueue);
        }
    }

    private static (string Host, int Port) SplitEndpoint(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = text[..colon];
        var port = text[(colon + 1)..];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        // ss prints a scope as %lo; the kernel's address has none.
        var percent = host.IndexOf('%', StringComparison.Ordinal);
        if (percent >= 0)
        {
            host = host[..percent];
        }

        return (host, port == "*" ? 0 : int.Parse(port, CultureInfo.InvariantCulture));
    }

    private static TcpState StateOf(string name) => name switch
    {
        "ESTAB" => TcpState.Established,
        "SYN-SENT" => TcpState.SynSent,
        "SYN-RECV" => TcpState.SynRecv,
        "FIN-WAIT-1" => TcpState.FinWait1,
        "FIN-WAIT-2" => TcpState.FinWait2,
        "TIME-WAIT" => TcpState.TimeWait,
        "UNCONN" => TcpState.Close,
        "CLOSE-WAIT" => TcpState.CloseWait,
        "LAST-ACK" => TcpState.LastAck,
        "LISTEN" => TcpState.Listen,
        "CLOSING" => TcpState.Closing,
        _ => throw new FormatException("unknown ss state " + name),
    };
}
