using System.Diagnostics.Metrics;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// SockWatch's one Meter, for OTLP: an instrument per family of the catalog, named, typed and
/// described as the catalog says. Every instrument but the poll-duration histogram is
/// observable and reads the families of the latest published state, so the instruments hold no
/// state of their own, which is what lets <see cref="OtlpExport"/> rebuild the owner streams
/// without losing anything. <c>/metrics</c> does not go through here.
/// </summary>
internal sealed class SockWatchMeter : IDisposable
{
    private readonly Func<IReadOnlyList<MetricFamily>> _families;

    /// <param name="families">The families of the latest published state.</param>
    /// <param name="capped">The instruments whose series follow capped keys (namespaces, owners, destinations, listeners).</param>
    /// <param name="observed">Called with (instrument, series key) for every measurement of a capped instrument, so the series a stream has seen can be counted.</param>
    public SockWatchMeter(Func<IReadOnlyList<MetricFamily>> families, IReadOnlySet<string> capped, Action<string, string> observed)
    {
        _families = families;
        Meter = new Meter(MetricCatalog.MeterName);
        foreach (var d in MetricCatalog.All)
        {
            if (d.Instrument is not { } name)
            {
                continue;
            }

            var watch = capped.Contains(name) ? observed : null;
            switch (d.Type)
            {
                case MetricType.Histogram:
                    break; // recorded, below
                case MetricType.Counter when d.Integer:
                    Meter.CreateObservableCounter(name, () => Measure(d, watch, v => (long)v), d.OtelUnit, d.Help);
                    break;
                case MetricType.Counter:
                    Meter.CreateObservableCounter(name, () => Measure(d, watch, v => v), d.OtelUnit, d.Help);
                    break;
                case MetricType.Gauge when d.Integer:
                    Meter.CreateObservableGauge(name, () => Measure(d, watch, v => (long)v), d.OtelUnit, d.Help);
                    break;
                default:
                    Meter.CreateObservableGauge(name, () => Measure(d, watch, v => v), d.OtelUnit, d.Help);
                    break;
            }
        }

        var duration = MetricCatalog.Get("sockwatch_poll_duration_seconds");
        PollDuration = Meter.CreateHistogram<double>(duration.Instrument!, duration.OtelUnit, duration.Help);
    }

    public Meter Meter { get; }

    /// <summary>The poll-duration histogram: recorded once per successful poll.</summary>
    public Histogram<double> PollDuration { get; }

    public void Dispose() => Meter.Dispose();

    private IEnumerable<Measurement<T>> Measure<T>(MetricDefinition definition, Action<string, string>? observed, Func<double, T> convert)
        where T : struct
    {
        MetricFamily? family = null;
        foreach (var f in _families())
        {
            if (f.Name == definition.Name)
            {
                family = f;
                break;
            }
        }

        foreach (var sample in family?.Samples ?? [])
        {
            var tags = new KeyValuePair<string, object?>[sample.Labels.Count - 1]; // all but otel_scope_name
            var values = new string[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                tags[i] = new(sample.Labels[i].Name, sample.Labels[i].Value);
                values[i] = sample.Labels[i].Value;
            }

            observed?.Invoke(definition.Instrument!, string.Join('\0', values));
            yield return new Measurement<T>(convert(sample.Value), tags);
        }
    }
}
