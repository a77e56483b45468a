using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
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
/// One Kestrel on 127.0.0.1 serving the same polls, published through one
/// <see cref="PollResultStore"/>: <c>/metrics</c> (ours: the direct path, poll →
/// <see cref="PollMetrics"/> → <see cref="MetricFamily"/> → bytes rendered at publish by
/// <see cref="MetricsPipeline"/>, served by <see cref="MetricsEndpoint"/> as the daemon maps it),
/// <c>/otel-metrics</c> (OpenTelemetry.Exporter.Prometheus.AspNetCore on a MeterProvider over
/// <see cref="SockWatchMeter"/>'s instruments, the OTLP side's, which read the latest published
/// families), <c>/otel-metrics-gz</c> (the same, behind ASP.NET Core's response compression)
/// and <c>/empty</c> (a baseline for the request's own cost).
/// </summary>
internal sealed class Host : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SockWatchMeter? _meter;
    private readonly PublishedFamilies? _families;

    private Host(WebApplication app, PollResultStore store, MetricsPipeline? pipeline, MeterProvider? otel, SockWatchMeter? meter, PublishedFamilies? families, Uri baseUrl)
    {
        _app = app;
        Store = store;
        Pipeline = pipeline;
        Otel = otel;
        _meter = meter;
        _families = families;
        BaseUrl = baseUrl;
    }

    public PollResultStore Store { get; }

    /// <summary>Ours; null when the process hosts the OTel exporter alone.</summary>
    public MetricsPipeline? Pipeline { get; }

    public MeterProvider? Otel { get; }

    public Uri BaseUrl { get; }

    /// <summary>The caps the daemon uses by default (50 owners, 20 destinations).</summary>
    public static SeriesCaps Caps { get; } = new(new SockWatchOptions().MaxOwnerSeries, new SockWatchOptions().MaxDestinationSeries, new SockWatchOptions().MaxNetnsSeries);

    /// <summary>The cardinality limit of each capped instrument, as the OTLP side's owner provider sets it: max(2000, 4 × series per collection).</summary>
    public static IReadOnlyDictionary<string, int> CardinalityLimits { get; } = MetricCatalog.All
        .Where(d => d.Instrument is not null && d.SeriesPerCollection(Caps) is not null)
        .ToDictionary(d => d.Instrument!, d => Math.Max(2000, 4 * d.SeriesPerCollection(Caps)!.Value), StringComparer.Ordinal);

    /// <param name="cacheMilliseconds">The OTel exporter's ScrapeResponseCacheDurationMilliseconds (its default is 300).</param>
    public static async Task<Host> StartAsync(Exporters exporters, int cacheMilliseconds)
    {
        var options = new SockWatchOptions();
        MetricsPipeline? pipeline = exporters == Exporters.Otel ? null : new MetricsPipeline(options, NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(pipeline, options.CloseWaitLeakAfter);
        SockWatchMeter? meter = null;
        MeterProvider? otel = null;
        PublishedFamilies? families = null;
        if (exporters != Exporters.Ours)
        {
            // The OTLP side's instruments, reading the families of the latest published state:
            // our pipeline's when it runs, else the ones this host builds at each publish
            // (adopted alone, nothing renders bodies; the families are still what the
            // instruments read). No OTLP provider exists (otlp_endpoint unset), so this Meter
            // is the only "sockwatch" Meter the provider below listens to.
            Func<IReadOnlyList<MetricFamily>> latest;
            if (pipeline is not null)
            {
                latest = () => pipeline.Families;
            }
            else
            {
                var own = families = new PublishedFamilies();
                latest = () => own.Value;
            }

            meter = new SockWatchMeter(latest, new HashSet<string>(StringComparer.Ordinal), static (_, _) => { });
            otel = BuildOtel(cacheMilliseconds);
        }

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
            app.MapGet("/metrics", HttpErrorBoundary.Wrap(context => MetricsEndpoint.Serve(context, pipeline.Scrape), NullLogger.Instance));
        }

        if (otel is not null)
        {
            app.MapPrometheusScrapingEndpoint("/otel-metrics", otel, null, null);
            app.MapPrometheusScrapingEndpoint("/otel-metrics-gz", otel, branch => branch.UseResponseCompression(), null);
        }

        app.MapGet("/empty", () => "ok\n");
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Urls.First();
        return new Host(app, store, pipeline, otel, meter, families, new Uri(address));
    }

    /// <summary>
    /// One successful poll, published as the daemon publishes it: the store hands its state to
    /// our pipeline (families built, both gzipped bodies rendered); then the OTel side's share.
    /// </summary>
    public void Publish(PollResult result)
    {
        Store.Publish(result);
        Published(result);
    }

    /// <summary>
    /// What the OTel side does once <paramref name="result"/> is in the store: the families its
    /// instruments read (built here when our pipeline is not running), and the poll's duration
    /// recorded into the histogram, once per successful poll, as <see cref="OtlpExport"/> does.
    /// </summary>
    public void Published(PollResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (_families is not null)
        {
            _families.Value = MetricExposition.Families(Store.ToMetricsState());
        }

        _meter?.PollDuration.Record(result.Duration.TotalSeconds);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        Otel?.Dispose();
        Pipeline?.Dispose();
        _meter?.Dispose();
    }

    /// <summary>
    /// The provider adoption would build, configured as <see cref="OtlpExport"/> configures its
    /// providers: the same Meter and resource, the poll-duration histogram's bounds, each
    /// capped instrument's cardinality limit; with the AspNetCore exporter's scrape endpoint
    /// instead of an OTLP reader. What it cannot do is be rebuilt, as the OTLP side's owner
    /// provider is: the endpoint holds this provider for the life of the app.
    /// </summary>
    private static MeterProvider BuildOtel(int cacheMilliseconds)
    {
        var builder = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(MetricCatalog.MeterName, serviceVersion: SockWatch.Agent.Configuration.BuildInfo.Version, autoGenerateServiceInstanceId: false))
            .AddMeter(MetricCatalog.MeterName)
            .AddView(MetricCatalog.Get("sockwatch_poll_duration_seconds").Instrument!, new ExplicitBucketHistogramConfiguration { Boundaries = [.. PollDurationHistogram.Bounds] });
        foreach (var (name, limit) in CardinalityLimits)
        {
            builder.AddView(name, new MetricStreamConfiguration { CardinalityLimit = limit });
        }

        return builder.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = cacheMilliseconds).Build();
    }

    /// <summary>The families the OTel instruments read when our pipeline is not running: built at each publish.</summary>
    private sealed class PublishedFamilies
    {
        private volatile IReadOnlyList<MetricFamily> _value = [];

        public IReadOnlyList<MetricFamily> Value
        {
            get => _value;
            set => _value = value;
        }
    }
}
