using System.Text;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// One state as metric families, straight from the catalog: the one representation between a
/// poll and the bytes of a scrape. Laid out as OpenTelemetry's Prometheus rules lay out an
/// instrument, so that <c>/metrics</c> and Prometheus's OTLP receiver see the same series:
/// label names sorted, <c>otel_scope_name="sockwatch"</c> last on every family but
/// <c>target_info</c> (the resource), samples sorted by their labels, families by name, and a
/// family without samples left out.
/// </summary>
internal static class MetricExposition
{
    /// <summary>The label that names the OpenTelemetry scope on every instrument's series.</summary>
    public const string ScopeLabel = "otel_scope_name";

    private static readonly MetricLabel Scope = new(ScopeLabel, MetricCatalog.MeterName);

    /// <summary>The families of <paramref name="state"/>, sorted by name.</summary>
    public static IReadOnlyList<MetricFamily> Families(MetricsState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var families = new List<MetricFamily>(MetricCatalog.All.Count);
        foreach (var definition in MetricCatalog.All)
        {
            var samples = Samples(definition, state);
            if (samples.Count > 0)
            {
                families.Add(new MetricFamily(definition.Name, definition.Help, definition.Type, definition.Unit, samples));
            }
        }

        families.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return families;
    }

    private static List<MetricSample> Samples(MetricDefinition definition, MetricsState state)
    {
        // Label positions in name order: the series give their values in declaration order.
        var order = Enumerable.Range(0, definition.Labels.Count).OrderBy(i => definition.Labels[i], StringComparer.Ordinal).ToArray();
        var scoped = definition.Instrument is not null;
        var keyed = new List<(string Key, MetricSample Sample)>();
        var key = new StringBuilder();
        foreach (var series in definition.Read(state))
        {
            var labels = new MetricLabel[order.Length + (scoped ? 1 : 0)];
            key.Clear();
            for (var i = 0; i < order.Length; i++)
            {
                labels[i] = new MetricLabel(definition.Labels[order[i]], series.LabelValues[order[i]]);
                key.Append(labels[i].Name).Append('\u0001').Append(labels[i].Value).Append('\u0002');
            }

            if (scoped)
            {
                labels[^1] = Scope;
            }

            var sample = series.Histogram is { } histogram ? MetricSample.OfHistogram(histogram, labels) : MetricSample.Of(series.Value, labels);
            keyed.Add((key.ToString(), sample));
        }

        keyed.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return keyed.ConvertAll(k => k.Sample);
    }
}
