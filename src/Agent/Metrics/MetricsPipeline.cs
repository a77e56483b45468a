using System.IO.Compression;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// From the Meter to a scrape body (and to OTLP): two OpenTelemetry MeterProviders over the one
/// <see cref="SockWatchMeter"/>, each with a pull exporter that the scrape drives.
/// </summary>
/// <remarks>
/// <para>
/// Why two. Under cumulative temporality OpenTelemetry .NET 1.20 never reclaims a metric point:
/// every tag set a stream has ever seen keeps its slot for the life of the MeterProvider, and
/// once a stream has seen its cardinality limit (2000 by default) of them, every new one is
/// folded into a single <c>otel.metric.overflow="true"</c> point, silently. Observable
/// instruments do stop exporting a series the callback no longer reports (since 1.15.1), so
/// the scrape stays right until the limit, and then goes wrong for good. Owners come and go
/// for months, so the owner streams would get there.
/// </para>
/// <para>
/// So the owner, destination and listener instruments live in their own provider, and every
/// instrument is observable and stateless (it reads the latest poll). The pipeline counts the
/// distinct series each owner stream has seen; before a poll is published, when one more
/// collection could reach the limit, that provider is disposed and built anew over the same
/// Meter. Nothing is lost (the values come from the poll, not from the SDK), nothing falls into
/// overflow, and memory is bounded by the limit. The other instruments, the histogram among
/// them, are low-cardinality and stay in a provider that lives as long as the daemon.
/// </para>
/// </remarks>
internal sealed partial class MetricsPipeline : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SockWatchMeter _meter;
    private readonly PollResultStore _store;
    private readonly SockWatchOptions _options;
    private readonly ILogger _logger;
    private readonly SeriesCaps _caps;
    private readonly Dictionary<string, (int Limit, int PerCollection)> _ownerLimits = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _seen = new(StringComparer.Ordinal);
    private readonly PullExporter _stableExporter = new();
    private readonly MeterProvider _stable;
    private PullExporter _ownerExporter = new();
    private MeterProvider _owners;
    private volatile Rendered _rendered = new(-1, [], new());
    private volatile bool _publishing;

    public MetricsPipeline(PollResultStore store, SockWatchOptions options, ILogger<MetricsPipeline> logger)
    {
        _store = store;
        _options = options;
        _logger = logger;
        _caps = new SeriesCaps(options.MaxOwnerSeries, options.MaxDestinationSeries, options.MaxNetnsSeries);
        foreach (var (name, perCollection) in SockWatchMeter.OwnerInstruments)
        {
            var per = perCollection(_caps);
            _ownerLimits[name] = (Math.Max(2000, 4 * per), per);
            _seen[name] = new HashSet<string>(StringComparer.Ordinal);
        }

        _meter = new SockWatchMeter(store, options.CloseWaitLeakAfter, Observed);
        _stable = BuildStable();
        _owners = BuildOwners(_ownerExporter);
    }

    public SeriesCaps Caps => _caps;

    /// <summary>The most distinct series any owner stream has seen in this generation.</summary>
    public int SeenSeries
    {
        get
        {
            lock (_seen)
            {
                return _seen.Values.Max(s => s.Count);
            }
        }
    }

    /// <summary>The smallest cardinality limit of the owner streams.</summary>
    public int SeriesLimit => _ownerLimits.Values.Min(l => l.Limit);

    /// <summary>How many generations of owner streams there have been (1 before any rebuild).</summary>
    public int Generations { get; private set; } = 1;

    /// <summary>Records one poll's duration.</summary>
    public void RecordPoll(TimeSpan duration) => _meter.PollDuration.Record(duration.TotalSeconds);

    /// <summary>
    /// Called on the poll thread before a poll is published: rebuilds the owner streams when one
    /// more poll's series could reach a stream's cardinality limit.
    /// </summary>
    public void BeforePublish()
    {
        _publishing = true;
        lock (_gate)
        {
            var full = false;
            lock (_seen)
            {
                foreach (var (name, (limit, per)) in _ownerLimits)
                {
                    full |= _seen[name].Count + per >= limit;
                }
            }

            if (!full)
            {
                return;
            }

            _owners.Dispose(); // its final collection (OTLP) may still add series: clear after
            lock (_seen)
            {
                foreach (var set in _seen.Values)
                {
                    set.Clear();
                }
            }

            _ownerExporter = new PullExporter();
            _owners = BuildOwners(_ownerExporter);
            Generations++;
            LogRebuilt(_logger, Generations);
        }
    }

    /// <summary>The families of one collection, sorted by name (for tests and the serializer).</summary>
    public IReadOnlyList<MetricFamily> Collect()
    {
        lock (_gate)
        {
            var families = new List<MetricFamily>();
            _stableExporter.Into = families;
            _ownerExporter.Into = families;
            _stableExporter.Collect?.Invoke(5000);
            _ownerExporter.Collect?.Invoke(5000);
            _stableExporter.Into = null;
            _ownerExporter.Into = null;
            families.Add(new MetricFamily(
                "target_info",
                "Target metadata: the OpenTelemetry resource.",
                MetricType.Gauge,
                null,
                [MetricSample.Of(1, new MetricLabel("service_name", SockWatchMeter.MeterName), new MetricLabel("service_version", Program.Version))]));
            families.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return families;
        }
    }

    /// <summary>
    /// A scrape body in <paramref name="format"/>, gzipped when asked. One collection per
    /// version of the store (a poll published or failed), each format rendered once: every
    /// scraper between two polls gets the same bytes, and a flood of scrapes costs nothing more.
    /// While the poll thread publishes a poll and renders its bodies, a scrape is answered at
    /// once with the bodies of the poll before, instead of waiting for the render.
    /// </summary>
    public byte[] Scrape(ExpositionFormat format, bool gzip)
    {
        var rendered = _rendered;
        if ((_publishing || rendered.Version == _store.Version) && rendered.Bodies.TryGetValue((format, gzip), out var ready))
        {
            return ready;
        }

        lock (_gate)
        {
            rendered = _rendered;
            var version = _store.Version;
            if (rendered.Version != version)
            {
                rendered = new Rendered(version, Collect(), new());
                _rendered = rendered;
            }

            return rendered.Bodies.GetOrAdd((format, gzip), key => Render(rendered.Families, key.Format, key.Gzip));
        }
    }

    /// <summary>
    /// Called on the poll thread after a poll is published or failed: collects once and renders
    /// what Prometheus asks for (OpenMetrics, gzipped; and 0.0.4, gzipped), then swaps them in
    /// whole, so that a scrape only copies bytes and never finds a version half rendered.
    /// </summary>
    public void AfterPublish()
    {
        try
        {
            lock (_gate)
            {
                var families = Collect();
                var bodies = new System.Collections.Concurrent.ConcurrentDictionary<(ExpositionFormat Format, bool Gzip), byte[]>();
                foreach (var format in (ExpositionFormat[])[ExpositionFormat.OpenMetrics100, ExpositionFormat.PrometheusText004])
                {
                    bodies[(format, true)] = Render(families, format, gzip: true);
                }

                _rendered = new Rendered(_store.Version, families, bodies);
            }
        }
        finally
        {
            _publishing = false;
        }
    }

    private static byte[] Render(IReadOnlyList<MetricFamily> families, ExpositionFormat format, bool gzip)
    {
        using var buffer = new MemoryStream();
        if (gzip)
        {
            using var zip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
            PrometheusTextSerializer.Write(zip, families, format);
        }
        else
        {
            PrometheusTextSerializer.Write(buffer, families, format);
        }

        return buffer.ToArray();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _owners.Dispose();
            _stable.Dispose();
            _meter.Dispose();
        }
    }

    private void Observed(string instrument, string key)
    {
        lock (_seen)
        {
            _seen[instrument].Add(key);
        }
    }

    private MeterProvider BuildStable()
    {
        var builder = Base().AddReader(new BaseExportingMetricReader(_stableExporter));
        foreach (var (name, _) in SockWatchMeter.OwnerInstruments)
        {
            builder.AddView(name, MetricStreamConfiguration.Drop);
        }

        builder.AddView(SockWatchMeter.Names.PollDuration, new ExplicitBucketHistogramConfiguration { Boundaries = SockWatchMeter.PollDurationBounds });
        return Otlp(builder).Build();
    }

    private MeterProvider BuildOwners(PullExporter exporter)
    {
        var builder = Base().AddReader(new BaseExportingMetricReader(exporter));
        foreach (var name in SockWatchMeter.AllInstruments)
        {
            builder.AddView(name, _ownerLimits.TryGetValue(name, out var l)
                ? new MetricStreamConfiguration { CardinalityLimit = l.Limit }
                : MetricStreamConfiguration.Drop);
        }

        return Otlp(builder).Build();
    }

    private static MeterProviderBuilder Base() =>
        Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(SockWatchMeter.MeterName, serviceVersion: Program.Version, autoGenerateServiceInstanceId: false))
            .AddMeter(SockWatchMeter.MeterName);

    private MeterProviderBuilder Otlp(MeterProviderBuilder builder)
    {
        if (_options.OtlpEndpoint is not { Length: > 0 } endpoint)
        {
            return builder;
        }

        return builder.AddOtlpExporter((exporter, reader) =>
        {
            exporter.Endpoint = new Uri(endpoint);
            exporter.Protocol = _options.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)_options.OtlpInterval.TotalMilliseconds;
            reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
        });
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "owner metric streams rebuilt (generation {Generation}): owners came and went up to the cardinality limit; no series was lost")]
    private static partial void LogRebuilt(ILogger logger, int generation);

    /// <summary>A pull exporter: the scrape calls <see cref="Collect"/>, and the SDK calls <see cref="Export"/> on the same thread.</summary>
    [ExportModes(ExportModes.Pull)]
    private sealed class PullExporter : BaseExporter<Metric>, IPullMetricExporter
    {
        public Func<int, bool>? Collect { get; set; }

        public List<MetricFamily>? Into { get; set; }

        public override ExportResult Export(in Batch<Metric> batch)
        {
            if (Into is { } into)
            {
                OtelToPrometheus.Convert(in batch, into);
            }

            return ExportResult.Success;
        }
    }

    /// <summary>One version of the store, collected, and its bodies rendered so far.</summary>
    private sealed record Rendered(
        long Version,
        IReadOnlyList<MetricFamily> Families,
        System.Collections.Concurrent.ConcurrentDictionary<(ExpositionFormat Format, bool Gzip), byte[]> Bodies);
}
