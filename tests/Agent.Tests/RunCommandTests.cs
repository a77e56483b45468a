using System.Diagnostics;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>`sockwatch run` as systemd would run it: started, logging, stopped with SIGTERM.</summary>
public sealed class RunCommandTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private TestNamespace? _namespace;

    [Fact]
    public void Sigterm_stops_the_daemon_cleanly()
    {
        // Its standard error goes to a file (the shell execs it in place: the pid is the
        // daemon's), so that an exit other than 0 says why.
        var stderr = Path.Combine(Directory.CreateTempSubdirectory("sockwatch-run-").FullName, "stderr");
        var daemon = Start("/bin/sh", "-c", "exec \"$0\" \"$@\" 2>'" + stderr + "'", Path.Combine(AppContext.BaseDirectory, "sockwatch"),
            "run", "--listen-address", "127.0.0.1:0", "--poll-interval", "1s", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners"));
        var lines = new List<string>();
        Assert.True(WaitForLine(daemon, lines, l => l.Contains("polling through proc", StringComparison.Ordinal), TimeSpan.FromSeconds(30)), string.Join('\n', lines));

        Assert.Equal(0, ChildProcesses.Signal(daemon, ChildProcesses.SIGTERM));
        var stopped = daemon.WaitForExit(5000);
        var written = File.ReadAllText(stderr);
        Directory.Delete(Path.GetDirectoryName(stderr)!, recursive: true);
        Assert.True(stopped, "did not stop within 5 s of SIGTERM");
        Assert.True(daemon.ExitCode == 0, $"exit {daemon.ExitCode}; stderr: {written}");
        lines.AddRange(daemon.StandardOutput.ReadToEnd().Split('\n'));
        Assert.Contains(lines, l => l.Contains("stopping after", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_configuration_exits_2_before_starting()
    {
        var r = Cli.Run("run", "--poll-interval", "soon");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--poll-interval", Assert.Single(r.StderrLines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"otlp_endpoint\": \"collector:4318\" }", "otlp_endpoint")]
    [InlineData("{ \"max_owner_series\": 0 }", "max_owner_series")]
    [InlineData("{ \"poll_intervall\": \"15s\" }", "poll_intervall")]
    public void A_bad_configuration_file_exits_2_naming_the_key(string json, string key)
    {
        var file = Path.Combine(Path.GetTempPath(), $"sockwatch-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, json);
        try
        {
            var r = Cli.Run("run", "--config", file, "--listen-address", "127.0.0.1:0");
            Assert.Equal(2, r.ExitCode);
            var line = Assert.Single(r.StderrLines);
            Assert.Contains(key, line, StringComparison.Ordinal);
            Assert.Contains(file, line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [RootFact]
    public void A_leak_is_logged_when_it_appears_with_its_process()
    {
        _namespace = new TestNamespace();
        var server = Start(Conditions.FindExecutable("ip")!, "netns", "exec", _namespace.Name, "python3", "-c", """
            import ctypes, socket, sys, time
            ctypes.CDLL(None).prctl(15, b"leaky-daemon", 0, 0, 0)
            l = socket.socket(); l.bind(("127.0.0.1", 8080)); l.listen(64)
            kept = []
            for _ in range(3):
                c = socket.socket(); c.connect(("127.0.0.1", 8080)); s, _ = l.accept(); kept.append(s); c.close()
            print("ready", flush=True)
            time.sleep(60)
            """);
        Assert.Equal("ready", server.StandardOutput.ReadLine());

        var daemon = Start(Conditions.FindExecutable("ip")!, "netns", "exec", _namespace.Name,
            Path.Combine(AppContext.BaseDirectory, "sockwatch"), "run", "--listen-address", "127.0.0.1:0", "--poll-interval", "1s", "--close-wait-leak-after", "2s", "--netns", "self");
        var lines = new List<string>();
        Assert.True(
            WaitForLine(daemon, lines, l => l.Contains("close_wait_leak", StringComparison.Ordinal) && l.Contains("leaky-daemon", StringComparison.Ordinal), TimeSpan.FromSeconds(30)),
            string.Join('\n', lines));

        Assert.Equal(0, ChildProcesses.Signal(daemon, ChildProcesses.SIGTERM)); // `ip netns exec` execs in place: this is sockwatch
        Assert.True(daemon.WaitForExit(5000), "did not stop within 5 s of SIGTERM");
        Assert.Equal(0, daemon.ExitCode);
    }

    private static bool WaitForLine(Process p, List<string> lines, Func<string, bool> match, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            var read = p.StandardOutput.ReadLineAsync();
            if (!read.Wait(deadline - DateTime.UtcNow) || read.Result is null)
            {
                return false;
            }

            lines.Add(read.Result);
            if (match(read.Result))
            {
                return true;
            }
        }

        return false;
    }

    private Process Start(string exe, params string[] args) => _children.Start(exe, args);

    public void Dispose()
    {
        _children.Dispose();
        _namespace?.Dispose();
    }
}
