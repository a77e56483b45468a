using System.Diagnostics;
using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Tracing;

/// <summary>
/// The tracer in the daemon: nothing of it stays loaded after SIGTERM or SIGKILL (bpftool is the
/// oracle), and without CAP_BPF and CAP_PERFMON <c>--trace auto</c> falls back with its line
/// while <c>--trace on</c> exits 2 with its line. The committed object is what its source builds.
/// </summary>
public sealed class TraceDaemonTests : IDisposable
{
    private readonly ChildProcesses _children = new();

    public static TheoryData<int> Signals() => [ChildProcesses.SIGTERM, 9];

    [RootToolTheory("bpftool")]
    [MemberData(nameof(Signals))]
    public async Task Nothing_of_the_tracer_stays_loaded_after_the_daemon_stops(int signal)
    {
        var daemon = await DaemonProcess.StartAsync(_children, ["--trace", "on", "--netns", "self", "--poll-interval", "1s"]);
        var pid = daemon.Process.Id;
        var programs = Owned("prog", pid);
        var maps = Owned("map", pid);
        var links = Owned("link", pid);
        Assert.Equal(3, programs.Count);
        Assert.Equal(3, links.Count);
        // the object's ten maps (bpf/sockwatch.bpf.c) and its .rodata; libbpf may add its own
        Assert.True(maps.Count >= 11, $"{maps.Count} maps");

        Assert.Equal(0, ChildProcesses.Signal(daemon.Process, signal));
        Assert.True(daemon.Process.WaitForExit(30_000));

        // The kernel frees them once the last descriptor is gone; that can trail the exit a little.
        var started = Stopwatch.StartNew();
        while (Present("prog", programs).Count + Present("map", maps).Count + Present("link", links).Count > 0 && started.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
        }

        Assert.Empty(Present("prog", programs));
        Assert.Empty(Present("map", maps));
        Assert.Empty(Present("link", links));
    }

    [RootToolFact("setpriv")]
    public async Task Without_the_capabilities_auto_falls_back_with_one_line_and_on_exits_2()
    {
        var sockwatch = Path.Combine(AppContext.BaseDirectory, "sockwatch");
        string[] drop = ["--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-all", sockwatch, "run", "--listen-address", "127.0.0.1:0", "--poll-interval", "1s"];

        var on = Cli.RunProgram(Conditions.FindExecutable("setpriv")!, [.. drop, "--trace", "on"]);
        Assert.Equal(2, on.ExitCode);
        var line = Assert.Single(on.StderrLines);
        Assert.StartsWith("sockwatch run: --trace on: tracing is impossible here (permission_denied): ", line, StringComparison.Ordinal);

        var auto = _children.Start(Conditions.FindExecutable("setpriv")!, [.. drop, "--trace", "auto"]);
        var fallback = new List<string>();
        string? url = null;
        while (url is null && await auto.StandardOutput.ReadLineAsync() is { } l)
        {
            fallback.Add(l);
            if (l.Contains("listening on ", StringComparison.Ordinal))
            {
                url = l[(l.IndexOf("listening on ", StringComparison.Ordinal) + 13)..].Split(':', 3) is var p ? $"{p[0]}:{p[1]}:{p[2].Split(':')[0]}" : null;
            }
        }

        Assert.Single(fallback, f => f.Contains("[3601] tracing off (permission_denied): ", StringComparison.Ordinal));
        using var http = new HttpClient { BaseAddress = new Uri(url!) };
        var started = Stopwatch.StartNew();
        string metrics;
        do
        {
            await Task.Delay(100);
            metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        }
        while (!metrics.Contains("sockwatch_tcp_sockets", StringComparison.Ordinal) && started.Elapsed < TimeSpan.FromSeconds(30));

        Assert.Contains("sockwatch_trace_info{mode=\"off\",reason=\"permission_denied\",", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("sockwatch_tcp_state_changes_total", metrics, StringComparison.Ordinal);
    }

    [ToolFact("clang", "llvm-strip")]
    public void The_committed_object_is_what_bpf_build_sh_makes_of_its_source()
    {
        var rebuilt = Path.Combine(Path.GetTempPath(), $"sockwatch-bpf-{Environment.ProcessId}.o");
        try
        {
            TestNamespace.Run(Path.Combine(Repo.Root, "bpf", "build.sh"), rebuilt);
            Assert.Equal(File.ReadAllBytes(Path.Combine(Repo.Root, "bpf", "sockwatch.bpf.o")), File.ReadAllBytes(rebuilt));
        }
        finally
        {
            File.Delete(rebuilt);
        }
    }

    /// <summary>
    /// The ids of the BPF objects of one kind (<c>prog</c>, <c>map</c>, <c>link</c>) whose
    /// descriptors <paramref name="pid"/> holds: the kernel writes <c>prog_id:</c>,
    /// <c>map_id:</c> or <c>link_id:</c> in each such descriptor's /proc/PID/fdinfo (this bpftool
    /// is built without the pids column).
    /// </summary>
    private static HashSet<long> Owned(string kind, int pid)
    {
        var field = kind + "_id:";
        var ids = new HashSet<long>();
        foreach (var info in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(info);
            }
            catch (IOException)
            {
                continue; // closed meanwhile
            }

            // A link's fdinfo also names its program (prog_id): only the object's own kind counts.
            var type = lines.Any(l => l.StartsWith("link_id:", StringComparison.Ordinal)) ? "link"
                : lines.Any(l => l.StartsWith("map_id:", StringComparison.Ordinal)) ? "map"
                : "prog";
            if (type == kind && lines.FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal)) is { } line)
            {
                ids.Add(long.Parse(line.AsSpan(field.Length).Trim(), System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return ids;
    }

    /// <summary>Which of <paramref name="ids"/> are still loaded.</summary>
    private static List<long> Present(string kind, HashSet<long> ids)
    {
        using var json = JsonDocument.Parse(TestNamespace.Run("bpftool", kind, "show", "--json"));
        return [.. json.RootElement.EnumerateArray().Select(o => o.GetProperty("id").GetInt64()).Where(ids.Contains)];
    }

    public void Dispose() => _children.Dispose();
}

/// <summary>A fact that needs these programs (and libbpf-dev's headers for clang); skips with the reason.</summary>
internal sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(params string[] tools) => Skip = Missing(tools, root: false);

    internal static string? Missing(string[] tools, bool root)
    {
        if (root && !Conditions.IsRoot)
        {
            return "needs root to load BPF programs; CI runs as root";
        }

        var missing = tools.Where(t => Conditions.FindExecutable(t) is null).ToList();
        if (tools.Contains("clang") && !File.Exists("/usr/include/bpf/bpf_helpers.h"))
        {
            missing.Add("libbpf-dev");
        }

        return missing.Count == 0 ? null : $"needs {string.Join(", ", missing)} (test.sh installs them)";
    }
}

/// <summary>A fact that needs root and these programs.</summary>
internal sealed class RootToolFactAttribute : FactAttribute
{
    public RootToolFactAttribute(params string[] tools) => Skip = ToolFactAttribute.Missing(tools, root: true);
}

/// <summary>A theory that needs root and these programs.</summary>
internal sealed class RootToolTheoryAttribute : TheoryAttribute
{
    public RootToolTheoryAttribute(params string[] tools) => Skip = ToolFactAttribute.Missing(tools, root: true);
}
