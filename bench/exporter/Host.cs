using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using SockWatch.Agent;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;

namespace SockWatch.ExporterBench;

/// <summary>Which exporters one bench process hosts.</summary>
internal enum Exporters
{
    Both,
    Ours,
    Otel,
}

/// <summary>
/// One Kestrel on 127.0.0.1 serving, over one <see cref="PollResultStore"/> and one
/// <see cref="SockWatchMeter"/>: <c>/metrics</c> (ours: <see cref="MetricsPipeline"/>, as the
/// daemon maps it), <c>/otel-metrics</c> (OpenTelemetry.Exporter.Prometheus.AspNetCore on a
/// MeterProvider of its own that listens to the same Meter), <c>/otel-metrics-gz</c> (the same,
/// behind ASP.NET Core's response compression: what adopting it would take for gzip) and
/// <c>/empty</c> (a baseline for the request's own cost).
/// </summary>
internal sealed class Host : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SockWatchMeter? _ownMeter;

    private Host(WebApplication app, PollResultStore store, MetricsPipeline? pipeline, MeterProvider? otel, SockWatchMeter? ownMeter, Uri baseUrl)
    {
        _app = app;
        Store = store;
        Pipeline = pipeline;
        Otel = otel;
        _ownMeter = ownMeter;
        BaseUrl = baseUrl;
    }

    public PollResultStore Store { get; }

    public MetricsPipeline? Pipeline { get; }

    public MeterProvider? Otel { get; }

    public Uri BaseUrl { get; }

    /// <summary>The caps the daemon uses by default (50 owners, 20 destinations).</summary>
    public static SeriesCaps Caps { get; } = new(new SockWatchOptions().MaxOwnerSeries, new SockWatchOptions().MaxDestinationSeries, new SockWatchOptions().MaxNetnsSeries);

    /// <param name="cacheMilliseconds">The OTel exporter's ScrapeResponseCacheDurationMilliseconds (its default is 300).</param>
    public static async Task<Host> StartAsync(Exporters exporters, int cacheMilliseconds)
    {
        var store = new PollResultStore();
        var options = new SockWatchOptions();
        MetricsPipeline? pipeline = null;
        SockWatchMeter? ownMeter = null;
        if (exporters != Exporters.Otel)
        {
            pipeline = new MetricsPipeline(store, options, Microsoft.Extensions.Logging.Abstractions.NullLogger<MetricsPipeline>.Instance);
        }
        else
        {
            // Adopted alone, nothing counts series for a rebuild: the Meter is all there is.
            ownMeter = new SockWatchMeter(store, options.CloseWaitLeakAfter, static (_, _) => { });
        }

        var otel = exporters == Exporters.Ours ? null : BuildOtel(cacheMilliseconds);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddResponseCompression(o =>
        {
            o.EnableForHttps = true;
            o.Providers.Add<GzipCompressionProvider>();
            o.MimeTypes = ["text/plain", "application/openmetrics-text"];
        });
        builder.Services.Configure<GzipCompressionProviderOptions>(o => o.Level = CompressionLevel.Fastest);
        var app = builder.Build();
        if (pipeline is not null)
        {
            app.MapGet("/metrics", context => MetricsEndpoint.Serve(context, pipeline));
        }

        if (otel is not null)
        {
            app.MapPrometheusScrapingEndpoint("/otel-metrics", otel, null, null);
            app.MapPrometheusScrapingEndpoint("/otel-metrics-gz", otel, branch => branch.UseResponseCompression(), null);
        }

        app.MapGet("/empty", () => "ok\n");
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Urls.First();
        return new Host(app, store, pipeline, otel, ownMeter, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        Otel?.Dispose();
        Pipeline?.Dispose();
        _ownMeter?.Dispose();
    }

    /// <summary>
    /// The provider adoption would build: the same Meter, resource, histogram bounds and
    /// per-stream cardinality limits as our pipeline's owner provider, and the exporter's
    /// scrape endpoint. What it cannot do is be rebuilt: the endpoint holds this provider.
    /// </summary>
    private static MeterProvider BuildOtel(int cacheMilliseconds)
    {
        var limits = new SockWatchOptions();
        var caps = new SeriesCaps(limits.MaxOwnerSeries, limits.MaxDestinationSeries, limits.MaxNetnsSeries);
        var builder = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(SockWatchMeter.MeterName, serviceVersion: SockWatch.Agent.Configuration.BuildInfo.Version, autoGenerateServiceInstanceId: false))
            .AddMeter(SockWatchMeter.MeterName)
            .AddView(SockWatchMeter.Names.PollDuration, new ExplicitBucketHistogramConfiguration { Boundaries = SockWatchMeter.PollDurationBounds });
        foreach (var (name, perCollection) in SockWatchMeter.OwnerInstruments)
        {
            builder.AddView(name, new MetricStreamConfiguration { CardinalityLimit = Math.Max(2000, 4 * perCollection(caps)) });
        }

        return builder.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = cacheMilliseconds).Build();
    }
}
