using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SockWatch.Agent.Tracing;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Tracing;

/// <summary>
/// The kernel tracer against a workload with known numbers in a private network namespace
/// (workload.py): every state change and reset counted exactly, close_wait durations in their
/// histogram bucket, owners right where the kernel changes state in softirq context, no record
/// lost.
/// </summary>
public sealed partial class TraceLiveTests : IDisposable
{
    private const int ServerPort = 5001;
    private const int ClosedPort = 9; // below the ephemeral range: no client can be bound there
    private const int N = 20;  // client-closed
    private const int M = 15;  // server-closed (plus the closing "x" connection)
    private const int K = 10;  // refused
    private const int L = 5;   // server-aborted with SO_LINGER 0
    private const int J = 3;   // close_wait held HoldSeconds
    private const double HoldSeconds = 1.0; // in [2^29, 2^30) ns: log2 slot 30

    private readonly ChildProcesses _children = new();

    /// <summary>What the workload must make in its namespace, pair by pair.</summary>
    internal static Dictionary<(TcpState, TcpState), long> ExpectedChanges()
    {
        const int graceful = N + (M + 1) + J;
        const int connected = graceful + L;
        return new()
        {
            [(TcpState.Close, TcpState.Listen)] = 1,
            [(TcpState.Listen, TcpState.Close)] = 1,
            [(TcpState.Close, TcpState.SynSent)] = connected + K,
            [(TcpState.SynSent, TcpState.Close)] = K,
            [(TcpState.Listen, TcpState.SynRecv)] = connected,
            [(TcpState.SynSent, TcpState.Established)] = connected,
            [(TcpState.SynRecv, TcpState.Established)] = connected,
            [(TcpState.Established, TcpState.FinWait1)] = graceful,
            [(TcpState.FinWait1, TcpState.FinWait2)] = graceful,
            [(TcpState.FinWait2, TcpState.Close)] = graceful,
            [(TcpState.Established, TcpState.CloseWait)] = graceful,
            [(TcpState.CloseWait, TcpState.LastAck)] = graceful,
            [(TcpState.LastAck, TcpState.Close)] = graceful,
            [(TcpState.Established, TcpState.Close)] = 2 * L,
        };
    }

    internal static Dictionary<(TcpState, string), long> ExpectedResets() => new()
    {
        [(TcpState.Established, "sent")] = L,      // the server's abortive close
        [(TcpState.Established, "received")] = L,  // its client, reset by the peer
        [(TcpState.SynSent, "received")] = K,      // refused connects
        [(TcpState.Close, "sent")] = K,            // no socket on the closed port
    };

    [RootFact]
    public void Counts_every_change_of_a_known_workload_exactly_with_owners_from_process_context()
    {
        using var ns = new TestNamespace();
        var inode = NamespaceInode(ns.Name);
        var records = new ConcurrentQueue<TraceRecord>();
        using var session = TraceSession.Open(streamAll: true, r =>
        {
            if (r.Netns == inode)
            {
                records.Enqueue(r);
            }
        });
        session.Start();

        var (serverPid, clientPid) = RunWorkload(ns.Name);
        var expected = ExpectedChanges();
        var counters = WaitFor(session, inode, c => Changes(c, inode).Values.Sum() >= expected.Values.Sum() && records.Count >= expected.Values.Sum());

        Assert.Equal(expected.OrderBy(p => p.Key), Changes(counters, inode).OrderBy(p => p.Key));
        Assert.Equal(
            ExpectedResets().OrderBy(p => p.Key),
            counters.Resets.Where(r => r.Netns == inode).ToDictionary(r => (r.State, r.Direction), r => r.Count).OrderBy(p => p.Key));
        Assert.Equal(0, counters.Lost);

        // Close_wait: the J held ones in log2 slot 30 ([0.54 s, 1.07 s)), every other one far below.
        var closeWait = counters.Durations.Single(d => d.Netns == inode && d.State == TcpState.CloseWait);
        Assert.Equal(expected[(TcpState.Established, TcpState.CloseWait)], closeWait.Count);
        Assert.Equal(J, closeWait.Slots[30]);
        Assert.Equal(J, closeWait.Slots.Skip(28).Sum());

        // The same per application (namespace, comm), for the leak findings: every close_wait exit
        // of the workload's two python3 processes, the J held ones in slot 30.
        var delays = session.CloseDelays().Where(d => d.Key.Netns == inode).ToArray();
        Assert.Equal(["python3"], delays.Select(d => d.Key.Process));
        Assert.Equal(expected[(TcpState.CloseWait, TcpState.LastAck)], delays.Sum(d => d.Value.Sum()));
        Assert.Equal(J, delays.Sum(d => d.Value[30]));

        // The ring buffer carried every change, each with its owner.
        var all = records.ToArray();
        Assert.Equal(expected.Values.Sum(), all.Length);
        foreach (var r in all.Where(r => r.To == TcpState.CloseWait))
        {
            // softirq: the peer's FIN arrives; server side for client-closed, client side for server-closed
            Assert.Equal(r.LocalPort == ServerPort ? serverPid : clientPid, r.Pid);
        }

        var resetByPeer = all.Where(r => r.From == TcpState.Established && r.To == TcpState.Close && r.RemotePort == ServerPort).ToArray();
        Assert.Equal(L, resetByPeer.Length);
        Assert.All(resetByPeer, r => Assert.Equal(clientPid, r.Pid)); // softirq: the RST arrives
        Assert.All(all.Where(r => r.From == TcpState.CloseWait), r => Assert.Equal(r.LocalPort == ServerPort ? serverPid : clientPid, r.Pid));
        Assert.All(all.Where(r => r.From == TcpState.CloseWait), r => Assert.True(r.InStateNs > 0));
    }

    /// <summary>
    /// A second oracle: bpftrace counts the same tracepoint in the same namespace (its netns
    /// inode read through BTF) while the tracer runs; both must have the workload's numbers.
    /// </summary>
    [RootToolFact("bpftrace")]
    public void Bpftrace_counting_the_same_tracepoint_in_the_namespace_agrees_with_the_tracer_and_the_workload()
    {
        using var ns = new TestNamespace();
        var inode = NamespaceInode(ns.Name);
        using var session = TraceSession.Open(streamAll: false, _ => { });
        session.Start();
        var program = "tracepoint:sock:inet_sock_set_state /args->protocol == 6 && "
            + "((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum == " + inode.ToString(CultureInfo.InvariantCulture)
            + "/ { @[args->oldstate, args->newstate] = count(); }";
        // bpftrace finds tracepoints through tracefs: mounted in a mount namespace of its own, so
        // the host is left as it was. Its errors (and the mount's) come with its output, so that a
        // failure says why.
        var bpftrace = _children.Start(
            Conditions.FindExecutable("unshare") ?? "unshare",
            ["-m", "sh", "-c", "exec 2>&1; mount -t tracefs nodev /sys/kernel/tracing && exec \"$0\" -e \"$1\"", Conditions.FindExecutable("bpftrace")!, program]);
        var output = new ConcurrentQueue<string>();
        bpftrace.OutputDataReceived += (_, e) => { if (e.Data is { } line) { output.Enqueue(line); } };
        bpftrace.BeginOutputReadLine();
        var attached = Stopwatch.StartNew();
        while (!output.Any(l => l.StartsWith("Attaching", StringComparison.Ordinal)) && attached.Elapsed < TimeSpan.FromSeconds(60))
        {
            Assert.False(bpftrace.HasExited && bpftrace.WaitForExit(5_000), $"bpftrace exited ({(bpftrace.HasExited ? bpftrace.ExitCode : -1)}): " + string.Join(" | ", output));
            Thread.Sleep(100);
        }

        RunWorkload(ns.Name);
        var expected = ExpectedChanges();
        var counters = WaitFor(session, inode, c => Changes(c, inode).Values.Sum() >= expected.Values.Sum());
        Thread.Sleep(500); // the last changes reach bpftrace's map as they reach ours
        Assert.Equal(0, ChildProcesses.Signal(bpftrace, 2)); // SIGINT: bpftrace prints its map and exits
        Assert.True(bpftrace.WaitForExit(30_000));
        bpftrace.WaitForExit();

        var counted = output.Select(l => BpftraceLine().Match(l)).Where(m => m.Success).ToDictionary(
            m => ((TcpState)int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), (TcpState)int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)),
            m => long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
        Assert.Equal(expected.OrderBy(p => p.Key), counted.OrderBy(p => p.Key));
        Assert.Equal(counted.OrderBy(p => p.Key), Changes(counters, inode).OrderBy(p => p.Key));
    }

    [RootFact]
    public async Task The_daemon_exports_the_same_exact_counts_and_its_page_draws_them_as_traced()
    {
        using var ns = new TestNamespace();
        var daemon = await DaemonProcess.StartAsync(_children, ["--trace", "on", "--netns", ns.Name, "--poll-interval", "1s"]);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        RunWorkload(ns.Name);

        var expected = ExpectedChanges();
        var pattern = new Regex("^sockwatch_tcp_state_changes_total\\{from=\"([a-z_0-9]+)\",netns=\"" + Regex.Escape(ns.Name) + "\",to=\"([a-z_0-9]+)\"[^}]*\\} ([0-9]+)$", RegexOptions.Multiline);
        Dictionary<(TcpState, TcpState), long> exported = [];
        var started = Stopwatch.StartNew();
        while (exported.Values.Sum() < expected.Values.Sum() && started.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(200);
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            exported = pattern.Matches(metrics).ToDictionary(
                m => (State(m.Groups[1].Value), State(m.Groups[2].Value)),
                m => long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
        }

        Assert.Equal(expected.OrderBy(p => p.Key), exported.OrderBy(p => p.Key));

        // The page's edges come from the same counters, the difference between two polls.
        var poll = await http.GetStringAsync(new Uri("/api/v1/poll?netns=" + ns.Name, UriKind.Relative));
        using var json = JsonDocument.Parse(poll);
        Assert.Equal("traced", json.RootElement.GetProperty("transitions").GetProperty("source").GetString());
    }

    [RootFact]
    public async Task A_close_wait_that_keeps_writing_has_its_exact_age_from_the_fin_not_tcp_infos_bound()
    {
        // Polls 8 s apart: the first runs before the FIN, the second sees the close_wait up to 8 s
        // after it, when the peer's acknowledgements of what it writes (every 0.3 s) hold
        // tcp_info's bound under half a second.
        using var ns = new TestNamespace();
        var daemon = await DaemonProcess.StartAsync(_children, ["--trace", "on", "--netns", ns.Name, "--poll-interval", "8s"]);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        var script = Path.Combine(Repo.Root, "tests", "Agent.Tests", "Tracing", "halfclose.py");
        var pair = _children.Start(Conditions.FindExecutable("ip") ?? "ip", ["netns", "exec", ns.Name, "python3", script, Num(ServerPort)], redirectStdin: true);
        Assert.StartsWith("connected ", pair.StandardOutput.ReadLine(), StringComparison.Ordinal);
        pair.StandardInput.WriteLine();
        pair.StandardInput.Flush();
        Assert.Equal("fin", pair.StandardOutput.ReadLine());
        var fin = Stopwatch.StartNew();

        var age = new Regex("^sockwatch_close_wait_oldest_age_seconds\\{[^}]*netns=\"" + Regex.Escape(ns.Name) + "\"[^}]*\\} ([0-9.e+]+)$", RegexOptions.Multiline);
        double? seen = null;
        while (seen is null && fin.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250);
            var m = age.Match(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)));
            seen = m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        }

        pair.StandardInput.Close();
        Assert.NotNull(seen);
        var elapsed = fin.Elapsed.TotalSeconds;
        // The exact age is the time since the FIN at that poll: more than tcp_info's bound allows,
        // never more than what has passed since.
        Assert.True(seen > 2 && seen <= elapsed + 0.5, $"oldest close_wait age {seen} s, {elapsed:0.0} s after the FIN");
    }

    /// <summary>Runs workload.py's server and client in the namespace; their pids.</summary>
    private (int Server, int Client) RunWorkload(string netns)
    {
        var script = Path.Combine(Repo.Root, "tests", "Agent.Tests", "Tracing", "workload.py");
        var ip = Conditions.FindExecutable("ip") ?? "ip";
        var server = _children.Start(ip, ["netns", "exec", netns, "python3", script, "server", Num(ServerPort), HoldSeconds.ToString(CultureInfo.InvariantCulture)]);
        var serverPid = Pid(server.StandardOutput.ReadLine(), "ready");
        var client = _children.Start(ip, ["netns", "exec", netns, "python3", script, "client", Num(ServerPort), Num(ClosedPort), Num(N), Num(M), Num(K), Num(L), Num(J)]);
        var clientPid = Pid(client.StandardOutput.ReadLine(), "done");
        Assert.True(client.WaitForExit(60_000) && server.WaitForExit(60_000));
        Assert.Equal(0, client.ExitCode);
        Assert.Equal(0, server.ExitCode);
        return (serverPid, clientPid);
    }

    internal static Dictionary<(TcpState, TcpState), long> Changes(TraceCounters counters, uint inode) =>
        counters.Transitions.Where(t => t.Netns == inode).ToDictionary(t => (t.From, t.To), t => t.Count);

    /// <summary>Reads the counters until <paramref name="done"/> holds (the last segments of a close may still be in flight), at most 10 s.</summary>
    internal static TraceCounters WaitFor(TraceSession session, uint inode, Func<TraceCounters, bool> done)
    {
        var started = Stopwatch.StartNew();
        while (true)
        {
            var counters = session.Read(new Dictionary<Peer, long>());
            if (done(counters) || started.Elapsed > TimeSpan.FromSeconds(10))
            {
                return counters;
            }

            Thread.Sleep(50);
        }
    }

    internal static uint NamespaceInode(string name) =>
        uint.Parse(TestNamespace.Run("stat", "-L", "-c", "%i", Path.Combine("/run/netns", name)).Trim(), CultureInfo.InvariantCulture);

    private static int Pid(string? line, string word)
    {
        Assert.NotNull(line);
        Assert.StartsWith(word + " ", line, StringComparison.Ordinal);
        return int.Parse(line.AsSpan(word.Length + 1), CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^@\[([0-9]+), ([0-9]+)\]: ([0-9]+)$")]
    private static partial Regex BpftraceLine();

    private static TcpState State(string name) => Lifecycle.TryParse(name, out var state) ? state : throw new FormatException(name);

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

    public void Dispose() => _children.Dispose();
}
