using System.Globalization;

namespace SockWatch.Agent.Metrics;

/// <summary>The two text formats SockWatch serves.</summary>
internal enum ExpositionFormat
{
    /// <summary>Prometheus text format 0.0.4, the default.</summary>
    PrometheusText004,

    /// <summary>OpenMetrics 1.0.0 text.</summary>
    OpenMetrics100,
}

/// <summary>
/// Writes metric families in the Prometheus text format 0.0.4 or OpenMetrics 1.0.0, and picks
/// one of them from a request's Accept header. Knows nothing of OpenTelemetry.
/// </summary>
/// <remarks>
/// What the two formats do differently, each in its section of docs/exposition.md, and what is
/// done here:
/// <list type="bullet">
/// <item>Counters (docs/exposition.md, "Counters"). 0.0.4: HELP and TYPE carry the sample name, <c>_total</c> included
/// (<c># TYPE sockwatch_poll_errors_total counter</c>). OpenMetrics: TYPE, UNIT and HELP carry the
/// family name without <c>_total</c> (<c># TYPE sockwatch_poll_errors counter</c>). In both the
/// samples are <c>sockwatch_poll_errors_total</c>. No <c>_created</c> series: it is a SHOULD, the
/// model has no creation time, and Prometheus 2.x would ingest it as an extra series
/// (docs/exposition.md, "Created series").</item>
/// <item>Info. OpenMetrics: <c># TYPE x info</c> and samples <c>x_info{…} 1</c>. 0.0.4 has no
/// info type: <c># TYPE x_info gauge</c>, the same samples (docs/exposition.md, "Info and unknown").</item>
/// <item>Unknown: <c>untyped</c> in 0.0.4, <c>unknown</c> in OpenMetrics.</item>
/// <item>Metadata order (docs/exposition.md, "Metadata"): OpenMetrics TYPE, UNIT, HELP (its SHOULD); 0.0.4 HELP then TYPE, as
/// everyone writes it. <c># UNIT</c> only in OpenMetrics, only when the family has a unit.
/// A family with empty help gets no HELP line in either format.</item>
/// <item>HELP escaping: 0.0.4 escapes backslash and line feed only; OpenMetrics escapes like a
/// label value: backslash, double quote, line feed. Label values: those three in both.</item>
/// <item>End (docs/exposition.md, "End of body"): 0.0.4 ends with the last line's line feed; OpenMetrics with <c># EOF</c> and a line feed.</item>
/// <item>Bucket bounds: OpenMetrics requires the canonical float form (<c>1.0</c>, <c>0.1</c>,
/// <c>1e-05</c>, <c>+Inf</c>). 0.0.4 leaves it free; we write the same canonical form there too,
/// so <c>le</c> is one string whichever format is scraped and whichever Prometheus (3.x normalizes
/// 0.0.4's <c>le="1"</c> to <c>"1.0"</c>; docs/exposition.md, "Bucket bounds").</item>
/// </list>
/// Both: UTF-8 without BOM, LF line ends, no timestamps, families in the order given, samples in
/// the order given, labels in the order given.
/// </remarks>
internal static class PrometheusTextSerializer
{
    /// <summary>The Content-Type of the 0.0.4 text format, exactly as client_golang sends it (docs/exposition.md, "Content types").</summary>
    public const string ContentType004 = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The Content-Type of OpenMetrics 1.0.0 text (docs/exposition.md, "Content types").</summary>
    public const string ContentTypeOpenMetrics100 = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// <summary>
    /// Writes <paramref name="families"/> to <paramref name="output"/> in <paramref name="format"/>,
    /// through a pooled buffer; the stream is written synchronously and not flushed or closed.
    /// </summary>
    /// <exception cref="ArgumentException">Two families expose the same name.</exception>
    public static void Write(Stream output, IReadOnlyList<MetricFamily> families, ExpositionFormat format)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(families);
        if (format is not (ExpositionFormat.PrometheusText004 or ExpositionFormat.OpenMetrics100))
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown exposition format.");
        }

        CheckNamesAreUnique(families);
        var openMetrics = format == ExpositionFormat.OpenMetrics100;
        using var writer = new ExpositionWriter(output);
        foreach (var family in families)
        {
            WriteMetadata(writer, family, openMetrics);
            WriteSamples(writer, family);
        }

        if (openMetrics)
        {
            writer.Ascii("# EOF\n"u8);
        }

        writer.Flush();
    }

    /// <summary>
    /// Chooses the format for an Accept header: the acceptable one with the highest q-value.
    /// OpenMetrics only on an explicit <c>application/openmetrics-text</c> with <c>version=1.0.0</c>
    /// (client_golang reads an unversioned one as 0.0.1; docs/exposition.md, "Negotiation"); 0.0.4 for <c>text/plain</c> without
    /// a version or with 0.0.4, <c>text/*</c> and <c>*/*</c>. On equal q an explicit media type beats a
    /// wildcard, then the first listed wins. Anything else, a missing header or garbage: 0.0.4.
    /// Other parameters (<c>escaping=</c>, <c>charset=</c>) are ignored: SockWatch's names are legacy-safe.
    /// </summary>
    public static (ExpositionFormat Format, string ContentType) Negotiate(string? acceptHeader)
    {
        var best = ExpositionFormat.PrometheusText004;
        var bestQ = 0.0;
        var bestExplicit = false;
        var header = acceptHeader.AsSpan();
        foreach (var range in header.Split(','))
        {
            if (!TryReadMediaRange(header[range], out var format, out var q, out var isExplicit) || q <= 0)
            {
                continue;
            }

            if (q > bestQ || (q == bestQ && isExplicit && !bestExplicit))
            {
                (best, bestQ, bestExplicit) = (format, q, isExplicit);
            }
        }

        return best == ExpositionFormat.OpenMetrics100
            ? (best, ContentTypeOpenMetrics100)
            : (ExpositionFormat.PrometheusText004, ContentType004);
    }

    /// <summary>One media range, e.g. <c>application/openmetrics-text;version=1.0.0;q=0.75</c>.</summary>
    private static bool TryReadMediaRange(ReadOnlySpan<char> range, out ExpositionFormat format, out double q, out bool isExplicit)
    {
        format = ExpositionFormat.PrometheusText004;
        q = 1;
        isExplicit = false;
        ReadOnlySpan<char> mediaType = default;
        ReadOnlySpan<char> version = default;
        var first = true;
        foreach (var part in range.Split(';'))
        {
            var token = range[part].Trim(" \t");
            if (first)
            {
                mediaType = token;
                first = false;
                continue;
            }

            var eq = token.IndexOf('=');
            if (eq <= 0)
            {
                return false;
            }

            var key = token[..eq].TrimEnd(" \t");
            var value = token[(eq + 1)..].Trim(" \t").Trim('"');
            if (key.Equals("q", StringComparison.OrdinalIgnoreCase))
            {
                if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out q) || q > 1)
                {
                    return false;
                }
            }
            else if (key.Equals("version", StringComparison.OrdinalIgnoreCase))
            {
                version = value;
            }
        }

        if (mediaType.Equals("application/openmetrics-text", StringComparison.OrdinalIgnoreCase))
        {
            format = ExpositionFormat.OpenMetrics100;
            isExplicit = true;
            return version.SequenceEqual("1.0.0");
        }

        if (mediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase))
        {
            isExplicit = true;
            return version.IsEmpty || version.SequenceEqual("0.0.4");
        }

        return mediaType.Equals("*/*", StringComparison.Ordinal) || mediaType.Equals("text/*", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>One HELP and one TYPE per name: two families must not expose the same name.</summary>
    private static void CheckNamesAreUnique(IReadOnlyList<MetricFamily> families)
    {
        var names = new HashSet<string>(families.Count * 2, StringComparer.Ordinal);
        foreach (var family in families)
        {
            ArgumentNullException.ThrowIfNull(family, nameof(families));
            var sampleName = SampleName(family);
            if (!names.Add(family.Name) || (sampleName != family.Name && !names.Add(sampleName)))
            {
                throw new ArgumentException($"Two families expose the name {family.Name} or {sampleName}.", nameof(families));
            }
        }
    }

    private static string SampleName(MetricFamily family) => family.Type switch
    {
        MetricType.Counter => family.Name + "_total",
        MetricType.Info => family.Name + "_info",
        _ => family.Name,
    };

    private static void WriteMetadata(ExpositionWriter w, MetricFamily family, bool openMetrics)
    {
        if (openMetrics)
        {
            w.Ascii("# TYPE "u8);
            w.Name(family.Name);
            w.Ascii(family.Type switch
            {
                MetricType.Gauge => " gauge\n"u8,
                MetricType.Counter => " counter\n"u8,
                MetricType.Histogram => " histogram\n"u8,
                MetricType.Info => " info\n"u8,
                _ => " unknown\n"u8,
            });
            if (family.Unit is not null)
            {
                w.Ascii("# UNIT "u8);
                w.Name(family.Name);
                w.Byte((byte)' ');
                w.Name(family.Unit);
                w.Byte((byte)'\n');
            }

            WriteHelp(w, family.Name, family.Help, escapeQuote: true);
            return;
        }

        // 0.0.4: metadata carries the name the samples have (counters with _total; docs/exposition.md, "Counters").
        var metaName = SampleName(family);
        WriteHelp(w, metaName, family.Help, escapeQuote: false);
        w.Ascii("# TYPE "u8);
        w.Name(metaName);
        w.Ascii(family.Type switch
        {
            MetricType.Gauge or MetricType.Info => " gauge\n"u8,
            MetricType.Counter => " counter\n"u8,
            MetricType.Histogram => " histogram\n"u8,
            _ => " untyped\n"u8,
        });
    }

    private static void WriteHelp(ExpositionWriter w, string name, string help, bool escapeQuote)
    {
        if (help.Length == 0)
        {
            return;
        }

        w.Ascii("# HELP "u8);
        w.Name(name);
        w.Byte((byte)' ');
        w.Help(help, escapeQuote);
        w.Byte((byte)'\n');
    }

    private static void WriteSamples(ExpositionWriter w, MetricFamily family)
    {
        var suffix = family.Type switch
        {
            MetricType.Counter => "_total"u8,
            MetricType.Info => "_info"u8,
            _ => default,
        };
        foreach (var sample in family.Samples)
        {
            if (sample.Histogram is not { } h)
            {
                SeriesStart(w, family.Name, suffix, sample.Labels, le: null);
                w.Value(sample.Value);
                w.Byte((byte)'\n');
                continue;
            }

            for (var i = 0; i < h.UpperBounds.Count; i++)
            {
                SeriesStart(w, family.Name, "_bucket"u8, sample.Labels, h.UpperBounds[i]);
                w.Integer(h.CumulativeCounts[i]);
                w.Byte((byte)'\n');
            }

            SeriesStart(w, family.Name, "_sum"u8, sample.Labels, le: null);
            w.Value(h.Sum);
            w.Byte((byte)'\n');
            SeriesStart(w, family.Name, "_count"u8, sample.Labels, le: null);
            w.Integer(h.Count);
            w.Byte((byte)'\n');
        }
    }

    /// <summary><c>name_suffix{labels,le="bound"} </c>: everything of a sample line before its value.</summary>
    private static void SeriesStart(ExpositionWriter w, string name, ReadOnlySpan<byte> suffix, IReadOnlyList<MetricLabel> labels, double? le)
    {
        w.Name(name);
        w.Ascii(suffix);
        WriteLabels(w, labels, le);
        w.Byte((byte)' ');
    }

    private static void WriteLabels(ExpositionWriter w, IReadOnlyList<MetricLabel> labels, double? le)
    {
        if (labels.Count == 0 && le is null)
        {
            return;
        }

        w.Byte((byte)'{');
        for (var i = 0; i < labels.Count; i++)
        {
            if (i > 0)
            {
                w.Byte((byte)',');
            }

            w.Name(labels[i].Name);
            w.Ascii("=\""u8);
            w.LabelValue(labels[i].Value);
            w.Byte((byte)'"');
        }

        if (le is { } bound)
        {
            w.Ascii(labels.Count > 0 ? ",le=\""u8 : "le=\""u8);
            w.Bound(bound);
            w.Byte((byte)'"');
        }

        w.Byte((byte)'}');
    }
}
