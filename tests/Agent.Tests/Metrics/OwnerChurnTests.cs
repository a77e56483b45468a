using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// Owners come and go for months. These tests establish what OpenTelemetry .NET 1.20 does with
/// series that stop being reported under cumulative temporality, and prove that the pipeline
/// neither grows without bound nor falls into the overflow series.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class OwnerChurnTests
{
    private const int DistinctOwners = 10_000;
    private const int OwnersPerPoll = 40;

    [Fact]
    public void The_sdk_alone_exports_only_current_series_but_never_frees_their_slots()
    {
        // What the SDK does, without our pipeline: one provider, one observable gauge whose tag
        // sets churn, default limit (2000 points per stream), cumulative temporality.
        var round = 0;
        var exported = new List<List<string>>();
        using var meter = new Meter("churn-probe");
        meter.CreateObservableGauge("owners", () => Enumerable.Range(0, 5).Select(i =>
            new Measurement<long>(1, new KeyValuePair<string, object?>("process", $"p{(round * 5) + i}"))));
        var exporter = new RecordingExporter(exported);
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter("churn-probe").AddReader(new BaseExportingMetricReader(exporter)).Build();

        for (round = 0; round < 420; round++)
        {
            exporter.Collect!(1000);
        }

        // Until the limit: only the series reported in this collection (stale ones are not exported).
        Assert.Equal(["process=p1995", "process=p1996", "process=p1997", "process=p1998", "process=p1999"], exported[399]);

        // From the limit on: everything new collapses into one overflow point, for good.
        Assert.Equal(["otel.metric.overflow=True"], exported[400]);
        Assert.Equal(["otel.metric.overflow=True"], exported[419]);
    }

    [Fact]
    public void Ten_thousand_owners_churning_through_the_otlp_export_never_overflow_and_stay_bounded()
    {
        var options = new SockWatchOptions { MaxOwnerSeries = 50, MaxDestinationSeries = 20 };
        var exporters = new List<(MetricReader Reader, PointsExporter Exporter)>(); // one per provider built: the first is the long-lived one, the last the current owner streams
        using var pipeline = new MetricsPipeline(options, NullLogger<MetricsPipeline>.Instance, () =>
        {
            var exporter = new PointsExporter();
            var reader = new BaseExportingMetricReader(exporter);
            exporters.Add((reader, exporter));
            return reader;
        });
        var store = new PollResultStore(pipeline);
        var otlp = pipeline.Otlp!;
        var tracker = new SocketTracker();
        var at = PollFactory.Start;
        var maxOwnerSeries = 0;

        // Each poll: OwnersPerPoll owners that were never seen before, each with one established
        // socket and one close_wait socket: 10,000 distinct owners over 250 polls.
        for (var poll = 0; poll < DistinctOwners / OwnersPerPoll; poll++)
        {
            var (sockets, owners) = PollFactory.ChurnPoll(poll, OwnersPerPoll);
            at += TimeSpan.FromSeconds(15);
            store.Publish(PollFactory.Result(tracker, at, sockets, owners, pipeline.Caps));
            var points = Collect(exporters[0]).Concat(Collect(exporters[^1])).ToList();
            Assert.DoesNotContain(points, p => p.Tags.ContainsKey("otel.metric.overflow"));

            // Exactly this poll's owners: the 40 owners, no leftover from earlier polls.
            var ownerSockets = points.Where(p => p.Metric == "sockwatch.tcp.owner_sockets").ToList();
            var processes = ownerSockets.Select(p => p.Tags["process"]).Distinct().ToList();
            Assert.Equal(OwnersPerPoll, processes.Count);
            Assert.All(processes, p => Assert.InRange(int.Parse(p.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture), poll * OwnersPerPoll, ((poll + 1) * OwnersPerPoll) - 1));
            Assert.Equal(OwnersPerPoll * 2, ownerSockets.Count); // established and close_wait of each
            Assert.Equal(OwnersPerPoll, points.Count(p => p.Metric == "sockwatch.close_wait.leaked_sockets"));
            maxOwnerSeries = Math.Max(maxOwnerSeries, otlp.SeenSeries);
        }

        // The owner streams were rebuilt when they neared the limit, and never held more than it.
        Assert.True(otlp.Generations > 1, $"expected rebuilds over {DistinctOwners} owners, got {otlp.Generations} generation(s)");
        Assert.Equal(otlp.Generations + 1, exporters.Count);
        Assert.InRange(maxOwnerSeries, 1, otlp.SeriesLimit);

        // The low-cardinality streams lived through every rebuild: the histogram counted every poll.
        var histogram = Collect(exporters[0]).Single(p => p.Metric == "sockwatch.poll.duration");
        Assert.Equal(DistinctOwners / OwnersPerPoll, histogram.Count);
    }

    [Fact]
    public void Without_an_otlp_endpoint_no_meter_provider_is_built()
    {
        using var pipeline = new MetricsPipeline(new SockWatchOptions(), NullLogger<MetricsPipeline>.Instance);
        Assert.Null(pipeline.Otlp);
    }

    [Fact]
    public void Owners_beyond_the_cap_are_summed_into_other_and_series_of_gone_owners_disappear()
    {
        using var pipeline = new MetricsPipeline(new SockWatchOptions { MaxOwnerSeries = 3 }, NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(pipeline);
        var tracker = new SocketTracker();

        // Five owners holding 5, 4, 3, 2 and 1 established sockets.
        var sockets = new List<SocketRecord>();
        var owners = new List<SocketOwner?>();
        ulong inode = 1;
        for (var o = 0; o < 5; o++)
        {
            var owner = PollFactory.Owner(100 + o, $"p{o}", $"u{o}.service");
            for (var s = 0; s < 5 - o; s++)
            {
                sockets.Add(PollFactory.Socket(TcpState.Established, "10.0.0.1", 8080, "10.1.0.1", 30000 + (int)inode, inode++));
                owners.Add(owner);
            }
        }

        store.Publish(PollFactory.Result(tracker, PollFactory.Start, [.. sockets], [.. owners], pipeline.Caps));
        var series = OwnerSeries(pipeline);
        Assert.Equal(new Dictionary<string, double> { ["p0"] = 5, ["p1"] = 4, ["p2"] = 3, ["other"] = 3 }, series);

        // The next poll: only p4 is left; p0..p3 and "other" are gone from the scrape.
        store.Publish(PollFactory.Result(tracker, PollFactory.Start.AddSeconds(15), [sockets[^1]], [owners[^1]], pipeline.Caps));
        Assert.Equal(new Dictionary<string, double> { ["p4"] = 1 }, OwnerSeries(pipeline));
    }

    private static Dictionary<string, double> OwnerSeries(MetricsPipeline pipeline) =>
        pipeline.Families.Single(f => f.Name == "sockwatch_tcp_owner_sockets").Samples
            .ToDictionary(s => s.Labels.Single(l => l.Name == "process").Value, s => s.Value);

    /// <summary>Collects <paramref name="export"/>'s reader once and returns what its exporter got.</summary>
    private static List<(string Metric, Dictionary<string, string> Tags, long Count)> Collect((MetricReader Reader, PointsExporter Exporter) export)
    {
        export.Exporter.Points.Clear();
        Assert.True(export.Reader.Collect());
        return [.. export.Exporter.Points];
    }

    /// <summary>Records every point of an export: the instrument, the tags, and a histogram's count.</summary>
    private sealed class PointsExporter : BaseExporter<Metric>
    {
        public List<(string Metric, Dictionary<string, string> Tags, long Count)> Points { get; } = [];

        public override ExportResult Export(in Batch<Metric> batch)
        {
            foreach (var metric in batch)
            {
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    var tags = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var tag in point.Tags)
                    {
                        tags[tag.Key] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                    }

                    Points.Add((metric.Name, tags, metric.MetricType == OpenTelemetry.Metrics.MetricType.Histogram ? point.GetHistogramCount() : 0));
                }
            }

            return ExportResult.Success;
        }
    }

    [ExportModes(ExportModes.Pull)]
    private sealed class RecordingExporter(List<List<string>> into) : BaseExporter<Metric>, IPullMetricExporter
    {
        public Func<int, bool>? Collect { get; set; }

        public override ExportResult Export(in Batch<Metric> batch)
        {
            var points = new List<string>();
            foreach (var metric in batch)
            {
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    foreach (var tag in point.Tags)
                    {
                        points.Add($"{tag.Key}={tag.Value}");
                    }
                }
            }

            into.Add(points);
            return ExportResult.Success;
        }
    }
}
