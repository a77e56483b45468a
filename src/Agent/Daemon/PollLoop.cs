using System.Diagnostics;
using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Interop;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// The daemon's one poll loop. A PeriodicTimer paces it: ticks keep to the interval from the
/// start (no drift from the time a poll takes), a poll never overlaps the next (the loop awaits
/// each poll), and a poll slower than the interval is logged while the missed ticks collapse
/// into one instead of stacking up. Findings are logged when they appear and when they clear,
/// so the journal tells the story of a leak without repeating it every 15 seconds.
/// </summary>
/// <param name="tracer">The kernel tracer when it runs: exact counts for the metrics, the findings and the page's edges; none: the page infers transitions from polls.</param>
internal sealed partial class PollLoop(SockWatchOptions options, PollResultStore store, Metrics.MetricsPipeline metrics, ILogger<PollLoop> logger, TimeProvider time, Tracing.Tracer? tracer = null)
    : BackgroundService
{
    private readonly Diagram.DiagramBuilder _diagram = new();
    private readonly TracedTransitions _traced = new();

    /// <summary>The reason label of a poll that failed with an exception no stage expected.</summary>
    internal const string UnexpectedReason = "unexpected";

    private readonly Dictionary<(FindingKind, string, int), Finding> _active = [];
    private readonly Tracing.TraceFindings _traceFindings = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = PollSettings.For(options, options.Namespaces("all")) with { RedumpAfter = options.NetnsRedumpAfter };
        using var pipeline = new PollPipeline(settings, logger);
        if (tracer is not null)
        {
            // close_wait ages exact from the peer's FIN for the sockets whose entry the tracer saw
            pipeline.CloseWaitEntries = tracer.CloseWaitEntries;
        }

        LogStarted(logger, pipeline.CollectorName, options.PollInterval.TotalSeconds);

        using var timer = new PeriodicTimer(options.PollInterval, time);
        do
        {
            var held = HoldCollections();
            try
            {
                PollOnce(pipeline);
            }
            finally
            {
                EndHold(held);
            }

            var cpu = CpuIfDebug();
            var released = Stopwatch.GetTimestamp();
            ReleaseBetweenPolls(pipeline);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                var releasedMs = Stopwatch.GetElapsedTime(released).TotalMilliseconds;
                var releasedCpu = CpuIfDebug() - cpu;
                LogReleased(logger, releasedMs, releasedCpu.TotalMilliseconds);
            }
        }
        while (await WaitForNextTick(timer, stoppingToken).ConfigureAwait(false));

        LogStopping(logger, store.Polls);
    }

    /// <summary>What the last poll allocated, process-wide: the next poll's no-GC region is sized on it.</summary>
    private long _pollAllocated = 64L << 20;

    /// <summary>
    /// A poll allocates its large arrays afresh (the table, the tracker's tables, the owners), all
    /// alive until it ends, and the collection between polls frees them all; collections in the
    /// middle of a poll (set off by the large-object budget, which that collection leaves small)
    /// find nothing to free. So the poll runs in a no-GC region sized on the last poll's
    /// allocation; where the GC cannot promise that much, the poll runs as before
    /// (bench/results/2026-12-08-daemon-attribution.md).
    /// </summary>
    private (bool Held, long Allocated) HoldCollections()
    {
        var allocated = GC.GetTotalAllocatedBytes(precise: false);
        try
        {
            var size = _pollAllocated + (_pollAllocated / 4) + (8L << 20);
            return (GC.TryStartNoGCRegion(size, disallowFullBlockingGC: true), allocated);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            return (false, allocated);
        }
    }

    private void EndHold((bool Held, long Allocated) hold)
    {
        _pollAllocated = Math.Max(1L << 20, GC.GetTotalAllocatedBytes(precise: false) - hold.Allocated);
        EndNoGCRegion(hold.Held);
    }

    /// <summary>
    /// Ends the poll's no-GC region if it is still in effect. The region is the whole process's:
    /// another thread (the endpoint, the host stopping on SIGTERM) can allocate past its budget, or
    /// a collection can be induced, between the check and the call, and then EndNoGCRegion throws.
    /// That only means a collection ran during the poll; it must not end the loop.
    /// </summary>
    internal static void EndNoGCRegion(bool held)
    {
        if (!held || GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
        {
            return;
        }

        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // the region had already ended: a collection ran during the poll
        }
    }

    private static async Task<bool> WaitForNextTick(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// The daemon sleeps for nearly all of every interval, so what a poll needs only while it
    /// runs is given back: the poller's scratch (the socket table is 120 bytes a socket), then
    /// one blocking collection that compacts the large-object heap and returns the free pages
    /// to the kernel, then the free pages of the C library's arenas. Without the collection,
    /// arrays whose size follows the socket count leave holes in the large-object heap, which
    /// is never compacted on its own, and the RSS creeps up. The price is about 10 ms of
    /// collection a poll at 100,000 sockets and the page faults of the next poll's table
    /// (bench/results: RSS and CPU with and without).
    /// </summary>
    private static void ReleaseBetweenPolls(PollPipeline pipeline)
    {
        pipeline.ReleaseScratch();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        NativeHeap.Trim();
    }

    /// <summary>
    /// One poll, published. The loop's error boundary: a poll that throws, for whatever reason,
    /// is logged and counted as a failed poll, the last good result stays, and the loop goes on.
    /// </summary>
    internal void PollOnce(PollPipeline pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var at = time.GetUtcNow();
            var cpu = CpuIfDebug();
            var poll = pipeline.Run(at);
            var ran = Stopwatch.GetTimestamp();
            var cpuRan = CpuIfDebug();
            var findings = poll.Findings;
            var view = Metrics.PollMetrics.Build(poll, options.CloseWaitLeakAfter, metrics.Caps);
            Metrics.TraceMetrics? traced = null;
            if (tracer is not null)
            {
                var counters = tracer.Counters();
                traced = TraceView(poll, tracer, counters);
                // the kernel's close delays are read only for a poll with a leak to explain
                var delays = findings.Any(f => f.Kind == FindingKind.CloseWaitLeak) ? tracer.CloseDelays() : [];
                findings = _traceFindings.Enrich(findings, counters, delays, (netns, pid) => OldestTracedCloseWait(poll, netns, pid), at, name => InodeOf(poll, name));
            }
            var built = Stopwatch.GetTimestamp();
            var cpuBuilt = CpuIfDebug();
            var duration = Stopwatch.GetElapsedTime(started);
            var diagram = _diagram.Build(poll, view, duration, _traced.Since(traced, at));
            var counts = poll.Table.CountByState();
            store.Publish(new PollResult(
                at, duration, poll.Collector, poll.Count, counts, poll.Stats, findings, poll.Unowned, view, poll.Namespaces.Count)
            {
                Reads = new(poll.Collection.Count(NamespaceRead.Dumped), poll.Collection.Count(NamespaceRead.Carried), poll.Collection.Count(NamespaceRead.Empty)),
                Stages = poll.Stages,
                Diagram = diagram,
                Trace = traced,
            });
            if (logger.IsEnabled(LogLevel.Debug))
            {
                var pipelineMs = Stopwatch.GetElapsedTime(started, ran).TotalMilliseconds;
                var buildMs = Stopwatch.GetElapsedTime(ran, built).TotalMilliseconds;
                var publishMs = Stopwatch.GetElapsedTime(built).TotalMilliseconds;
                var publishCpu = CpuIfDebug() - cpuBuilt;
                LogPollCost(logger, pipelineMs, (cpuRan - cpu).TotalMilliseconds, buildMs, (cpuBuilt - cpuRan).TotalMilliseconds, publishMs, publishCpu.TotalMilliseconds);
            }

            Report(findings);
            LogPolled(logger, poll.Count, counts[(int)TcpState.CloseWait], counts[(int)TcpState.TimeWait], findings.Count, duration.TotalMilliseconds);
            if (duration > options.PollInterval)
            {
                LogSlowPoll(logger, duration.TotalSeconds, options.PollInterval.TotalSeconds);
            }
        }
        catch (CollectorException e)
        {
            store.Failed(e.Collector, e.Reason);
            LogPollFailed(logger, e.Collector, e.Reason, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            store.Failed(pipeline.CollectorName, UnexpectedReason);
            LogPollCrashed(logger, e.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// The earliest traced close_wait entry among the sockets of process <paramref name="pid"/>
    /// in namespace <paramref name="netns"/> (an inode) in this poll; null when none is traced.
    /// </summary>
    private static DateTimeOffset? OldestTracedCloseWait(Poll poll, uint netns, int pid)
    {
        DateTimeOffset? oldest = null;
        foreach (var ns in poll.Namespaces)
        {
            if ((uint)ns.Namespace.Inode != netns)
            {
                continue;
            }

            var input = ns.Input;
            var sockets = input.Sockets.Span;
            for (var i = 0; i < sockets.Length; i++)
            {
                if (sockets[i].State == TcpState.CloseWait && input.OwnerAt(i)?.Pid == pid
                    && input.CloseWaitEntries.TryGetValue(sockets[i].Cookie, out var entered) && (oldest is null || entered < oldest))
                {
                    oldest = entered;
                }
            }
        }

        return oldest;
    }

    /// <summary>The tracer's counters now, with the poll's names for the namespaces.</summary>
    private Metrics.TraceMetrics TraceView(Poll poll, Tracing.Tracer traced, Tracing.TraceCounters counters)
    {
        var names = new Dictionary<uint, string>();
        foreach (var ns in poll.Namespaces)
        {
            names.TryAdd((uint)ns.Namespace.Inode, Metrics.PollMetrics.Label(ns.Namespace.Name));
        }

        traced.BeginRound();
        return Metrics.TraceMetrics.Build(counters, names, traced.UnitOf, metrics.Caps);
    }

    /// <summary>The inode of a finding's namespace (by name; null: this process's).</summary>
    private static uint InodeOf(Poll poll, string? name)
    {
        foreach (var ns in poll.Namespaces)
        {
            if (name is null ? ns.Namespace.IsSelf : ns.Namespace.Name == name)
            {
                return (uint)ns.Namespace.Inode;
            }
        }

        return 0;
    }

    /// <summary>The process's CPU time (a getrusage), read only when the Debug cost lines will be written.</summary>
    private TimeSpan CpuIfDebug() => logger.IsEnabled(LogLevel.Debug) ? Environment.CpuUsage.TotalTime : TimeSpan.Zero;

    private void Report(IReadOnlyList<Finding> findings)
    {
        var seen = new HashSet<(FindingKind, string, int)>();
        foreach (var f in findings)
        {
            var key = (f.Kind, f.Netns is null ? f.Subject : $"{f.Subject} (netns {f.Netns})", f.Owner?.Pid ?? 0);
            seen.Add(key);
            if (_active.TryAdd(key, f))
            {
                var kind = FindingKinds.NameOf(f.Kind);
                LogFinding(logger, kind, f.Explanation);
            }
            else
            {
                _active[key] = f;
            }
        }

        foreach (var key in _active.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            var kind = FindingKinds.NameOf(key.Item1);
            LogCleared(logger, kind, key.Item2);
            _active.Remove(key);
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "polling through {Collector} every {IntervalSeconds} s")]
    private static partial void LogStarted(ILogger logger, string collector, double intervalSeconds);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "poll: {Sockets} sockets, {CloseWait} close_wait, {TimeWait} time_wait, {Findings} findings in {Milliseconds:0.0} ms")]
    private static partial void LogPolled(ILogger logger, int sockets, int closeWait, int timeWait, int findings, double milliseconds);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "a poll took {Seconds:0.00} s, longer than the {IntervalSeconds} s interval; the missed tick was not stacked")]
    private static partial void LogSlowPoll(ILogger logger, double seconds, double intervalSeconds);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "poll failed ({Collector}, {Reason}): {Message}")]
    private static partial void LogPollFailed(ILogger logger, string collector, string reason, string message);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "{Kind}: {Explanation}")]
    private static partial void LogFinding(ILogger logger, string kind, string explanation);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "{Kind} cleared: {Subject}")]
    private static partial void LogCleared(ILogger logger, string kind, string subject);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "poll failed unexpectedly ({Type}: {Message}); counted as a failed poll, the last good result stays")]
    private static partial void LogPollCrashed(ILogger logger, string type, string message);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Debug, Message = "poll cost, wall / process CPU: pipeline {PipelineMs:0.0} / {PipelineCpuMs:0.0} ms, metrics view {BuildMs:0.0} / {BuildCpuMs:0.0} ms, publish {PublishMs:0.0} / {PublishCpuMs:0.0} ms")]
    private static partial void LogPollCost(ILogger logger, double pipelineMs, double pipelineCpuMs, double buildMs, double buildCpuMs, double publishMs, double publishCpuMs);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Debug, Message = "released between polls in {Milliseconds:0.0} ms, process CPU {CpuMs:0.0} ms")]
    private static partial void LogReleased(ILogger logger, double milliseconds, double cpuMs);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "stopping after {Polls} polls")]
    private static partial void LogStopping(ILogger logger, long polls);
}
