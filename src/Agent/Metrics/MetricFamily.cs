namespace SockWatch.Agent.Metrics;

/// <summary>The metric types SockWatch exposes. Summaries and gauge histograms are not needed.</summary>
internal enum MetricType
{
    /// <summary>0.0.4 <c>untyped</c>, OpenMetrics <c>unknown</c>.</summary>
    Unknown,
    Gauge,
    Counter,
    Histogram,

    /// <summary>OpenMetrics <c>info</c>; in 0.0.4 a gauge named <c>name_info</c>. Every value is 1.</summary>
    Info,
}

/// <summary>One label pair. The name is checked when a sample is built; the value is any text.</summary>
internal readonly record struct MetricLabel(string Name, string Value);

/// <summary>
/// A histogram's state at one instant: cumulative bucket counts, each with its upper bound
/// (strictly increasing, <c>+Inf</c> last), the sum of all observations and their count.
/// The <c>+Inf</c> bucket equals <see cref="Count"/>.
/// </summary>
internal sealed class HistogramValue
{
    public HistogramValue(IReadOnlyList<double> upperBounds, IReadOnlyList<long> cumulativeCounts, double sum, long count)
    {
        ArgumentNullException.ThrowIfNull(upperBounds);
        ArgumentNullException.ThrowIfNull(cumulativeCounts);
        if (upperBounds.Count == 0 || upperBounds.Count != cumulativeCounts.Count)
        {
            throw new ArgumentException("A histogram needs one cumulative count per upper bound, and at least the +Inf bucket.", nameof(cumulativeCounts));
        }

        if (!double.IsPositiveInfinity(upperBounds[^1]))
        {
            throw new ArgumentException("The last upper bound must be +Inf.", nameof(upperBounds));
        }

        for (var i = 0; i < upperBounds.Count; i++)
        {
            if (double.IsNaN(upperBounds[i]) || (i > 0 && upperBounds[i] <= upperBounds[i - 1]))
            {
                throw new ArgumentException("Upper bounds must be numbers in strictly increasing order.", nameof(upperBounds));
            }

            if (cumulativeCounts[i] < 0 || (i > 0 && cumulativeCounts[i] < cumulativeCounts[i - 1]))
            {
                throw new ArgumentException("Bucket counts must be cumulative: non-negative and never decreasing.", nameof(cumulativeCounts));
            }
        }

        if (count != cumulativeCounts[^1])
        {
            throw new ArgumentException("The count must equal the +Inf bucket.", nameof(count));
        }

        UpperBounds = [.. upperBounds];
        CumulativeCounts = [.. cumulativeCounts];
        Sum = sum;
        Count = count;
    }

    public IReadOnlyList<double> UpperBounds { get; }

    public IReadOnlyList<long> CumulativeCounts { get; }

    public double Sum { get; }

    public long Count { get; }
}

/// <summary>
/// One series of a family: its labels in the order they are written, and either a value or,
/// for a histogram family, a <see cref="HistogramValue"/>.
/// </summary>
internal sealed class MetricSample
{
    private MetricSample(IReadOnlyList<MetricLabel> labels, double value, HistogramValue? histogram)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var copy = new MetricLabel[labels.Count];
        for (var i = 0; i < copy.Length; i++)
        {
            var label = labels[i];
            MetricNames.ValidateLabelName(label.Name);
            ArgumentNullException.ThrowIfNull(label.Value, nameof(labels));
            for (var j = 0; j < i; j++)
            {
                if (string.Equals(copy[j].Name, label.Name, StringComparison.Ordinal))
                {
                    throw new ArgumentException($"Duplicate label name \"{label.Name}\".", nameof(labels));
                }
            }

            copy[i] = label;
        }

        Labels = copy;
        Value = value;
        Histogram = histogram;
    }

    public IReadOnlyList<MetricLabel> Labels { get; }

    /// <summary>The value of a gauge, counter, unknown or info sample; NaN for a histogram sample.</summary>
    public double Value { get; }

    /// <summary>The histogram state; null unless the sample belongs to a histogram family.</summary>
    public HistogramValue? Histogram { get; }

    public static MetricSample Of(double value, params IReadOnlyList<MetricLabel> labels) => new(labels, value, null);

    public static MetricSample OfHistogram(HistogramValue histogram, params IReadOnlyList<MetricLabel> labels)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        return new(labels, double.NaN, histogram);
    }
}

/// <summary>
/// A metric family: name, help, type, optional unit and its samples. Immutable; every rule that
/// does not depend on the output format is checked here, so the serializer can trust its input.
/// </summary>
/// <remarks>
/// <para><see cref="Name"/> is the family name without the suffixes the formats add: a counter
/// <c>sockwatch_poll_errors</c> is written as <c>sockwatch_poll_errors_total</c>, an info family
/// <c>sockwatch_build</c> as <c>sockwatch_build_info</c>.</para>
/// <para><see cref="Unit"/>, when set, must be the name's last <c>_</c> part
/// (<c>sockwatch_poll_duration_seconds</c>, unit <c>seconds</c>): OpenMetrics requires it and
/// Prometheus 2.42 fails the scrape otherwise. Only OpenMetrics writes it.</para>
/// <para>Checked here: names, duplicate label names in a sample, duplicate label sets in the family,
/// <c>le</c> on a histogram sample, counter values neither negative nor NaN (OpenMetrics), info
/// values exactly 1, and that histogram families hold histogram samples and no other family does.</para>
/// </remarks>
internal sealed class MetricFamily
{
    public MetricFamily(string name, string help, MetricType type, string? unit, IReadOnlyList<MetricSample> samples)
    {
        MetricNames.ValidateFamilyName(name, type);
        ArgumentNullException.ThrowIfNull(help);
        ArgumentNullException.ThrowIfNull(samples);
        if (!Enum.IsDefined(type))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown metric type.");
        }

        if (unit is not null)
        {
            MetricNames.ValidateUnit(name, unit);
        }

        var copy = new MetricSample[samples.Count];
        var seen = new HashSet<IReadOnlyList<MetricLabel>>(LabelSetComparer.Instance);
        for (var i = 0; i < copy.Length; i++)
        {
            var sample = samples[i] ?? throw new ArgumentException("A sample is null.", nameof(samples));
            CheckSample(name, type, sample);
            if (!seen.Add(sample.Labels))
            {
                throw new ArgumentException($"Family {name} has two samples with the same labels.", nameof(samples));
            }

            copy[i] = sample;
        }

        Name = name;
        Help = help;
        Type = type;
        Unit = unit;
        Samples = copy;
    }

    public string Name { get; }

    public string Help { get; }

    public MetricType Type { get; }

    public string? Unit { get; }

    public IReadOnlyList<MetricSample> Samples { get; }

    private static void CheckSample(string name, MetricType type, MetricSample sample)
    {
        if ((type == MetricType.Histogram) != (sample.Histogram is not null))
        {
            throw new ArgumentException($"Family {name} is a {type}: its samples must {(type == MetricType.Histogram ? "" : "not ")}be histogram samples.", nameof(sample));
        }

        switch (type)
        {
            case MetricType.Histogram:
                foreach (var label in sample.Labels)
                {
                    if (label.Name == "le")
                    {
                        throw new ArgumentException($"Histogram {name} cannot have a label named le: the buckets use it.", nameof(sample));
                    }
                }

                break;
            case MetricType.Counter when double.IsNaN(sample.Value) || sample.Value < 0:
                throw new ArgumentOutOfRangeException(nameof(sample), sample.Value, $"Counter {name} must be neither negative nor NaN.");
            case MetricType.Info when sample.Value != 1:
                throw new ArgumentOutOfRangeException(nameof(sample), sample.Value, $"Info {name} samples must have the value 1.");
        }
    }

    /// <summary>Label sets as sets: the same pairs in another order are the same series.</summary>
    private sealed class LabelSetComparer : IEqualityComparer<IReadOnlyList<MetricLabel>>
    {
        public static readonly LabelSetComparer Instance = new();

        public bool Equals(IReadOnlyList<MetricLabel>? x, IReadOnlyList<MetricLabel>? y)
        {
            if (x is null || y is null || x.Count != y.Count)
            {
                return x is null && y is null;
            }

            foreach (var label in x)
            {
                var found = false;
                foreach (var other in y)
                {
                    if (label == other)
                    {
                        found = true;
                        break;
                    }
                }

                if (!found)
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(IReadOnlyList<MetricLabel> obj)
        {
            var hash = 0;
            foreach (var label in obj)
            {
                hash ^= HashCode.Combine(label.Name, label.Value);
            }

            return hash;
        }
    }
}
