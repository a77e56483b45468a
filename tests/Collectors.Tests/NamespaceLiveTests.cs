using System.Net;
using System.Net.Sockets;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

/// <summary>
/// States a test can only reach by stopping packets: in a private namespace, loopback is taken
/// down after the handshake, so a FIN sent afterwards is never acknowledged. The closer that
/// was in close_wait stays in last_ack; a closer that was established stays in fin_wait1.
/// </summary>
public class NamespaceLiveTests
{
    [RootFact]
    public void Last_ack_and_fin_wait1_agree_across_netlink_proc_and_ss()
    {
        using var ns = new TestNamespace();
        var (expected, fromNetlink, fromProc, keep) = ns.Inside(() =>
        {
            var sockets = new List<Socket>();
            Socket New() { var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp); sockets.Add(s); return s; }
            var listener = New();
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(8);
            var passive = New();
            passive.Connect(listener.LocalEndPoint!);
            var server = listener.Accept();
            sockets.Add(server);
            var active = New();
            active.Connect(listener.LocalEndPoint!);
            sockets.Add(listener.Accept());

            var lastAck = ((IPEndPoint)server.LocalEndPoint!, (IPEndPoint)server.RemoteEndPoint!);
            var finWait1 = ((IPEndPoint)active.LocalEndPoint!, (IPEndPoint)active.RemoteEndPoint!);
            passive.Shutdown(SocketShutdown.Send); // server: close_wait
            Thread.Sleep(100);
            TestNamespace.Ip("-n", ns.Name, "link", "set", "lo", "down");
            server.Close();  // its FIN cannot leave: last_ack
            active.Close();  // fin_wait1
            Thread.Sleep(100);

            using var netlink = new NetlinkCollector();
            using var proc = new ProcNetTcpCollector("/proc", "thread-self/net");
            var n = new SocketTable();
            var p = new SocketTable();
            netlink.Collect(n, CollectRequest.All);
            proc.Collect(p, CollectRequest.All);
            var exp = new[] { (TcpState.LastAck, lastAck.Item1, lastAck.Item2), (TcpState.FinWait1, finWait1.Item1, finWait1.Item2) };
            return (exp, n.Records.ToArray(), p.Records.ToArray(), sockets);
        });

        try
        {
            var ss = SsOracle.Parse(TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "ss", "-tanOHe").Split('\n', StringSplitOptions.RemoveEmptyEntries));

            // Nothing of the host's own table leaks in: every socket is one of the namespace's five.
            Assert.Equal(5, fromNetlink.Length);
            Assert.Equal(5, fromProc.Length);
            foreach (var (state, local, remote) in expected)
            {
                var n = Assert.Single(fromNetlink, r => r.State == state && r.LocalPort == local.Port && r.RemotePort == remote.Port);
                var p = Assert.Single(fromProc, r => r.State == state && r.LocalPort == local.Port && r.RemotePort == remote.Port);
                Assert.Equal(n.Inode, p.Inode);
                Assert.Equal(0UL, n.Inode); // closed by the application: orphaned, no inode
                Assert.Equal(n.RxQueue, p.RxQueue);
                Assert.Equal(n.TxQueue, p.TxQueue);
                Assert.Equal(1u, n.TxQueue); // the unacknowledged FIN
                Assert.Equal(SocketTimer.Retransmit, n.Timer);
                Assert.Equal(n.Timer, p.Timer);
                var o = Assert.Single(ss, o => o.Cookie == n.Cookie);
                o.AssertSame(n, compareQueues: true);
                o.AssertSame(p, compareQueues: true);
            }
        }
        finally
        {
            foreach (var s in keep)
            {
                s.Dispose();
            }
        }
    }
}
