using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// A scrape that arrives while the poll thread publishes a poll and renders its bodies is
/// answered with the bodies of the poll before, at once; after the swap, with the new ones.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class PublishWindowTests
{
    private static readonly SocketOwner Owner = PollFactory.Owner(100, "api", "api.service");

    // One close_wait socket in the first poll, two in the second.
    private static readonly SocketRecord[] One = [PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 80, "10.0.0.9", 50000, 1)];
    private static readonly SocketRecord[] Two = [.. One, PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 80, "10.0.0.9", 50001, 2)];

    [Fact]
    public void A_scrape_during_a_publish_gets_the_last_rendered_body_without_waiting_for_the_render()
    {
        var store = new PollResultStore();
        using var pipeline = new MetricsPipeline(new SockWatchOptions(), NullLogger<MetricsPipeline>.Instance);
        var tracker = new SocketTracker();

        store.Publish(PollFactory.Result(tracker, PollFactory.Start, One, [Owner], pipeline.Caps));
        pipeline.Publish(store.ToMetricsState());
        var first = pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true);
        Assert.Contains("sockwatch_tcp_sockets{", Text(first), StringComparison.Ordinal);
        Assert.Same(first, pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true)); // rendered once

        // The next poll is being published: its bodies are rendered, not yet swapped in.
        store.Publish(PollFactory.Result(tracker, PollFactory.Start.AddSeconds(15), Two, [Owner, Owner], pipeline.Caps));
        var next = MetricsPipeline.Prepare(store.ToMetricsState());
        Assert.Same(first, pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true));
        Assert.Equal(1, CloseWait(Encoding.UTF8.GetString(pipeline.Scrape(ExpositionFormat.PrometheusText004, gzip: false)))); // a format not rendered yet: of the same state

        pipeline.Swap(next);
        var second = pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true);
        Assert.NotSame(first, second);
        Assert.Equal(1, CloseWait(Text(first)));
        Assert.Equal(2, CloseWait(Text(second)));
        Assert.Equal(2, CloseWait(Encoding.UTF8.GetString(pipeline.Scrape(ExpositionFormat.PrometheusText004, gzip: false))));
    }

    [Fact]
    public void Scrapes_read_only_what_was_published_never_the_store()
    {
        var store = new PollResultStore();
        using var pipeline = new MetricsPipeline(new SockWatchOptions(), NullLogger<MetricsPipeline>.Instance);
        var tracker = new SocketTracker();

        // Before any publish: SockWatch's own constant series only.
        var empty = Encoding.UTF8.GetString(pipeline.Scrape(ExpositionFormat.PrometheusText004, gzip: false));
        Assert.Contains("sockwatch_build_info{", empty, StringComparison.Ordinal);
        Assert.DoesNotContain("sockwatch_tcp_sockets", empty, StringComparison.Ordinal);

        store.Publish(PollFactory.Result(tracker, PollFactory.Start, One, [Owner], pipeline.Caps));
        Assert.Equal(empty, Encoding.UTF8.GetString(pipeline.Scrape(ExpositionFormat.PrometheusText004, gzip: false)));
        pipeline.Publish(store.ToMetricsState());
        Assert.Equal(1, CloseWait(Text(pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true))));
        store.Publish(PollFactory.Result(tracker, PollFactory.Start.AddSeconds(15), Two, [Owner, Owner], pipeline.Caps));
        pipeline.Publish(store.ToMetricsState());
        Assert.Equal(2, CloseWait(Text(pipeline.Scrape(ExpositionFormat.OpenMetrics100, gzip: true))));
    }

    private static string Text(byte[] gzipped)
    {
        using var zip = new GZipStream(new MemoryStream(gzipped), CompressionMode.Decompress);
        using var reader = new StreamReader(zip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>The close_wait sockets of sockwatch_tcp_sockets, over its families.</summary>
    private static int CloseWait(string body) =>
        body.Split('\n')
            .Where(l => l.StartsWith("sockwatch_tcp_sockets{", StringComparison.Ordinal) && l.Contains("state=\"close_wait\"", StringComparison.Ordinal))
            .Sum(l => (int)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
