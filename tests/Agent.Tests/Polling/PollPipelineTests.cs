using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Polling;

/// <summary>
/// The one poll pipeline on the proc-metrics fixture tree: every stage reported in order with
/// its success, a failing stage that does not lose the others' results, and the daemon's loop
/// as an error boundary for anything a poll throws.
/// </summary>
public sealed class PollPipelineTests
{
    private static readonly SockWatchOptions Options = new() { ProcRoot = Repo.Fixture("proc-metrics"), Collector = "proc" };

    [Fact]
    public void Every_stage_runs_in_order_and_reports_success()
    {
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), NullLogger.Instance);
        var poll = pipeline.Run(DateTimeOffset.UnixEpoch);

        Assert.Equal(PollStages.All, poll.Stages.Select(s => s.Stage));
        Assert.All(poll.Stages, s => Assert.True(s.Success, PollStages.NameOf(s.Stage)));
        Assert.All(poll.Stages, s => Assert.True(s.Duration >= TimeSpan.Zero));
        Assert.Equal(20, poll.Count);
        Assert.True(poll.HasOwners);
        Assert.True(poll.Count - poll.Unowned > 0);
        var ns = Assert.Single(poll.Namespaces);
        Assert.NotNull(ns.Track);
        Assert.Equal(ns.Count, ns.Track.AgeInState.Count);
    }

    [Fact]
    public void Snapshot_settings_run_only_the_stages_asked_for()
    {
        var settings = new PollSettings { Collector = CollectorKind.Proc, ProcRoot = Options.ProcRoot, Owners = false, Facts = false };
        using var pipeline = new PollPipeline(settings, NullLogger.Instance);
        var poll = pipeline.Run(DateTimeOffset.UnixEpoch);

        Assert.Equal([PollStage.Discover, PollStage.Dump], poll.Stages.Select(s => s.Stage));
        Assert.False(poll.HasOwners);
        Assert.Equal(poll.Count, poll.Unowned);
        Assert.Empty(poll.Findings);
    }

    [Fact]
    public void Each_socket_is_one_view_of_its_record_owner_namespace_and_age()
    {
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), NullLogger.Instance);
        var poll = pipeline.Run(DateTimeOffset.UnixEpoch);

        var ns = poll.Namespaces.Single();
        for (var i = 0; i < poll.Count; i++)
        {
            var socket = poll[i];
            Assert.Equal(poll.Table.Records[i], socket.Record);
            Assert.Same(ns, socket.Namespace);
            Assert.Equal(ns.Input.OwnerAt(i), socket.Owner);
            Assert.Equal(socket.Owner is null, socket.Unowned != UnownedReason.None);
            Assert.Equal(ns.Track!.AgeInState[i], socket.AgeInState);
        }
    }

    [Fact]
    public void A_failed_owner_scan_keeps_the_counts_marks_its_stage_and_says_so_once()
    {
        var logger = new ListLogger();
        var namespaces = new NamespaceCollector(NamespaceSelection.Self, CollectorKind.Proc, Options.ProcRoot, logger);
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), logger, namespaces, (_, _) => throw new IOException("/proc went away"));

        var first = pipeline.Run(DateTimeOffset.UnixEpoch);
        var second = pipeline.Run(DateTimeOffset.UnixEpoch.AddSeconds(15));

        Assert.Equal(20, second.Count);
        Assert.False(second.HasOwners);
        Assert.Equal(second.Count, second.Unowned);
        Assert.False(second.Stages.Single(s => s.Stage == PollStage.Owners).Success);
        Assert.All(second.Stages.Where(s => s.Stage != PollStage.Owners), s => Assert.True(s.Success, PollStages.NameOf(s.Stage)));
        Assert.Contains(second.Stages, s => s.Stage == PollStage.Detect);
        Assert.Single(logger.Lines, l => l.Contains("owners stage", StringComparison.Ordinal) && l.Contains("/proc went away", StringComparison.Ordinal));
        Assert.Equal(first.Count, second.Count);
    }

    [Fact]
    public void A_stage_that_fails_again_after_recovering_is_logged_again()
    {
        var logger = new ListLogger();
        var calls = 0;
        var namespaces = new NamespaceCollector(NamespaceSelection.Self, CollectorKind.Proc, Options.ProcRoot, logger);
        var resolver = new Collectors.Ownership.OwnerResolver(Options.ProcRoot, logger);
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), logger, namespaces, (table, segments) =>
            ++calls is 1 or 2 or 4 ? throw new IOException("scan " + calls) : resolver.Resolve(table, segments));

        var owners = Enumerable.Range(0, 4).Select(i => pipeline.Run(DateTimeOffset.UnixEpoch.AddSeconds(15 * i)).Stages.Single(s => s.Stage == PollStage.Owners).Success).ToList();

        Assert.Equal([false, false, true, false], owners);
        Assert.Equal(["scan 1", "scan 4"], logger.Lines.Where(l => l.Contains("owners stage", StringComparison.Ordinal)).Select(l => l.Contains("scan 1", StringComparison.Ordinal) ? "scan 1" : "scan 4"));
    }

    [Fact]
    public void The_daemon_publishes_the_counts_of_a_poll_whose_owner_scan_failed()
    {
        using var metrics = new MetricsPipeline(Options, NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(metrics, Options.CloseWaitLeakAfter);
        var loop = new PollLoop(Options, store, metrics, NullLogger<PollLoop>.Instance, TimeProvider.System);
        var namespaces = new NamespaceCollector(NamespaceSelection.Self, CollectorKind.Proc, Options.ProcRoot, NullLogger.Instance);
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), NullLogger.Instance, namespaces, (_, _) => throw new UnauthorizedAccessException("no"));

        loop.PollOnce(pipeline);

        Assert.Equal(0, store.Failures);
        Assert.Equal(20, store.Latest!.Sockets);
        Assert.False(store.Latest.Stages.Single(s => s.Stage == PollStage.Owners).Success);
    }

    [Fact]
    public void Any_exception_of_a_poll_is_a_counted_failed_poll_and_the_loop_goes_on()
    {
        using var metrics = new MetricsPipeline(Options, NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(metrics, Options.CloseWaitLeakAfter);
        var loop = new PollLoop(Options, store, metrics, NullLogger<PollLoop>.Instance, TimeProvider.System);
        using var pipeline = new PollPipeline(PollSettings.For(Options, NamespaceSelection.Self), NullLogger.Instance);
        using var broken = new PollPipeline(
            PollSettings.For(Options, NamespaceSelection.Self),
            NullLogger.Instance,
            new NamespaceCollector(NamespaceSelection.Self, CollectorKind.Proc, Options.ProcRoot, NullLogger.Instance, null, new Throwing()));

        loop.PollOnce(pipeline);
        var good = store.Latest;
        loop.PollOnce(broken);

        Assert.Same(good, store.Latest);
        Assert.True(store.LastAttemptFailed);
        Assert.Equal(1, store.Failures);
        Assert.Contains(store.ErrorCounts(), e => e.Key.Reason == PollLoop.UnexpectedReason);

        loop.PollOnce(pipeline);
        Assert.False(store.LastAttemptFailed);
        Assert.NotSame(good, store.Latest);
    }

    /// <summary>A collector with a bug: it throws what no collector is expected to throw.</summary>
    private sealed class Throwing : ISocketCollector
    {
        public string Name => "proc";

        public CollectionStats Append(SocketTable table, CollectRequest request) => throw new InvalidOperationException("a bug in a collector");

        public void Dispose()
        {
        }
    }
}
