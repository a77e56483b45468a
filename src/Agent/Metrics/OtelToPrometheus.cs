using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// Turns what OpenTelemetry collected into Prometheus metric families, by the specification's
/// "OTLP Metric points to Prometheus" rules (reference §3.1): names sanitized, the unit as a
/// word suffix (<c>s</c> as <c>_seconds</c>; <c>1</c> and <c>{annotations}</c> add nothing),
/// monotonic cumulative sums as counters, gauges and non-monotonic sums as gauges, explicit
/// bucket histograms with cumulative buckets, and the scope name as <c>otel_scope_name</c> on
/// every sample. Samples are sorted by their labels, so the output is stable whatever order
/// the SDK keeps its points in.
/// </summary>
internal static class OtelToPrometheus
{
    public const string ScopeLabel = "otel_scope_name";

    private static readonly Dictionary<string, string> UnitWords = new(StringComparer.Ordinal)
    {
        ["d"] = "days",
        ["h"] = "hours",
        ["min"] = "minutes",
        ["s"] = "seconds",
        ["ms"] = "milliseconds",
        ["us"] = "microseconds",
        ["ns"] = "nanoseconds",
        ["By"] = "bytes",
        ["KiBy"] = "kibibytes",
        ["MiBy"] = "mebibytes",
        ["GiBy"] = "gibibytes",
        ["%"] = "percent",
        ["Hz"] = "hertz",
    };

    /// <summary>Appends the families of one export batch to <paramref name="into"/>.</summary>
    public static void Convert(in Batch<Metric> batch, List<MetricFamily> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        foreach (var metric in batch)
        {
            if (Convert(metric) is { } family)
            {
                into.Add(family);
            }
        }
    }

    /// <summary>The Prometheus name of an instrument, and the unit word it ends with (null for none).</summary>
    public static (string Name, string? Unit) NameOf(string instrument, string? unit, bool counter)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        var name = Sanitize(instrument);
        string? word = null;
        if (!string.IsNullOrEmpty(unit) && UnitWords.TryGetValue(unit, out var w))
        {
            word = w;
            if (!name.EndsWith("_" + w, StringComparison.Ordinal))
            {
                name += "_" + w;
            }
        }

        if (counter && name.EndsWith("_total", StringComparison.Ordinal))
        {
            name = name[..^"_total".Length];
        }

        return (name, word);
    }

    /// <summary>Characters outside [a-zA-Z0-9_:] become _, and runs of _ collapse to one.</summary>
    public static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            var ok = char.IsAsciiLetterOrDigit(c) || c == ':';
            var next = ok ? c : '_';
            if (next == '_' && sb.Length > 0 && sb[^1] == '_')
            {
                continue;
            }

            sb.Append(next);
        }

        if (sb.Length > 0 && char.IsAsciiDigit(sb[0]))
        {
            sb.Insert(0, '_');
        }

        return sb.ToString();
    }

    private static MetricFamily? Convert(Metric metric)
    {
        MetricType type;
        if (metric.MetricType.IsHistogram() && metric.MetricType != OpenTelemetry.Metrics.MetricType.ExponentialHistogram)
        {
            type = MetricType.Histogram;
        }
        else if (metric.MetricType is OpenTelemetry.Metrics.MetricType.LongSum or OpenTelemetry.Metrics.MetricType.DoubleSum
                 && metric.Temporality == AggregationTemporality.Cumulative)
        {
            type = MetricType.Counter;
        }
        else if (metric.MetricType.IsGauge() || metric.MetricType.IsSum())
        {
            type = MetricType.Gauge; // a gauge, or a non-monotonic sum
        }
        else
        {
            return null; // exponential histograms, delta sums: not representable (the spec says drop)
        }

        var (name, unit) = NameOf(metric.Name, metric.Unit, type == MetricType.Counter);
        var samples = new List<(string Key, MetricSample Sample)>();
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            var labels = Labels(in point, metric.MeterName);
            var sample = type switch
            {
                MetricType.Histogram => MetricSample.OfHistogram(Histogram(in point), labels),
                _ => MetricSample.Of(Value(metric.MetricType, in point), labels),
            };
            samples.Add((SortKey(labels), sample));
        }

        samples.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new MetricFamily(name, metric.Description ?? "", type, unit, samples.ConvertAll(s => s.Sample));
    }

    private static List<MetricLabel> Labels(in MetricPoint point, string scope)
    {
        var labels = new List<MetricLabel>();
        foreach (var tag in point.Tags)
        {
            labels.Add(new MetricLabel(Sanitize(tag.Key), tag.Value switch
            {
                null => "",
                string s => s,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var o => o.ToString() ?? "",
            }));
        }

        labels.Add(new MetricLabel(ScopeLabel, scope));
        return labels;
    }

    private static string SortKey(List<MetricLabel> labels)
    {
        var sb = new StringBuilder();
        foreach (var l in labels)
        {
            sb.Append(l.Name).Append('\u0001').Append(l.Value).Append('\u0002');
        }

        return sb.ToString();
    }

    private static double Value(OpenTelemetry.Metrics.MetricType type, in MetricPoint point) => type switch
    {
        OpenTelemetry.Metrics.MetricType.LongSum or OpenTelemetry.Metrics.MetricType.LongSumNonMonotonic => point.GetSumLong(),
        OpenTelemetry.Metrics.MetricType.DoubleSum or OpenTelemetry.Metrics.MetricType.DoubleSumNonMonotonic => point.GetSumDouble(),
        OpenTelemetry.Metrics.MetricType.LongGauge => point.GetGaugeLastValueLong(),
        _ => point.GetGaugeLastValueDouble(),
    };

    private static HistogramValue Histogram(in MetricPoint point)
    {
        var bounds = new List<double>();
        var counts = new List<long>();
        long running = 0;
        foreach (var bucket in point.GetHistogramBuckets())
        {
            running += bucket.BucketCount; // per bucket in the SDK; cumulative in Prometheus
            bounds.Add(bucket.ExplicitBound);
            counts.Add(running);
        }

        if (bounds.Count == 0 || !double.IsPositiveInfinity(bounds[^1]))
        {
            bounds.Add(double.PositiveInfinity);
            counts.Add(running);
        }

        return new HistogramValue(bounds, counts, point.GetHistogramSum(), point.GetHistogramCount());
    }
}
