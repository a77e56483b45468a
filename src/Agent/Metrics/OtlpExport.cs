using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using SockWatch.Agent.Configuration;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// The OTLP push, built only when <c>otlp_endpoint</c> is set: two OpenTelemetry MeterProviders
/// over the one <see cref="SockWatchMeter"/>, each exporting over OTLP.
/// </summary>
/// <remarks>
/// <para>
/// Why two. Under cumulative temporality OpenTelemetry .NET 1.20 never reclaims a metric point:
/// every tag set a stream has ever seen keeps its slot for the life of the MeterProvider, and
/// once a stream has seen its cardinality limit (2000 by default) of them, every new one is
/// folded into a single <c>otel.metric.overflow="true"</c> point, silently. Observable
/// instruments do stop exporting a series the callback no longer reports (since 1.15.1), so
/// the export stays right until the limit, and then goes wrong for good. Owners come and go
/// for months, so the owner streams would get there.
/// </para>
/// <para>
/// So the instruments of capped families (namespaces, owners, destinations, listeners) live in
/// their own provider, and every instrument is observable and stateless (it reads the latest
/// published state). The series a capped stream has seen are counted; before a state is
/// published, when its series (the catalog's budget for one collection) could reach the
/// limit, that provider is disposed and built anew over the same Meter. Nothing is lost (the
/// values come from the state, not from the SDK), nothing falls into overflow, and memory is
/// bounded by the limit. The other instruments, the histogram among them, are few and stay in
/// a provider that lives as long as the daemon.
/// </para>
/// </remarks>
internal sealed partial class OtlpExport : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SockWatchOptions _options;
    private readonly ILogger _logger;
    private readonly Func<MetricReader>? _reader;
    private readonly Dictionary<string, (int Limit, int PerCollection)> _limits = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _seen = new(StringComparer.Ordinal);
    private readonly SockWatchMeter _meter;
    private readonly MeterProvider _stable;
    private MeterProvider _owners;
    private long _recordedPolls;

    /// <param name="options">The OTLP endpoint, protocol and interval.</param>
    /// <param name="caps">The series caps, for the streams' budgets.</param>
    /// <param name="families">The families of the latest published state.</param>
    /// <param name="logger">Where a rebuild is logged.</param>
    /// <param name="reader">Makes each provider's reader instead of the OTLP exporter (tests).</param>
    public OtlpExport(SockWatchOptions options, SeriesCaps caps, Func<IReadOnlyList<MetricFamily>> families, ILogger logger, Func<MetricReader>? reader = null)
    {
        _options = options;
        _logger = logger;
        _reader = reader;
        foreach (var d in MetricCatalog.All)
        {
            if (d.Instrument is { } name && d.SeriesPerCollection(caps) is { } per)
            {
                _limits[name] = (Math.Max(2000, 4 * per), per);
                _seen[name] = new HashSet<string>(StringComparer.Ordinal);
            }
        }

        _meter = new SockWatchMeter(families, _limits.Keys.ToHashSet(StringComparer.Ordinal), Observed);
        _stable = BuildStable();
        _owners = BuildOwners();
    }

    /// <summary>The most distinct series any capped stream has seen in this generation.</summary>
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

    /// <summary>The smallest cardinality limit of the capped streams.</summary>
    public int SeriesLimit => _limits.Values.Min(l => l.Limit);

    /// <summary>How many generations of capped streams there have been (1 before any rebuild).</summary>
    public int Generations { get; private set; } = 1;

    /// <summary>
    /// Called before <paramref name="state"/> becomes the one the instruments read: rebuilds the
    /// capped streams when its series could reach a stream's limit, and records a new poll's
    /// duration into the histogram.
    /// </summary>
    public void Publish(MetricsState state)
    {
        lock (_gate)
        {
            if (state.PollDurations.Count > _recordedPolls && state.Latest is { } latest)
            {
                _meter.PollDuration.Record(latest.Duration.TotalSeconds); // one poll per state: the loop publishes after each
                _recordedPolls = state.PollDurations.Count;
            }

            var full = false;
            lock (_seen)
            {
                foreach (var (name, (limit, per)) in _limits)
                {
                    full |= _seen[name].Count + per >= limit;
                }
            }

            if (!full)
            {
                return;
            }

            _owners.Dispose(); // its final collection may still add series: clear after
            lock (_seen)
            {
                foreach (var set in _seen.Values)
                {
                    set.Clear();
                }
            }

            _owners = BuildOwners();
            Generations++;
            LogRebuilt(_logger, Generations);
        }
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
        var builder = Base();
        foreach (var name in _limits.Keys)
        {
            builder.AddView(name, MetricStreamConfiguration.Drop);
        }

        builder.AddView(_meter.PollDuration.Name, new ExplicitBucketHistogramConfiguration { Boundaries = [.. PollDurationHistogram.Bounds] });
        return Export(builder).Build();
    }

    private MeterProvider BuildOwners()
    {
        var builder = Base();
        foreach (var d in MetricCatalog.All)
        {
            if (d.Instrument is { } name)
            {
                builder.AddView(name, _limits.TryGetValue(name, out var l)
                    ? new MetricStreamConfiguration { CardinalityLimit = l.Limit }
                    : MetricStreamConfiguration.Drop);
            }
        }

        return Export(builder).Build();
    }

    private static MeterProviderBuilder Base() =>
        Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(MetricCatalog.MeterName, serviceVersion: Configuration.BuildInfo.Version, autoGenerateServiceInstanceId: false))
            .AddMeter(MetricCatalog.MeterName);

    private MeterProviderBuilder Export(MeterProviderBuilder builder)
    {
        if (_reader is not null)
        {
            return builder.AddReader(_reader());
        }

        return builder.AddOtlpExporter((exporter, reader) =>
        {
            exporter.Endpoint = new Uri(_options.OtlpEndpoint!);
            exporter.Protocol = _options.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)_options.OtlpInterval.TotalMilliseconds;
            reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
        });
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "owner metric streams rebuilt (generation {Generation}): owners came and went up to the cardinality limit; no series was lost")]
    private static partial void LogRebuilt(ILogger logger, int generation);
}
