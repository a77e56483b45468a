using System.Text.Json;
using SockWatch.Agent.Tests.Metrics;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>
/// Three network namespaces made by the test (root), each with known sockets, one leaking
/// CLOSE_WAIT: snapshot, check and the daemon's metrics report each namespace's sockets under
/// its name, and namespaces deleted while the daemon polls never fail a poll. SockWatch runs in
/// the host namespace and enters the others itself.
/// </summary>
public sealed class NamespacesLiveTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly List<TestNamespace> _namespaces = [];

    [RootFact]
    public async Task Snapshot_check_and_metrics_report_every_namespace_under_its_name()
    {
        var (leaky, busy, quiet) = (Namespace(), Namespace(), Namespace());
        Serve(leaky, LiveScripts.LeakyServer("ns-leaker", leaks: 3));          // listener, 3 close_wait (+3 fin_wait2 peers)
        Serve(busy, LiveScripts.LeakyServer("ns-busy", leaks: 0, established: 4)); // listener, 8 established
        Serve(quiet, LiveScripts.LeakyServer("ns-quiet", leaks: 0));           // listener only
        var names = string.Join(',', _namespaces.Select(n => n.Name));
        Thread.Sleep(1200);

        // snapshot: every socket carries its namespace.
        var snapshot = Cli.Run("snapshot", "--netns", names, "--format", "json");
        Assert.True(snapshot.ExitCode == 0, snapshot.Stderr);
        using var json = JsonDocument.Parse(snapshot.Stdout);
        var perNamespace = json.RootElement.EnumerateArray()
            .GroupBy(s => s.GetProperty("netns").GetString()!)
            .ToDictionary(g => g.Key, g => g.Select(s => s.GetProperty("state").GetString()!).ToList());
        Assert.Equal(_namespaces.Select(n => n.Name).Order(StringComparer.Ordinal), perNamespace.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, perNamespace[leaky.Name].Count(s => s == "close_wait"));
        Assert.Equal(8, perNamespace[busy.Name].Count(s => s == "established"));
        Assert.Equal(["listen"], perNamespace[quiet.Name]);
        Assert.All(json.RootElement.EnumerateArray().Where(s => s.GetProperty("state").GetString() == "listen"),
            s => Assert.Equal(8080, s.GetProperty("local_port").GetInt32())); // the same port in each: kept apart

        // The table shows the namespace column once there are several.
        var table = Cli.Run("snapshot", "--netns", names);
        Assert.StartsWith("NETNS", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("in 3 network namespaces", table.Stdout, StringComparison.Ordinal);

        // check: the leak, in its namespace, with its owner.
        var check = Cli.Run("check", "--netns", names, "--close-wait-leak-after", "1s", "--format", "json");
        Assert.Equal(1, check.ExitCode);
        using var findings = JsonDocument.Parse(check.Stdout);
        var leak = Assert.Single(findings.RootElement.EnumerateArray(), f => f.GetProperty("kind").GetString() == "close_wait_leak");
        Assert.Equal(leaky.Name, leak.GetProperty("netns").GetString());
        Assert.Equal("ns-leaker", leak.GetProperty("owner").GetProperty("process").GetString());

        // The daemon: each namespace's series under its name.
        var daemon = await DaemonProcess.StartAsync(_children, ["--netns", names, "--poll-interval", "1s", "--close-wait-leak-after", "1s"]);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        var body = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var sockets = ScrapeTests.Samples(body, "sockwatch_tcp_sockets");
        double Count(TestNamespace ns, string state) =>
            sockets.Where(s => s.Labels.Contains($"netns=\"{ns.Name}\"", StringComparison.Ordinal) && s.Labels.Contains($"state=\"{state}\"", StringComparison.Ordinal)).Sum(s => s.Value);
        Assert.Equal(3, Count(leaky, "close_wait"));
        Assert.Equal(8, Count(busy, "established"));
        Assert.Equal(1, Count(quiet, "listen"));
        Assert.Equal(0, Count(quiet, "established"));
        var leaked = Assert.Single(ScrapeTests.Samples(body, "sockwatch_close_wait_leaked_sockets"));
        Assert.Contains($"netns=\"{leaky.Name}\"", leaked.Labels, StringComparison.Ordinal);
        Assert.Contains("process=\"ns-leaker\"", leaked.Labels, StringComparison.Ordinal);
        Assert.Equal(3, leaked.Value);

        // Namespaces come and go while it polls every second: no poll fails.
        var polls = Samples(body, "sockwatch_poll_duration_seconds_count");
        for (var i = 0; i < 6; i++)
        {
            var passing = new TestNamespace();
            using (var server = new ChildProcesses())
            {
                Serve(passing, LiveScripts.LeakyServer("ns-passing", leaks: 0), server);
                Thread.Sleep(300 * (i % 3));
            } // the server is gone first, so the namespace's last reference is /run/netns

            passing.Dispose();
        }

        await Task.Delay(2500);
        body = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(Samples(body, "sockwatch_poll_duration_seconds_count") > polls, "the daemon kept polling");
        Assert.Empty(ScrapeTests.Samples(body, "sockwatch_poll_errors_total"));
        Assert.DoesNotContain(daemon.Output, l => l.Contains("poll failed", StringComparison.Ordinal));

        // A namespace whose counters stood still between polls is carried (the one with only a
        // listener, at least), and its sockets are still counted under its name.
        var watched = ScrapeTests.Samples(body, "sockwatch_netns_watched");
        Assert.True(watched.Single(s => s.Labels.Contains("read=\"carried\"", StringComparison.Ordinal)).Value >= 1, body);
        sockets = ScrapeTests.Samples(body, "sockwatch_tcp_sockets");
        Assert.Equal(1, Count(quiet, "listen"));
        Assert.Equal(3, Count(leaky, "close_wait"));
    }

    public void Dispose()
    {
        _children.Dispose();
        foreach (var ns in _namespaces)
        {
            ns.Dispose();
        }
    }

    private static double Samples(string body, string name) => ScrapeTests.Samples(body, name).Sum(s => s.Value);

    private TestNamespace Namespace()
    {
        var ns = new TestNamespace();
        _namespaces.Add(ns);
        return ns;
    }

    private void Serve(TestNamespace ns, string script, ChildProcesses? into = null)
    {
        var p = (into ?? _children).Start(Conditions.FindExecutable("ip")!, ["netns", "exec", ns.Name, "python3", "-c", script], redirectStdin: true);
        Assert.Equal("ready", p.StandardOutput.ReadLine());
    }
}
