using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Facts;
using SockWatch.Collectors.Namespaces;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;

namespace SockWatch.Bench;

/// <summary>
/// Every network namespace (bench/netns.sh drives it), run in the host's namespace:
/// <list type="bullet">
/// <item><c>--netns PATTERN --netns-dump NAME</c>: full polls as the daemon runs them
/// (<see cref="NamespaceCollector"/> with the selection PATTERN, netlink, the daemon's request,
/// facts read; then <see cref="OwnerResolver.Resolve(SocketTable, IReadOnlyList{ValueTuple{int, int}}?)"/>
/// with one resolver across polls), interleaved round by round with one netlink dump of the
/// namespace NAME, made on a thread that entered it. Items: <c>netns_poll_first</c> (the
/// process's first poll: JIT, every namespace's netlink socket opened, owners cold),
/// <c>netns_poll</c> (steady, after warm-up, the daemon's netns_redump_after: a namespace whose
/// counters stood still is carried; polls <c>--netns-interval</c> apart, default 15 s, the
/// daemon's poll_interval), <c>netns_poll_redump_all</c> (the same polls with every namespace
/// dumped, as when every one moved), <c>netns_poll_cold</c> (a new collector and
/// resolver, JIT warm: sockets opened and owners cold again), <c>netlink_setns</c> (one dump of
/// NAME, <see cref="CollectRequest.All"/>, as the <c>netlink</c> item) and
/// <c>netlink_setns_daemon</c> (the same with the daemon's request).</item>
/// <item><c>--netns PATTERN --breakdown</c>: the parts of a poll one at a time: discovery,
/// a thread started and joined, setns into each namespace, a netlink socket opened in each,
/// the dumps, the facts, owners (steady and cold), and the whole poll again (every namespace dumped).</item>
/// </list>
/// CPU is the process's (getrusage RUSAGE_SELF: every thread, the kernel's work included);
/// a poll's own thread is counted once it has ended, which it has when Collect returns.
/// </summary>
internal static partial class Program
{
    private const string ThreadNet = "thread-self/net";
    private const int ColdOwnerIterations = 3;

    /// <summary>What the daemon asks for: tcp_info only for close_wait and fin_wait2.</summary>
    private static readonly CollectRequest DaemonRequest = PollSettings.TrackingRequest;

    /// <summary>The daemon's netns_redump_after.</summary>
    private static readonly TimeSpan DaemonRedumpAfter = TimeSpan.FromMinutes(10);

    private static int Netns(string pattern, string? dumpName, string? emptyName, bool breakdown, int iterations, TimeSpan interval)
    {
        if (NamespaceSelection.TryParse(pattern, null, out var reason) is not { } selection)
        {
            Console.Error.WriteLine($"SockWatch.Bench: --netns {pattern}: {reason}");
            return 2;
        }

        if (!NamespaceEntry.CanEnter())
        {
            Console.Error.WriteLine("SockWatch.Bench: --netns needs CAP_SYS_ADMIN (run as root)");
            return 2;
        }

        if (breakdown)
        {
            return Breakdown(selection, emptyName is null ? null : Named(emptyName), iterations);
        }

        if ((dumpName is null ? null : Named(dumpName)) is not { } big)
        {
            Console.Error.WriteLine("SockWatch.Bench: --netns needs --netns-dump NAME (an existing /run/netns name: the namespace of the single dump) or --breakdown");
            return 2;
        }

        var samples = new Dictionary<string, List<Sample>>
        {
            ["netns_poll_first"] = [], ["netns_poll"] = [], ["netns_poll_redump_all"] = [], ["netns_poll_cold"] = [], ["netlink_setns"] = [], ["netlink_setns_daemon"] = [],
        };

        // The daemon's default: a namespace whose counters stood still since its last dump is
        // carried; and the same polls with every namespace dumped, as when all of them moved.
        using var poll = new FullPoll(selection, DaemonRedumpAfter);
        using var every = new FullPoll(selection, TimeSpan.Zero);
        samples["netns_poll_first"].Add(poll.Run());

        using var inside = new InNamespace(big);
        using var dumpAll = new NetlinkCollector();
        using var dumpDaemon = new NetlinkCollector();
        var dumpTable = new SocketTable(1024);
        Sample Dump(NetlinkCollector collector, CollectRequest request) =>
            Sample.Measure(() => inside.Run(() => collector.Collect(dumpTable, request)), () => dumpTable.Count);

        // warm-up: one round (a poll can cost seconds: with the table the host shares, the kernel walks all of it for each namespace)
        var lastPoll = Stopwatch.GetTimestamp();
        poll.Run();
        every.Run();
        Dump(dumpAll, CollectRequest.All);
        Dump(dumpDaemon, DaemonRequest);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        for (var i = 0; i < iterations; i++)
        {
            // The carrying poller's polls are an interval apart, as the daemon's are: what a poll
            // finds moved is what moved in one interval (time_wait sets rebuilt, their timers).
            // When the rest of a round takes longer, the interval is that much longer.
            var wait = interval - Stopwatch.GetElapsedTime(lastPoll);
            if (wait > TimeSpan.Zero)
            {
                Thread.Sleep(wait);
            }

            lastPoll = Stopwatch.GetTimestamp();
            samples["netns_poll"].Add(poll.Run());

            // alternate who goes first, so that neither always pays the other's garbage
            if (i % 2 == 0)
            {
                samples["netns_poll_redump_all"].Add(every.Run());
            }

            samples["netlink_setns"].Add(Dump(dumpAll, CollectRequest.All));
            samples["netlink_setns_daemon"].Add(Dump(dumpDaemon, DaemonRequest));
            if (i % 2 == 1)
            {
                samples["netns_poll_redump_all"].Add(every.Run());
            }
        }

        using (var cold = new FullPoll(selection, DaemonRedumpAfter))
        {
            samples["netns_poll_cold"].Add(cold.Run());
        }

        foreach (var (name, list) in samples)
        {
            Print(name, list);
        }

        return 0;
    }

    /// <summary>The namespace /run/netns/NAME; null when there is none.</summary>
    private static NetworkNamespace? Named(string name)
    {
        var path = "/run/netns/" + name;
        return NamespaceDiscovery.InodeOf(path) is { } inode && inode != 0 ? new NetworkNamespace(inode, name, path, false) : null;
    }

    /// <summary>
    /// The parts, one at a time. The heavy ones get one warm-up (the dumps) or none (the poll,
    /// after the one that filled the table); with
    /// <paramref name="empty"/>, also one dump of a namespace without sockets, which costs what
    /// the kernel's walk of its shared tables costs.
    /// </summary>
    private static int Breakdown(NamespaceSelection selection, NetworkNamespace? empty, int iterations)
    {
        var all = NamespaceDiscovery.Discover("/proc");
        var watched = all.Where(n => selection.Includes(n) && !n.IsSelf).ToList();
        var matched = 0;
        Emit("netns_discovery", iterations, () => matched = NamespaceDiscovery.Discover("/proc").Count(selection.Includes), () => matched,
            extras: new() { ["discovered"] = all.Count, ["processes"] = CountProcesses() });

        Emit("thread_start_join", iterations, () =>
        {
            var t = new Thread(() => { });
            t.Start();
            t.Join();
        }, () => 0);

        var entered = 0;
        Emit("netns_enter", iterations, () => entered = NamespaceEntry.RunInEach(watched, (_, _) => { }).Count(e => e == EntryFailure.None), () => entered);

        Emit("netns_socket_open", iterations, () => NamespaceEntry.RunInEach(watched, (_, _) =>
        {
            using var c = new NetlinkCollector();
            c.Open();
        }), () => watched.Count);

        var collectors = watched.Select(_ => new NetlinkCollector()).ToArray();
        // As NamespaceCollector reads them: every namespace appended to one table.
        var shared = new SocketTable(256);
        Emit("netns_dumps", iterations, () =>
        {
            shared.Clear();
            NamespaceEntry.RunInEach(watched, (_, i) => collectors[i].Append(shared, DaemonRequest));
        }, () => shared.Count, warmups: 1);
        foreach (var c in collectors)
        {
            c.Dispose();
        }

        // As the daemon reads them: the files opened in the first read (the warm-up) stay open.
        var facts = watched.Select(_ => new NamespaceFactsReader("/proc", ThreadNet, keepOpen: true)).ToArray();
        Emit("netns_facts", iterations, () => NamespaceEntry.RunInEach(watched, (_, i) => facts[i].Read()), () => watched.Count, warmups: 1);
        foreach (var f in facts)
        {
            f.Dispose();
        }

        // Every namespace dumped, as the parts above measure them.
        using var poll = new FullPoll(selection, TimeSpan.Zero);
        poll.Run();
        var attributed = 0;
        Emit("owners_steady", iterations, () => attributed = poll.Owners.Resolve(poll.Table, poll.Segments).Owners.Count(o => o is not null), () => attributed);
        Emit("owners_cold", ColdOwnerIterations, () => attributed = new OwnerResolver("/proc", NullLogger.Instance).Resolve(poll.Table, poll.Segments).Owners.Count(o => o is not null), () => attributed, warmups: 1);
        Emit("netns_poll", iterations, () => poll.Run(), () => poll.Table.Count, warmups: 0);
        if (empty is not null)
        {
            using var inside = new InNamespace(empty);
            using var collector = new NetlinkCollector();
            var table = new SocketTable(16);
            Emit("dump_empty_all", iterations, () => inside.Run(() => collector.Collect(table, CollectRequest.All)), () => table.Count);
            Emit("dump_empty_daemon", iterations, () => inside.Run(() => collector.Collect(table, DaemonRequest)), () => table.Count);
        }

        return 0;
    }

    private static int CountProcesses() =>
        Directory.GetDirectories("/proc").Count(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out _));

    private static void Print(string name, List<Sample> samples)
    {
        var doc = new Dictionary<string, object>
        {
            ["name"] = name,
            ["sockets"] = samples.Count > 0 ? samples[^1].Sockets : 0,
            ["sockets_each"] = samples.Select(s => s.Sockets),
            ["cpu_ms"] = samples.Select(s => s.CpuMs),
            ["wall_ms"] = samples.Select(s => s.WallMs),
            ["alloc_bytes"] = samples.Select(s => s.AllocBytes),
        };
        if (samples.Any(s => s.Poll is not null))
        {
            var polls = samples.Select(s => s.Poll!).ToList();
            doc["table_rows_each"] = polls.Select(p => p.TableRows);
            doc["namespaces_each"] = polls.Select(p => p.Namespaces);
            doc["vanished_each"] = polls.Select(p => p.Vanished);
            doc["denied_each"] = polls.Select(p => p.Denied);
            doc["failed"] = polls.SelectMany(p => p.Failed).Distinct().Take(20);
            doc["discovered_each"] = polls.Select(p => p.Discovered);
            doc["attributed_each"] = polls.Select(p => p.Attributed);
            doc["discovery_cpu_ms"] = polls.Select(p => p.DiscoveryCpuMs);
            doc["discovery_wall_ms"] = polls.Select(p => p.DiscoveryWallMs);
            doc["collect_cpu_ms"] = polls.Select(p => p.CollectCpuMs);
            doc["collect_wall_ms"] = polls.Select(p => p.CollectWallMs);
            doc["owners_cpu_ms"] = polls.Select(p => p.OwnersCpuMs);
            doc["collect_alloc_bytes"] = polls.Select(p => p.CollectAllocBytes);
            doc["owners_alloc_bytes"] = polls.Select(p => p.OwnersAllocBytes);
            doc["owners_wall_ms"] = polls.Select(p => p.OwnersWallMs);
            doc["dumped_each"] = polls.Select(p => p.Dumped);
            doc["carried_each"] = polls.Select(p => p.Carried);
            doc["empty_each"] = polls.Select(p => p.Empty);
            doc["owner_scans"] = polls.Select(p => new
            {
                new_processes = p.Scan.NewProcesses, rescanned = p.Scan.Rescanned, for_unplaced = p.Scan.RescannedForUnplaced,
                unplaced = p.Scan.UnplacedAfterFirstPass, descriptors = p.Scan.DescriptorsRead,
            });
        }

        Console.WriteLine(JsonSerializer.Serialize(doc));
    }

    private sealed record PollParts(
        int TableRows, int Namespaces, int Vanished, int Denied, IReadOnlyList<string> Failed, int Discovered, int Attributed,
        double DiscoveryCpuMs, double DiscoveryWallMs, double CollectCpuMs, double CollectWallMs, double OwnersCpuMs, double OwnersWallMs,
        long CollectAllocBytes, long OwnersAllocBytes, int Dumped, int Carried, int Empty, OwnerScanStats Scan);

    /// <summary>One measured run: CPU and wall, managed bytes allocated by every thread, sockets; the parts of a poll.</summary>
    private sealed record Sample(double CpuMs, double WallMs, long AllocBytes, int Sockets, PollParts? Poll = null)
    {
        public static Sample Measure(Action run, Func<int> sockets)
        {
            var a0 = GC.GetTotalAllocatedBytes(precise: true);
            var c0 = CpuMilliseconds();
            var w0 = Stopwatch.GetTimestamp();
            run();
            var w1 = Stopwatch.GetTimestamp();
            var c1 = CpuMilliseconds();
            var a1 = GC.GetTotalAllocatedBytes(precise: true);
            return new Sample(c1 - c0, Stopwatch.GetElapsedTime(w0, w1).TotalMilliseconds, a1 - a0, sockets());
        }
    }

    /// <summary>
    /// A full poll as the daemon runs it: the product's <see cref="PollPipeline"/> with the
    /// daemon's settings (netlink, tcp_info for close_wait and fin_wait2, facts, owners), less
    /// the track and detect stages, which cost nothing here. Discovery is timed on its own
    /// through the collector's discovery hook; the collection (from the start of the poll to
    /// the end of the dump stage, facts included) and the owners (the rest) are split by the
    /// process's CPU time at the end of the dump stage.
    /// </summary>
    private sealed class FullPoll : IDisposable
    {
        private readonly PollPipeline _pipeline;
        private double _discoveryCpu;
        private double _discoveryWall;
        private int _discovered;

        /// <param name="redumpAfter">As <c>netns_redump_after</c>: zero dumps every namespace every poll.</param>
        public FullPoll(NamespaceSelection selection, TimeSpan redumpAfter)
        {
            Owners = new OwnerResolver("/proc", NullLogger.Instance);
            var settings = new PollSettings { Collector = CollectorKind.Netlink, Namespaces = selection, RedumpAfter = redumpAfter, Request = DaemonRequest };
            var collector = new NamespaceCollector(selection, CollectorKind.Netlink, "/proc", NullLogger.Instance, Discover) { RedumpAfter = redumpAfter };
            _pipeline = new PollPipeline(settings, NullLogger.Instance, collector, Owners.Resolve);
        }

        /// <summary>The pipeline's owner resolver, one across polls as the daemon's.</summary>
        public OwnerResolver Owners { get; }

        /// <summary>The last poll's table: made afresh for each poll, as the daemon's is (see Run).</summary>
        public SocketTable Table { get; private set; } = new(1024);

        public IReadOnlyList<(int Start, int Count)> Segments { get; private set; } = [];

        public Sample Run()
        {
            Poll? poll = null;
            double collectCpu = 0, collectWall = 0;
            long collectAlloc = 0;
            var sample = Sample.Measure(
                () =>
                {
                    var c0 = CpuMilliseconds();
                    var w0 = Stopwatch.GetTimestamp();
                    var a0 = GC.GetTotalAllocatedBytes(precise: true);
                    // As the daemon polls (PollLoop): its scratch was let go after the last poll,
                    // so the pipeline makes the table again, sized by this namespace's sockstat or
                    // the last poll's count, and faults it in at once.
                    _pipeline.ReleaseScratch();
                    _pipeline.StageEnded = report =>
                    {
                        if (report.Stage == PollStage.Dump)
                        {
                            collectCpu = CpuMilliseconds() - c0;
                            collectWall = Stopwatch.GetElapsedTime(w0).TotalMilliseconds;
                            collectAlloc = GC.GetTotalAllocatedBytes(precise: true) - a0;
                        }
                    };
                    poll = _pipeline.Run(DateTimeOffset.UtcNow);
                },
                () => poll!.Count);
            var collection = poll!.Collection;
            Table = poll.Table;
            Segments = [.. collection.Segments.Select(s => (s.Start, s.Count))];
            var parts = new PollParts(
                Table.Count, collection.Segments.Count, collection.Vanished, collection.Denied, collection.Failed, _discovered,
                poll.Count - poll.Unowned,
                _discoveryCpu, _discoveryWall, collectCpu, collectWall, sample.CpuMs - collectCpu, sample.WallMs - collectWall,
                collectAlloc, sample.AllocBytes - collectAlloc,
                collection.Count(NamespaceRead.Dumped), collection.Count(NamespaceRead.Carried), collection.Count(NamespaceRead.Empty),
                poll.OwnerStats ?? new OwnerScanStats());
            return sample with { Poll = parts };
        }

        public void Dispose() => _pipeline.Dispose();

        private IReadOnlyList<NetworkNamespace> Discover()
        {
            var c0 = CpuMilliseconds();
            var w0 = Stopwatch.GetTimestamp();
            var found = NamespaceDiscovery.Discover("/proc");
            _discoveryCpu = CpuMilliseconds() - c0;
            _discoveryWall = Stopwatch.GetElapsedTime(w0).TotalMilliseconds;
            _discovered = found.Count;
            return found;
        }
    }

    /// <summary>A thread that entered one namespace and stays there, running what it is handed, one at a time.</summary>
    private sealed class InNamespace : IDisposable
    {
        private readonly Thread _thread;
        private readonly SemaphoreSlim _go = new(0);
        private readonly SemaphoreSlim _done = new(0);
        private Action? _work;
        private Exception? _error;
        private bool _stop;

        public InNamespace(NetworkNamespace ns)
        {
            var entry = EntryFailure.Vanished;
            _thread = new Thread(() =>
            {
                entry = NamespaceEntry.Enter(ns);
                _done.Release();
                while (entry == EntryFailure.None)
                {
                    _go.Wait();
                    if (_stop)
                    {
                        return;
                    }

                    try
                    {
                        _work!();
                    }
                    catch (Exception e)
                    {
                        _error = e;
                    }

                    _done.Release();
                }
            })
            {
                IsBackground = true,
                Name = "bench-netns",
            };
            _thread.Start();
            _done.Wait();
            if (entry != EntryFailure.None)
            {
                throw new InvalidOperationException($"cannot enter {ns.Name}: {entry}");
            }
        }

        public void Run(Action work)
        {
            _work = work;
            _error = null;
            _go.Release();
            _done.Wait();
            if (_error is { } e)
            {
                ExceptionDispatchInfo.Throw(e);
            }
        }

        public void Dispose()
        {
            _stop = true;
            _go.Release();
            _thread.Join();
            _go.Dispose();
            _done.Dispose();
        }
    }
}
