using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// The daemon in a private network namespace (root) beside known sockets: what it exports
/// against what ss counts, and a leaking server under its process and unit. The daemon, the
/// server, ss and the scrape all run inside the namespace through `ip netns exec`; systemd's
/// notify socket (a path, which crosses network namespaces) says when the first poll is done.
/// </summary>
public sealed class DaemonLiveTests : IDisposable
{
    private static readonly string LeakyServer = LiveScripts.LeakyServer("leaky-daemon", leaks: 4, established: 3);

    private const string Fetch = """
        import sys, urllib.request
        r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"Accept": sys.argv[2]}), timeout=10)
        sys.stdout.write(r.headers["Content-Type"] + "\n" + r.read().decode())
        """;

    private static readonly Dictionary<string, string> SsStates = new(StringComparer.Ordinal)
    {
        ["ESTAB"] = "established", ["SYN-SENT"] = "syn_sent", ["SYN-RECV"] = "syn_recv", ["FIN-WAIT-1"] = "fin_wait1",
        ["FIN-WAIT-2"] = "fin_wait2", ["TIME-WAIT"] = "time_wait", ["UNCONN"] = "close", ["CLOSE-WAIT"] = "close_wait",
        ["LAST-ACK"] = "last_ack", ["LISTEN"] = "listen", ["CLOSING"] = "closing",
    };

    private readonly ChildProcesses _children = new();
    private readonly ServiceCgroups _cgroups = new();
    private readonly TestNamespace? _ns = Conditions.IsRoot ? new TestNamespace() : null;
    private readonly string _notify = Path.Combine(Path.GetTempPath(), $"sockwatch-live-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");

    [RootFact]
    public void The_daemon_exports_what_ss_counts_and_the_leak_under_its_process_and_unit()
    {
        var ns = _ns!;
        var unit = $"swleak-{Environment.ProcessId}.service";
        var server = _children.Start(Conditions.FindExecutable("ip")!, ["netns", "exec", ns.Name, "python3", "-c", LeakyServer], redirectStdin: true);
        Assert.Equal("ready", server.StandardOutput.ReadLine());
        Assert.True(_cgroups.Place(server.Id, unit) > 0, "no cgroup hierarchy under /sys/fs/cgroup could be written as root");
        Thread.Sleep(1500); // older than --close-wait-leak-after at the first poll (tcp_info's bound)

        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(_notify));
        systemd.ReceiveTimeout = 30_000;
        var port = FreePort();
        var daemon = _children.Start(
            Conditions.FindExecutable("ip")!,
            ["netns", "exec", ns.Name, Path.Combine(AppContext.BaseDirectory, "sockwatch"), "run", "--listen-address", $"127.0.0.1:{port}",
             "--poll-interval", "1h", "--close-wait-leak-after", "1s", "--netns", "self"],
            environment: new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _notify });
        var buffer = new byte[4096];
        var ready = Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer)); // READY=1 after the first poll, with Kestrel listening
        Assert.StartsWith("READY=1\nSTATUS=", ready, StringComparison.Ordinal);

        // ss now, leaving out the daemon's own port (its listener may or may not have existed at
        // the poll, and the scrapes below make sockets on it); nothing else moves in the namespace.
        var ss = TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "ss", "-tanH");
        var expected = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in ss.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!f[3].EndsWith($":{port}", StringComparison.Ordinal) && !f[4].EndsWith($":{port}", StringComparison.Ordinal))
            {
                expected[SsStates[f[0]]] = expected.GetValueOrDefault(SsStates[f[0]]) + 1;
            }
        }

        var (contentType, body) = Scrape(ns, port, "text/plain");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", contentType);
        var exported = ScrapeTests.Samples(body, "sockwatch_tcp_sockets")
            .GroupBy(s => System.Text.RegularExpressions.Regex.Match(s.Labels, "state=\"([a-z_0-9]+)\"").Groups[1].Value)
            .ToDictionary(g => g.Key, g => (int)g.Sum(s => s.Value));
        foreach (var (state, count) in exported)
        {
            var want = expected.GetValueOrDefault(state);
            if (state == "listen")
            {
                Assert.InRange(count, want, want + 1); // + the daemon's listener, if it was up at the poll
            }
            else
            {
                Assert.True(want == count, $"{state}: sockwatch exported {count}, ss counts {want}\n{ss}");
            }
        }

        Assert.Equal(4, expected["close_wait"]);
        Assert.Equal(6, expected["established"]);

        // The leak, under the server's process name and unit (the unit when a cgroup hierarchy took it).
        var leak = Assert.Single(ScrapeTests.Samples(body, "sockwatch_close_wait_leaked_sockets"));
        Assert.Equal(4, leak.Value);
        Assert.Contains("process=\"leaky-daemon\"", leak.Labels, StringComparison.Ordinal);
        Assert.Contains($"unit=\"{unit}\"", leak.Labels, StringComparison.Ordinal);
        Assert.Contains($"netns=\"{ns.Name}\"", leak.Labels, StringComparison.Ordinal); // the /run/netns name
        Assert.Equal(4, ScrapeTests.Samples(body, "sockwatch_tcp_owner_sockets").Single(s => s.Labels.Contains("close_wait", StringComparison.Ordinal)).Value);
        Assert.InRange(ScrapeTests.Samples(body, "sockwatch_close_wait_oldest_age_seconds").Single().Value, 1, 600);
        Assert.Equal(1, ScrapeTests.Samples(body, "sockwatch_findings").Single(s => s.Labels.Contains("close_wait_leak", StringComparison.Ordinal)).Value);

        // The same scrape in OpenMetrics, as Prometheus asks for it.
        var (omType, om) = Scrape(ns, port, "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        Assert.Equal("application/openmetrics-text; version=1.0.0; charset=utf-8", omType);
        Assert.EndsWith("# EOF\n", om, StringComparison.Ordinal);
        Assert.Contains("sockwatch_close_wait_leaked_sockets{", om, StringComparison.Ordinal);

        Assert.Equal(0, ChildProcesses.Signal(daemon, ChildProcesses.SIGTERM));
        Assert.True(daemon.WaitForExit(5000));
        Assert.Equal(0, daemon.ExitCode);
    }

    public void Dispose()
    {
        _children.Dispose();
        _cgroups.Dispose();
        _ns?.Dispose();
        File.Delete(_notify);
    }

    private static (string ContentType, string Body) Scrape(TestNamespace ns, int port, string accept)
    {
        var output = TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "python3", "-c", Fetch, $"http://127.0.0.1:{port}/metrics", accept);
        var newline = output.IndexOf('\n', StringComparison.Ordinal);
        return (output[..newline], output[(newline + 1)..]);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(System.Net.IPAddress.Loopback, 0); // any port: the namespace is empty
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }
}
