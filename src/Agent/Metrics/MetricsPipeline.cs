using System.Collections.Concurrent;
using System.IO.Compression;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using SockWatch.Agent.Configuration;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// From a published <see cref="MetricsState"/> to scrape bodies: the state's metric families
/// (<see cref="MetricExposition"/>), rendered once per publish by
/// <see cref="PrometheusTextSerializer"/>, and kept until the next. When <c>otlp_endpoint</c> is
/// set, the same families are pushed over OTLP through OpenTelemetry instruments
/// (<see cref="OtlpExport"/>); otherwise no MeterProvider exists.
/// </summary>
internal sealed class MetricsPipeline : IDisposable
{
    /// <summary>What Prometheus asks for, rendered at every publish; anything else on the first scrape that asks.</summary>
    private static readonly (ExpositionFormat Format, bool Gzip)[] Prerendered =
        [(ExpositionFormat.OpenMetrics100, true), (ExpositionFormat.PrometheusText004, true)];

    private volatile Rendered _rendered;

    public MetricsPipeline(SockWatchOptions options, ILogger<MetricsPipeline> logger)
        : this(options, logger, null)
    {
    }

    /// <param name="options">The caps, close_wait_leak_after and the OTLP settings.</param>
    /// <param name="logger">The pipeline's log.</param>
    /// <param name="otlpReader">Makes the OTLP side's readers instead of OTLP exporters, and turns that side on (tests).</param>
    internal MetricsPipeline(SockWatchOptions options, ILogger<MetricsPipeline> logger, Func<MetricReader>? otlpReader)
    {
        ArgumentNullException.ThrowIfNull(options);
        Caps = new SeriesCaps(options.MaxOwnerSeries, options.MaxDestinationSeries, options.MaxNetnsSeries);
        _rendered = Prepare(MetricsState.Initial(options.CloseWaitLeakAfter));
        if (otlpReader is not null || options.OtlpEndpoint is { Length: > 0 })
        {
            Otlp = new OtlpExport(options, Caps, () => _rendered.Families, logger, otlpReader);
        }
    }

    public SeriesCaps Caps { get; }

    /// <summary>The OTLP side; null when OTLP is off.</summary>
    internal OtlpExport? Otlp { get; }

    /// <summary>The families of the latest published state, sorted by name.</summary>
    public IReadOnlyList<MetricFamily> Families => _rendered.Families;

    /// <summary>
    /// Called on the poll thread after every poll, published or failed: builds the state's
    /// families, renders what Prometheus asks for (OpenMetrics and 0.0.4, gzipped), then swaps
    /// them in whole. Until the swap, scrapes get the bodies of the state before, at once.
    /// </summary>
    public void Publish(MetricsState state) => Swap(Prepare(state));

    /// <summary>
    /// A scrape body in <paramref name="format"/>, gzipped when asked: the latest published
    /// state's, rendered once per format. Never waits for a publish in progress.
    /// </summary>
    public byte[] Scrape(ExpositionFormat format, bool gzip)
    {
        var rendered = _rendered;
        return rendered.Bodies.GetOrAdd((format, gzip), static (key, families) => Render(families, key.Format, key.Gzip), rendered.Families);
    }

    public void Dispose() => Otlp?.Dispose();

    /// <summary>The first half of <see cref="Publish"/>: the state's families and bodies, not yet visible.</summary>
    internal static Rendered Prepare(MetricsState state)
    {
        var families = MetricExposition.Families(state);
        var bodies = new ConcurrentDictionary<(ExpositionFormat Format, bool Gzip), byte[]>();
        foreach (var key in Prerendered)
        {
            bodies[key] = Render(families, key.Format, key.Gzip);
        }

        return new Rendered(state, families, bodies);
    }

    /// <summary>The second half of <see cref="Publish"/>: what scrapes and the OTLP instruments read from now on.</summary>
    internal void Swap(Rendered next)
    {
        ArgumentNullException.ThrowIfNull(next);
        Otlp?.Publish(next.State);
        _rendered = next;
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

    /// <summary>One published state, its families, and its bodies rendered so far.</summary>
    internal sealed record Rendered(
        MetricsState State,
        IReadOnlyList<MetricFamily> Families,
        ConcurrentDictionary<(ExpositionFormat Format, bool Gzip), byte[]> Bodies);
}
