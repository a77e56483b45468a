using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Tracing;

/// <summary>
/// `sockwatch trace` on the known workload: one JSON line per change of the namespace, each with
/// its owner and step, and on Ctrl+C a count per transition that is the workload's exactly.
/// Without the capabilities it exits 2 with one line.
/// </summary>
public sealed class TraceCommandTests
{
    [RootFact]
    public void Streams_every_change_of_the_namespace_and_counts_them_on_ctrl_c()
    {
        using var ns = new TestNamespace();
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "sockwatch"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "trace", "--format", "json", "--netns", ns.Name, "--port", "5001", "--port", "9" })
        {
            psi.ArgumentList.Add(a);
        }

        using var trace = Process.Start(psi)!;
        try
        {
            Assert.StartsWith("sockwatch trace: tracing every TCP state change", trace.StandardError.ReadLine(), StringComparison.Ordinal);
            var expected = TraceLiveTests.ExpectedChanges();
            var total = (int)expected.Values.Sum();
            using var children = new ChildProcesses();
            var script = Path.Combine(Repo.Root, "tests", "Agent.Tests", "Tracing", "workload.py");
            var ip = Conditions.FindExecutable("ip") ?? "ip";
            var server = children.Start(ip, ["netns", "exec", ns.Name, "python3", script, "server", "5001", "0.1"]);
            _ = server.StandardOutput.ReadLine();
            var client = children.Start(ip, ["netns", "exec", ns.Name, "python3", script, "client", "5001", "9", "20", "15", "10", "5", "3"]);
            Assert.True(client.WaitForExit(60_000) && server.WaitForExit(60_000));

            // Lines are read on another thread: a missing one must fail the test, not hang it.
            var lines = new List<JsonDocument>();
            var reader = Task.Run(() =>
            {
                while (lines.Count < total && trace.StandardOutput.ReadLine() is { } line)
                {
                    lines.Add(JsonDocument.Parse(line));
                }
            });
            _ = reader.Wait(TimeSpan.FromSeconds(30));

            Assert.Equal(0, ChildProcesses.Signal(trace, 2)); // SIGINT, as Ctrl+C
            Assert.True(trace.WaitForExit(30_000));
            Assert.True(reader.IsCompleted, $"{lines.Count} of {total} lines");
            var rest = trace.StandardOutput.ReadToEnd();
            var summary = trace.StandardError.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(trace.WaitForExit(30_000));
            Assert.Equal(0, trace.ExitCode);
            Assert.Equal("", rest);

            Assert.Equal(total, lines.Count);
            Assert.All(lines, l =>
            {
                var o = l.RootElement;
                Assert.Equal(ns.Name, o.GetProperty("netns").GetString());
                Assert.Equal("python3", o.GetProperty("owner").GetProperty("process").GetString());
                Assert.False(string.IsNullOrEmpty(o.GetProperty("step").GetString()));
            });
            Assert.Equal($"sockwatch trace: {total} state changes", summary[0]);
            var counted = summary.Skip(1).Select(s => s.Trim().Split("  ", 2)).ToDictionary(p => p[1], p => long.Parse(p[0], CultureInfo.InvariantCulture));
            Assert.Equal(
                expected.ToDictionary(p => $"{Lifecycle.NameOf(p.Key.Item1)} -> {Lifecycle.NameOf(p.Key.Item2)}", p => p.Value).OrderBy(p => p.Key, StringComparer.Ordinal),
                counted.OrderBy(p => p.Key, StringComparer.Ordinal));
        }
        finally
        {
            if (!trace.HasExited)
            {
                trace.Kill();
            }
        }
    }

    [RootToolFact("setpriv")]
    public void Without_the_capabilities_it_exits_2_with_one_line()
    {
        var result = Cli.RunProgram(Conditions.FindExecutable("setpriv")!, "--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-all", Path.Combine(AppContext.BaseDirectory, "sockwatch"), "trace");
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StderrLines);
        Assert.StartsWith("sockwatch trace: tracing is impossible here (permission_denied): ", line, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }
}
