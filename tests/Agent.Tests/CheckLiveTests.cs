using System.Diagnostics;
using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>
/// `sockwatch check` in private network namespaces (root): the server and sockwatch both run
/// inside the namespace through `ip netns exec`, so each test sees only its own sockets.
/// </summary>
public sealed class CheckLiveTests : IDisposable
{
    private readonly ChildProcesses _servers = new();
    private readonly List<TestNamespace> _namespaces = [];

    private static readonly string LeakyServer = LiveScripts.LeakyServer("leaky-server", leaks: 5);

    private const string TimeWaitClient = """
        import socket, sys
        l = socket.socket(); l.bind(("127.0.0.1", 5432)); l.listen(1024)
        for _ in range(900):
            c = socket.socket(); c.connect(("127.0.0.1", 5432)); s, _ = l.accept()
            c.close(); s.close()  # the client closes first: its side keeps time_wait on an ephemeral port
        print("ready", flush=True)
        sys.stdin.readline()
        """;

    private const string FullBacklog = """
        import socket, sys, time
        l = socket.socket(); l.bind(("127.0.0.1", 9000)); l.listen(2)
        cs = []
        for _ in range(6):
            c = socket.socket(); c.setblocking(False)
            try: c.connect(("127.0.0.1", 9000))
            except BlockingIOError: pass
            cs.append(c)
        time.sleep(0.3)
        print("ready", flush=True)
        sys.stdin.readline()
        """;

    private const string Healthy = """
        import socket, sys
        l = socket.socket(); l.bind(("127.0.0.1", 7000)); l.listen(16)
        pairs = []
        for _ in range(3):
            c = socket.socket(); c.connect(("127.0.0.1", 7000)); s, _ = l.accept(); pairs.append((c, s))
        print("ready", flush=True)
        sys.stdin.readline()
        """;

    [RootFact]
    public void A_close_wait_leak_is_reported_after_the_threshold_and_not_before()
    {
        var ns = Namespace();
        var server = Serve(ns, LeakyServer);

        var before = Check(ns, "--close-wait-leak-after", "2s");
        Assert.True(before.ExitCode == 0, $"exit {before.ExitCode} before the threshold: {before.Stdout}{before.Stderr}");

        Thread.Sleep(2500);
        var after = Check(ns, "--close-wait-leak-after", "2s");
        Assert.Equal(1, after.ExitCode);
        var leak = Findings(after).Single(f => f.GetProperty("kind").GetString() == "close_wait_leak");
        Assert.Equal(5, leak.GetProperty("count").GetInt32());
        var owner = leak.GetProperty("owner");
        Assert.Equal("leaky-server", owner.GetProperty("process").GetString());
        Assert.Equal(server.Id, owner.GetProperty("pid").GetInt32()); // `ip netns exec` execs python in place
        Assert.Contains("leaky-server", leak.GetProperty("explanation").GetString(), StringComparison.Ordinal);
        Assert.Contains("close()", leak.GetProperty("explanation").GetString(), StringComparison.Ordinal);

        var table = Cli.RunIn(ns.Name, ["check", "--close-wait-leak-after", "2s"]); // the table, for a person
        Assert.Equal(1, table.ExitCode);
        Assert.Contains("leaky-server", table.Stdout, StringComparison.Ordinal);
    }

    [RootFact]
    public void Time_wait_toward_one_destination_against_a_narrow_port_range_is_reported()
    {
        var ns = Namespace();
        TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40999");
        TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", ns.Name, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=0");
        Serve(ns, TimeWaitClient);

        var r = Check(ns);
        Assert.Equal(1, r.ExitCode);
        var pressure = Findings(r).Single(f => f.GetProperty("kind").GetString() == "ephemeral_port_pressure");
        var subject = pressure.GetProperty("subject").GetString()!;
        Assert.Contains("127.0.0.1", subject, StringComparison.Ordinal);
        Assert.Contains(":5432", subject, StringComparison.Ordinal);
        Assert.Equal(900, pressure.GetProperty("count").GetInt32());
    }

    [RootFact]
    public void A_listener_with_a_full_backlog_is_reported()
    {
        var ns = Namespace();
        Serve(ns, FullBacklog);
        var r = Check(ns);
        Assert.Equal(1, r.ExitCode);
        var full = Findings(r).Single(f => f.GetProperty("kind").GetString() == "accept_queue_full");
        Assert.Contains(":9000", full.GetProperty("subject").GetString(), StringComparison.Ordinal);
    }

    [RootFact]
    public void A_healthy_namespace_exits_0()
    {
        var ns = Namespace();
        Serve(ns, Healthy);
        var r = Check(ns, "--interval", "1s");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        Assert.Empty(Findings(r));
    }

    private static JsonElement[] Findings(Cli.Result r)
    {
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static Cli.Result Check(TestNamespace ns, params string[] args) =>
        Cli.RunIn(ns.Name, ["check", "--format", "json", .. args]);

    private TestNamespace Namespace()
    {
        var ns = new TestNamespace();
        _namespaces.Add(ns);
        return ns;
    }

    private Process Serve(TestNamespace ns, string script)
    {
        var p = _servers.Start(Conditions.FindExecutable("ip")!, ["netns", "exec", ns.Name, "python3", "-c", script], redirectStdin: true);
        Assert.Equal("ready", p.StandardOutput.ReadLine());
        return p;
    }

    public void Dispose()
    {
        _servers.Dispose();
        foreach (var ns in _namespaces)
        {
            ns.Dispose();
        }
    }
}
