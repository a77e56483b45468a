using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

public class SnapshotCommandTests
{
    private static readonly string EveryState = Repo.Fixture("proc-every-state");

    [Fact]
    public void Summary_prints_one_state_count_line_per_state()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", EveryState, "--format", "summary");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr);
        Assert.Equal(
            """
            established 2
            syn_sent 1
            syn_recv 1
            fin_wait1 1
            fin_wait2 1
            time_wait 1
            close 1
            close_wait 2
            last_ack 1
            listen 2
            closing 1
            new_syn_recv 1
            bound_inactive 0

            """.Replace("\r", "", StringComparison.Ordinal),
            r.Stdout);
    }

    [Fact]
    public void Summary_with_states_prints_those_states()
    {
        var r = Cli.Run("snapshot", "--collector=proc", "--proc-root", EveryState, "--format", "summary", "--state", "close_wait", "--state", "LISTEN");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("close_wait 2\nlisten 2\n", r.Stdout);
    }

    [Fact]
    public void Json_carries_every_contract_field()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", EveryState, "--format", "json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var sockets = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(15, sockets.Length);
        string[] fields =
        [
            "family", "state", "phase", "local_address", "local_port", "remote_address", "remote_port",
            "rx_queue", "tx_queue", "uid", "inode", "cookie", "timer", "timer_expires_ms", "retransmits",
        ];
        foreach (var s in sockets)
        {
            foreach (var f in fields)
            {
                Assert.True(s.TryGetProperty(f, out _), $"missing {f}");
            }

            Assert.Equal(JsonValueKind.Null, s.GetProperty("cookie").ValueKind); // /proc has no cookies
            Assert.Contains(s.GetProperty("family").GetString(), new[] { "inet", "inet6" });
        }

        var mapped = sockets.Single(s => s.GetProperty("local_address").GetString() == "::ffff:127.0.0.1");
        Assert.Equal("close_wait", mapped.GetProperty("state").GetString());
        Assert.Equal("passive_close", mapped.GetProperty("phase").GetString());
        Assert.Equal(1, mapped.GetProperty("rx_queue").GetInt32());
        Assert.Equal(8080, mapped.GetProperty("local_port").GetInt32());

        var established = sockets.First(s => s.GetProperty("state").GetString() == "established");
        Assert.Equal("keepalive", established.GetProperty("timer").GetString());
        Assert.Equal(10_000, established.GetProperty("timer_expires_ms").GetInt32());
        Assert.Equal(40001, established.GetProperty("inode").GetInt64());
        Assert.Equal(1000, established.GetProperty("uid").GetInt32());
    }

    [Fact]
    public void Json_of_nothing_is_an_empty_array()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", Repo.Fixture("proc-empty"), "--format", "json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(0, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void Table_is_aligned_ordered_along_the_lifecycle_and_summarized()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", EveryState);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        var header = lines[0];
        Assert.StartsWith("STATE", header, StringComparison.Ordinal);
        var rows = lines.Skip(1).TakeWhile(l => l.Length > 0).ToArray();
        Assert.Equal(15, rows.Length);

        // Every column starts where its header does.
        foreach (var column in new[] { "PHASE", "LOCAL", "REMOTE", "RECV-Q", "LIFECYCLE" })
        {
            var at = header.IndexOf(column, StringComparison.Ordinal);
            Assert.All(rows, row => Assert.True(row[at - 1] == ' ' && row[at] != ' ', $"{column} misaligned in: {row}"));
        }

        // Listeners first, closed last; close_wait explains itself.
        Assert.StartsWith("listen", rows[0], StringComparison.Ordinal);
        Assert.StartsWith("close ", rows[^1], StringComparison.Ordinal);
        Assert.Contains(rows, row => row.StartsWith("close_wait", StringComparison.Ordinal) && row.Contains("close()", StringComparison.Ordinal));
        Assert.Contains(rows, row => row.Contains("[::ffff:127.0.0.1]:8080", StringComparison.Ordinal));

        var summary = lines.SkipWhile(l => l.Length > 0).Skip(1).ToArray();
        Assert.StartsWith("15 sockets, read through proc: established 2, syn_sent 1", summary[0], StringComparison.Ordinal);
        Assert.StartsWith("by phase: listen 2, handshake 3, established 2, active_close 4, passive_close 3, closed 1", summary[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_lines_are_noted_on_stderr_and_the_rest_is_printed()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", Repo.Fixture("proc-malformed"), "--format", "summary");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("established 1\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("listen 1\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("7 malformed records", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("no inet6 table", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--state", "--state", "bogus")]
    [InlineData("--state", "--state", "close_wait,nope")]
    [InlineData("--format", "--format", "xml")]
    [InlineData("--collector", "--collector", "ebpf")]
    [InlineData("--proc-root", "--proc-root", "/nonexistent/proc")]
    [InlineData("--bogus", "--bogus")]
    [InlineData("--format", "--format")]
    public void Bad_usage_is_one_line_naming_the_flag_and_exit_2(string flag, params string[] args)
    {
        var r = Cli.Run(["snapshot", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var line = Assert.Single(r.StderrLines);
        Assert.Contains(flag, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void The_configuration_file_sets_the_collector_and_proc_root()
    {
        var file = Path.Combine(Path.GetTempPath(), $"sockwatch-snapshot-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, $$"""{ "collector": "proc", "proc_root": "{{EveryState}}", "poll_interval": "30s" }""");
        try
        {
            var r = Cli.Run("snapshot", "--config", file, "--format", "summary", "--state", "close_wait");
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("close_wait 2\n", r.Stdout);

            // A flag overrides the file.
            var empty = Cli.Run("snapshot", "--config", file, "--proc-root", Repo.Fixture("proc-empty"), "--format", "json");
            Assert.Equal("[]", empty.Stdout.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Sockwatch_variables_set_the_collector_and_proc_root()
    {
        var env = new Dictionary<string, string> { ["SOCKWATCH_COLLECTOR"] = "proc", ["SOCKWATCH_PROC_ROOT"] = EveryState };
        var r = Cli.RunWith(env, "snapshot", "--format", "summary", "--state", "listen");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("listen 2\n", r.Stdout);

        var bad = Cli.RunWith(new Dictionary<string, string> { ["SOCKWATCH_NETNS"] = "a/b" }, "snapshot", "--format", "summary");
        Assert.Equal(2, bad.ExitCode);
        Assert.StartsWith("sockwatch snapshot: configuration: netns (from SOCKWATCH_NETNS): ", Assert.Single(bad.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_state_lists_the_accepted_names()
    {
        var r = Cli.Run("snapshot", "--state", "estab");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("established, syn_sent, syn_recv", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_tables_exit_3_with_one_line()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", Repo.Fixture("live-6.18"));
        Assert.Equal(3, r.ExitCode);
        var line = Assert.Single(r.StderrLines);
        Assert.Contains("cannot read the TCP socket tables", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_is_available()
    {
        var r = Cli.Run("snapshot", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--format", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("--state", r.Stdout, StringComparison.Ordinal);
    }

    [LiveFact]
    public void Netlink_snapshot_shows_a_live_listener_with_its_cookie()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(7);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;

        var r = Cli.Run("snapshot", "--collector", "netlink", "--format", "json", "--state", "listen");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        var all = doc.RootElement.EnumerateArray().ToArray();
        Assert.All(all, s => Assert.Equal("listen", s.GetProperty("state").GetString()));
        var ours = all.Single(s => s.GetProperty("local_port").GetInt32() == port);
        Assert.Equal("127.0.0.1", ours.GetProperty("local_address").GetString());
        Assert.Equal(7, ours.GetProperty("tx_queue").GetInt32()); // the backlog
        Assert.Equal(JsonValueKind.Number, ours.GetProperty("cookie").ValueKind);
    }

    [LiveFact]
    public void Auto_uses_netlink_when_it_works()
    {
        var r = Cli.Run("snapshot", "--format", "table", "--state", "listen");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("read through netlink", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("falling back", r.Stderr, StringComparison.Ordinal);
    }
}
