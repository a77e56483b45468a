using System.Diagnostics.CodeAnalysis;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// Checks metric, label and unit names. They come from SockWatch's own code, never from users,
/// so a bad one is a programming error and throws <see cref="ArgumentException"/> at once.
/// </summary>
/// <remarks>
/// The grammar is the one both text formats share (docs/exposition.md, "Names"): metric names
/// <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>, label names <c>[a-zA-Z_][a-zA-Z0-9_]*</c>. We are stricter
/// where the specs reserve things: no colon (recording rules only), no leading <c>_</c> on a
/// family (OpenMetrics reserves it), no <c>__</c> label prefix. Quoted UTF-8 names
/// (Prometheus 3) are never produced: Prometheus 2.42 cannot parse them.
/// </remarks>
internal static class MetricNames
{
    /// <summary>Suffixes the formats add to samples; a family name must not end with one (docs/exposition.md, "Reserved suffixes").</summary>
    private static readonly string[] ReservedSuffixes = ["_total", "_bucket", "_sum", "_count", "_created"];

    public static void ValidateFamilyName(string name, MetricType type)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name, allowColonAndDigitsLater: true) || name.Contains(':', StringComparison.Ordinal) || name[0] == '_')
        {
            ThrowInvalid("metric name", name, "must match [a-zA-Z][a-zA-Z0-9_]* (no colon, no leading underscore)");
        }

        foreach (var suffix in ReservedSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                ThrowInvalid(
                    "metric name",
                    name,
                    type == MetricType.Counter && suffix == "_total"
                        ? "is a counter family: give it without _total, the serializer adds it"
                        : "ends with the reserved suffix " + suffix);
            }
        }

        if (type == MetricType.Info && name.EndsWith("_info", StringComparison.Ordinal))
        {
            ThrowInvalid("metric name", name, "is an info family: give it without _info, the serializer adds it");
        }
    }

    public static void ValidateLabelName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name, allowColonAndDigitsLater: false) || name.StartsWith("__", StringComparison.Ordinal))
        {
            ThrowInvalid("label name", name, "must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
        }
    }

    /// <summary>A unit (OpenMetrics <c># UNIT</c>) must be the last <c>_</c>-separated part of the family name.</summary>
    public static void ValidateUnit(string familyName, string unit)
    {
        if (unit.Length == 0 || !IsValidName(unit, allowColonAndDigitsLater: false) || unit.Contains("__", StringComparison.Ordinal)
            || !familyName.EndsWith("_" + unit, StringComparison.Ordinal))
        {
            ThrowInvalid("unit", unit, "must be a suffix of the family name " + familyName + " after an underscore (OpenMetrics)");
        }
    }

    private static bool IsValidName(string name, bool allowColonAndDigitsLater)
    {
        if (name.Length == 0)
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = char.IsAsciiLetter(c) || c == '_' || (i > 0 && char.IsAsciiDigit(c)) || (allowColonAndDigitsLater && c == ':');
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    [DoesNotReturn]
    private static void ThrowInvalid(string what, string name, string rule) =>
        throw new ArgumentException($"Invalid {what} \"{name}\": {rule}.", what == "label name" ? "labels" : "name");
}
