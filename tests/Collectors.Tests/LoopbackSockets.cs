using System.Net;
using System.Net.Sockets;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// Real loopback sockets held in known TCP states for the life of a test: listen, established,
/// close_wait with both kinds of fin_wait2 peer, time_wait, syn_recv (a request socket held by
/// TCP_DEFER_ACCEPT) and syn_sent (a SYN dropped by a listener whose accept queue is full).
/// </summary>
internal sealed class LoopbackSockets : IDisposable
{
    private const int TcpDeferAccept = 9;
    private readonly List<Socket> _keep = [];

    public List<(string What, Core.TcpState State, IPEndPoint Local, IPEndPoint Remote)> Expected { get; } = [];

    public static LoopbackSockets Create(IPAddress loopback)
    {
        var s = new LoopbackSockets();
        s.Build(loopback);
        s.Validate();
        Thread.Sleep(150); // let FINs and ACKs cross loopback
        return s;
    }

    private void Build(IPAddress ip)
    {
        var listener = Listen(ip, 16);
        Note("listener", Core.TcpState.Listen, listener, remote: new IPEndPoint(ip.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0));

        var (c, a) = Pair(listener);
        Note("established client", Core.TcpState.Established, c);
        Note("established server", Core.TcpState.Established, a);

        (c, a) = Pair(listener);
        Note("half-closed client", Core.TcpState.FinWait2, c); // .NET forgets the peer after Shutdown: note first
        c.Shutdown(SocketShutdown.Send); // half-closed: fin_wait2 with its descriptor kept
        Note("server that never closes", Core.TcpState.CloseWait, a);

        (c, a) = Pair(listener);
        var orphanLocal = (IPEndPoint)c.LocalEndPoint!;
        var orphanRemote = (IPEndPoint)c.RemoteEndPoint!;
        Close(c); // orphaned: a timewait minisocket in substate fin_wait2, no inode
        Expected.Add(("orphaned client", Core.TcpState.FinWait2, orphanLocal, orphanRemote));
        Note("server with an orphaned peer", Core.TcpState.CloseWait, a);

        (c, a) = Pair(listener);
        var twLocal = (IPEndPoint)c.LocalEndPoint!;
        var twRemote = (IPEndPoint)c.RemoteEndPoint!;
        Close(c);
        Thread.Sleep(30);
        Close(a);
        Expected.Add(("closed first", Core.TcpState.TimeWait, twLocal, twRemote));

        var deferred = Listen(ip, 16);
        deferred.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpDeferAccept, BitConverter.GetBytes(30));
        var early = Keep(new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        early.Connect(deferred.LocalEndPoint!);
        Note("client of a deferred listener", Core.TcpState.Established, early);
        Expected.Add(("request socket", Core.TcpState.SynRecv, (IPEndPoint)early.RemoteEndPoint!, (IPEndPoint)early.LocalEndPoint!));

        var full = Listen(ip, 0);
        var queued = Keep(new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        queued.Connect(full.LocalEndPoint!); // fills the queue of a backlog-0 listener
        Thread.Sleep(30);
        var dropped = Keep(new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false });
        dropped.Bind(new IPEndPoint(ip, 0)); // so LocalEndPoint is known after a connect still in progress
        try
        {
            dropped.Connect(full.LocalEndPoint!);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
        {
        }

        Expected.Add(("connect to a full queue", Core.TcpState.SynSent, (IPEndPoint)dropped.LocalEndPoint!, (IPEndPoint)full.LocalEndPoint!));
    }

    public void AddDualStack()
    {
        var dual = Keep(new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true });
        dual.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        dual.Listen(4);
        var client = Keep(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        client.Connect(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)dual.LocalEndPoint!).Port));
        var accepted = Keep(dual.Accept());
        Note("IPv4-mapped server", Core.TcpState.Established, accepted);
    }

    private Socket Listen(IPAddress ip, int backlog)
    {
        var l = Keep(new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        l.Bind(new IPEndPoint(ip, 0));
        l.Listen(backlog);
        return l;
    }

    private (Socket Client, Socket Accepted) Pair(Socket listener)
    {
        var c = Keep(new Socket(listener.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
        c.Connect(listener.LocalEndPoint!);
        return (c, Keep(listener.Accept()));
    }

    private Socket Keep(Socket s)
    {
        _keep.Add(s);
        return s;
    }

    private void Close(Socket s)
    {
        _keep.Remove(s);
        s.Close();
    }

    private void Note(string what, Core.TcpState state, Socket s, IPEndPoint? remote = null) =>
        Expected.Add((what, state, (IPEndPoint)s.LocalEndPoint!, remote ?? (IPEndPoint)s.RemoteEndPoint!));

    public void Validate()
    {
        foreach (var e in Expected)
        {
            if (e.Local is null || e.Remote is null)
            {
                throw new InvalidOperationException($"{e.What}: local {e.Local} remote {e.Remote}");
            }
        }
    }

    public void Dispose()
    {
        foreach (var s in _keep)
        {
            s.Dispose();
        }
    }
}
