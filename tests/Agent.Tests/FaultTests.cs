using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Agent.Tests.Metrics;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Core.Detection;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>
/// Injected faults, each with what the daemon must do: netlink refused (fall back to /proc, and
/// say so in the metrics), a dump failing midway (a counted failed poll, the last good result
/// kept), a proc root of garbage or of nothing (counted, never fatal), and SIGTERM in the middle
/// of a poll (a clean stop within 5 s). Vanishing pids and namespaces: OwnershipFixtureTests,
/// NetworkNamespaceTests and NamespacesLiveTests; a taken port: HttpEndpointTests.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class FaultTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sockwatch-faults-").FullName;

    [Fact]
    public void Ending_a_polls_no_gc_region_that_a_collection_already_ended_does_not_throw()
    {
        // The region is the process's: another thread can end it with a collection during the poll.
        if (GC.TryStartNoGCRegion(16L << 20))
        {
            GC.Collect();
        }

        PollLoop.EndNoGCRegion(held: true);
        PollLoop.EndNoGCRegion(held: false);
        Assert.NotEqual(System.Runtime.GCLatencyMode.NoGCRegion, System.Runtime.GCSettings.LatencyMode);
    }

    [Fact]
    public void Netlink_refused_falls_back_to_proc_and_the_collector_metric_says_so()
    {
        var options = new SockWatchOptions { ProcRoot = Repo.Fixture("proc-metrics") };
        var logger = new ListLogger();
        var auto = new AutoCollector(options.ProcRoot, logger, new Scripted(_ => throw Refused()));
        var (loop, store, pipeline, poller) = Daemon(options, auto, logger);
        using (pipeline)
        using (poller)
        {
            loop.PollOnce(poller);
            loop.PollOnce(poller);

            Assert.Equal("proc", store.Latest!.Collector);
            Assert.Equal(0, store.Failures);
            var families = pipeline.Families;
            var info = families.Single(f => f.Name == "sockwatch_collector_info").Samples.Single();
            Assert.Contains(info.Labels, l => l is { Name: "collector", Value: "proc" });
            Assert.Equal(20, families.Single(f => f.Name == "sockwatch_tcp_sockets").Samples.Sum(s => s.Value));
            Assert.Single(logger.Lines, l => l.Contains("falling back to /proc", StringComparison.Ordinal)); // once, not every poll
        }
    }

    [Fact]
    public void A_dump_failing_midway_is_a_counted_failed_poll_and_the_last_good_result_stays()
    {
        var options = new SockWatchOptions { ProcRoot = Repo.Fixture("proc-metrics"), Collector = "netlink" };
        var scripted = new Scripted(call =>
        {
            if (call == 2)
            {
                throw new CollectorException("netlink", CollectorErrorKind.DumpFailed, 16, "the dump failed midway: NLMSG_DONE carried EBUSY");
            }
        });
        var (loop, store, pipeline, poller) = Daemon(options, scripted, NullLogger.Instance);
        using (pipeline)
        using (poller)
        {
            loop.PollOnce(poller);
            var good = store.Latest;
            loop.PollOnce(poller); // fails after appending rows

            Assert.Same(good, store.Latest);
            Assert.True(store.LastAttemptFailed);
            var errors = pipeline.Families.Single(f => f.Name == "sockwatch_poll_errors").Samples.Single();
            Assert.Equal(1, errors.Value);
            Assert.Contains(errors.Labels, l => l is { Name: "reason", Value: "ebusy" });
            Assert.Contains(errors.Labels, l => l is { Name: "collector", Value: "netlink" });

            loop.PollOnce(poller); // and the next one is fine again
            Assert.False(store.LastAttemptFailed);
            Assert.NotSame(good, store.Latest);
            Assert.Equal(1, store.Latest!.Sockets);
        }
    }

    [Fact]
    public async Task A_proc_root_of_garbage_is_counted_as_malformed_and_never_fatal()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "garbage", "net")).Parent!.FullName;
        var random = new Random(7);
        var bytes = new byte[64 * 1024];
        random.NextBytes(bytes);
        File.WriteAllBytes(Path.Combine(root, "net", "tcp"), bytes);
        File.WriteAllText(Path.Combine(root, "net", "tcp6"), "  sl  local_address remote_address st\n   0: not hex at all\n   1: 0100007F:1F90\n\0\0\0\n");

        var daemon = await DaemonProcess.StartAsync(_children, ["--collector", "proc", "--proc-root", root, "--poll-interval", "1h"]);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        var body = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(ScrapeTests.Samples(body, "sockwatch_malformed_entries_total").Single().Value >= 3);
        Assert.Empty(ScrapeTests.Samples(body, "sockwatch_poll_errors_total"));
        Assert.Equal(22, ScrapeTests.Samples(body, "sockwatch_tcp_sockets").Count); // a poll, of nothing valid
    }

    [Fact]
    public async Task A_proc_root_without_tables_fails_every_poll_visibly_and_still_stops_cleanly()
    {
        var snapshot = Cli.Run("snapshot", "--collector", "proc", "--proc-root", "/etc");
        Assert.Equal(3, snapshot.ExitCode);
        Assert.Single(snapshot.StderrLines);

        var daemon = await DaemonProcess.StartAsync(_children, ["--collector", "proc", "--proc-root", "/etc", "--poll-interval", "1s"], waitForReady: false);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        await Task.Delay(2500);
        using var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("no poll has succeeded", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var body = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(ScrapeTests.Samples(body, "sockwatch_poll_errors_total").Sum(s => s.Value) >= 2);
        Assert.Equal(0, ChildProcesses.Signal(daemon.Process, ChildProcesses.SIGTERM));
        Assert.True(daemon.Process.WaitForExit(5000));
        Assert.Equal(0, daemon.Process.ExitCode);
        Assert.Contains(daemon.Output, l => l.Contains("poll failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SIGTERM_in_the_middle_of_a_poll_stops_cleanly_within_5_seconds()
    {
        // 150,000 sockets in a fixture tree: a poll takes a good part of its 1 s interval (more
        // on a loaded machine), so the signal is likely to land inside one.
        var root = Directory.CreateDirectory(Path.Combine(_dir, "big", "net")).Parent!.FullName;
        var text = new StringBuilder("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n", 150_000 * 160);
        for (var i = 0; i < 150_000; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"{i,6}: 0100007F:{1024 + (i % 60000):X4} 0200007F:{(i / 60000) + 2000:X4} 01 00000000:00000000 00:00000000 00000000  1000        0 {1_000_000 + i} 1 0 20 4 0 10 -1\n");
        }

        await File.WriteAllTextAsync(Path.Combine(root, "net", "tcp"), text.ToString());
        var daemon = await DaemonProcess.StartAsync(_children, ["--collector", "proc", "--proc-root", root, "--poll-interval", "1s"]);
        await Task.Delay(1700);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, ChildProcesses.Signal(daemon.Process, ChildProcesses.SIGTERM));
        Assert.True(daemon.Process.WaitForExit(5000), "the daemon did not stop within 5 s of SIGTERM");
        Assert.Equal(0, daemon.Process.ExitCode);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        for (var i = 0; i < 40 && !daemon.Output.Any(l => l.Contains("stopping after", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(50); // the last lines of stdout are read after the exit
        }

        Assert.Contains(daemon.Output, l => l.Contains("stopping after", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _children.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static CollectorException Refused() =>
        new("netlink", CollectorErrorKind.DumpRefused, 1, "the kernel refused the sock_diag dump: EPERM (a seccomp filter)");

    private static (PollLoop Loop, PollResultStore Store, MetricsPipeline Pipeline, PollPipeline Poller) Daemon(SockWatchOptions options, ISocketCollector self, ILogger logger)
    {
        var pipeline = new MetricsPipeline(options, NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(pipeline, options.CloseWaitLeakAfter);
        var namespaces = new NamespaceCollector(NamespaceSelection.Self, CollectorKind.Auto, options.ProcRoot, logger, null, self);
        var poller = new PollPipeline(PollSettings.For(options, NamespaceSelection.Self), logger, namespaces);
        return (new PollLoop(options, store, pipeline, NullLogger<PollLoop>.Instance, TimeProvider.System), store, pipeline, poller);
    }

    /// <summary>A netlink stand-in: each call appends one established socket, then does what the script says for that call (1-based).</summary>
    private sealed class Scripted(Action<int> script) : ISocketCollector
    {
        private int _calls;

        public string Name => "netlink";

        public CollectionStats Append(SocketTable table, CollectRequest request)
        {
            var start = table.Count;
            ref var r = ref table.Append();
            r.Family = SocketFamily.Inet;
            r.State = TcpState.Established;
            r.Inode = 424242;
            try
            {
                script(++_calls);
            }
            catch
            {
                table.Truncate(start); // as a collector does: a failed append leaves the table as it was
                throw;
            }

            return new CollectionStats { Collector = Name };
        }

        public void Dispose()
        {
        }
    }
}
