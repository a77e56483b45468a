using System.Globalization;
using System.Text;

namespace SockWatch.ExporterBench;

/// <summary>One sample line of a text exposition: its metric name, labels and value as written.</summary>
internal sealed record Sample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, string Value)
{
    /// <summary>Name and labels, without the <c>otel_scope_*</c> labels, labels sorted: what a series is for the comparison.</summary>
    public string Key => Name + "{" + string.Join(',', Labels.Where(l => !l.Key.StartsWith("otel_scope_", StringComparison.Ordinal)).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";

    public string LabelsOnly => Key[Name.Length..];

    public double Number => Value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(Value, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}

/// <summary>A parsed text exposition (0.0.4 or OpenMetrics): metadata by family, families in order, samples in order.</summary>
internal sealed class Exposition
{
    public List<string> FamilyOrder { get; } = [];

    public Dictionary<string, string> Types { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Units { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Help { get; } = new(StringComparer.Ordinal);

    public List<Sample> Samples { get; } = [];

    public bool HasEof { get; private set; }

    public static Exposition Parse(string text)
    {
        var e = new Exposition();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line == "# EOF")
            {
                e.HasEof = true;
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3)
                {
                    var rest = parts.Length == 4 ? parts[3] : "";
                    switch (parts[1])
                    {
                        case "TYPE":
                            e.Types[parts[2]] = rest;
                            e.FamilyOrder.Add(parts[2]);
                            break;
                        case "UNIT":
                            e.Units[parts[2]] = rest;
                            break;
                        case "HELP":
                            e.Help[parts[2]] = rest;
                            break;
                        default:
                            break;
                    }
                }

                continue;
            }

            e.Samples.Add(ParseSample(line));
        }

        return e;
    }

    private static Sample ParseSample(string line)
    {
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var labels = new List<KeyValuePair<string, string>>();
        string name;
        int after;
        if (brace >= 0 && (space < 0 || brace < space))
        {
            name = line[..brace];
            var i = brace + 1;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var key = line[i..eq];
                var value = new StringBuilder();
                var j = eq + 2; // past ="
                while (line[j] != '"')
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] == 'n' ? '\n' : line[j]);
                    }
                    else
                    {
                        value.Append(line[j]);
                    }

                    j++;
                }

                labels.Add(new(key, value.ToString()));
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
            }

            after = i + 2;
        }
        else
        {
            name = line[..space];
            after = space + 1;
        }

        var end = line.IndexOf(' ', after);
        return new Sample(name, labels, end < 0 ? line[after..] : line[after..end]);
    }
}

/// <summary>Every class of difference between two expositions of the same poll, as lines of a report.</summary>
internal static class ExpositionDiff
{
    public static List<string> Compare(Exposition ours, Exposition theirs, string oursName, string theirsName)
    {
        var report = new List<string>();
        var a = ours.Samples.GroupBy(s => s.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var b = theirs.Samples.GroupBy(s => s.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var common = a.Keys.Where(b.ContainsKey).ToList();
        var onlyA = a.Keys.Where(k => !b.ContainsKey(k)).ToList();
        var onlyB = b.Keys.Where(k => !a.ContainsKey(k)).ToList();
        var differing = common.Where(k => !SameValue(a[k].Number, b[k].Number)).ToList();
        report.Add($"samples: {oursName} {ours.Samples.Count}, {theirsName} {theirs.Samples.Count}; same series (name+labels, otel_scope_* aside) {common.Count}, of which with a different value {differing.Count}; only in {oursName} {onlyA.Count}; only in {theirsName} {onlyB.Count}");
        report.Add($"families (# TYPE): {oursName} {ours.FamilyOrder.Count}, {theirsName} {theirs.FamilyOrder.Count}");

        // Names: a series only on one side whose labels and value match one only on the other is the same series under another name.
        var renamed = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var matchedB = new HashSet<string>(StringComparer.Ordinal);
        var unmatchedA = new List<string>();
        var byLabels = onlyB.GroupBy(k => b[k].LabelsOnly, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var k in onlyA)
        {
            var s = a[k];
            var twin = byLabels.GetValueOrDefault(s.LabelsOnly)?.FirstOrDefault(o => !matchedB.Contains(o) && SameValue(b[o].Number, s.Number) && Stem(b[o].Name) == Stem(s.Name));
            if (twin is null)
            {
                unmatchedA.Add(k);
                continue;
            }

            matchedB.Add(twin);
            var pair = $"{s.Name} -> {b[twin].Name}";
            renamed[pair] = renamed.GetValueOrDefault(pair) + 1;
        }

        report.Add($"names: {renamed.Count} name(s) differ for series with the same labels and value ({renamed.Values.Sum()} series):");
        report.AddRange(renamed.Select(r => $"  {r.Key} ({r.Value})"));

        var created = onlyB.Where(k => !matchedB.Contains(k) && b[k].Name.EndsWith("_created", StringComparison.Ordinal)).ToList();
        var createdA = unmatchedA.Where(k => a[k].Name.EndsWith("_created", StringComparison.Ordinal)).ToList();
        report.Add($"_created: {oursName} {createdA.Count} series, {theirsName} {created.Count} series");
        report.Add($"target_info: {oursName} {Describe(ours, "target_info")}; {theirsName} {Describe(theirs, "target_info")}");
        report.Add($"otel_scope_info: {oursName} {Describe(ours, "otel_scope_info")}; {theirsName} {Describe(theirs, "otel_scope_info")}");
        report.Add($"otel_scope_* labels on samples: {oursName} {ScopeLabels(ours)}; {theirsName} {ScopeLabels(theirs)}");
        report.Add($"otel_metric_overflow series: {oursName} {ours.Samples.Count(s => s.Labels.Any(l => l.Key == "otel_metric_overflow"))}, {theirsName} {theirs.Samples.Count(s => s.Labels.Any(l => l.Key == "otel_metric_overflow"))}");
        report.Add($"histogram buckets (le): {oursName} {Buckets(ours)}; {theirsName} {Buckets(theirs)}");

        var types = ours.Types.Where(t => theirs.Types.TryGetValue(t.Key, out var other) && other != t.Value).Select(t => $"{t.Key}: {t.Value} vs {theirs.Types[t.Key]}").ToList();
        report.Add($"TYPE differs for a family of the same name: {(types.Count == 0 ? "none" : string.Join("; ", types))}");
        var units = ours.Units.Count + theirs.Units.Count == 0 ? "none on either side" :
            $"{oursName} {ours.Units.Count} UNIT lines, {theirsName} {theirs.Units.Count}; differing: {string.Join("; ", ours.Units.Where(u => theirs.Units.TryGetValue(u.Key, out var v) && v != u.Value).Select(u => $"{u.Key} {u.Value} vs {theirs.Units[u.Key]}").DefaultIfEmpty("none"))}";
        report.Add($"UNIT metadata: {units}");
        var help = ours.Help.Count(h => theirs.Help.TryGetValue(h.Key, out var v) && v != h.Value);
        report.Add($"HELP text differs for {help} famil(ies) of the same name");
        report.AddRange(ours.Help.Where(h => theirs.Help.TryGetValue(h.Key, out var v) && v != h.Value).Select(h => $"  {h.Key}: {oursName} \"{h.Value}\" vs {theirsName} \"{theirs.Help[h.Key]}\""));
        report.Add($"family order: {oursName} {(IsSorted(ours.FamilyOrder) ? "sorted by name" : "not sorted")}, {theirsName} {(IsSorted(theirs.FamilyOrder) ? "sorted by name" : "not sorted")}; same order: {ours.FamilyOrder.Where(theirs.FamilyOrder.Contains).SequenceEqual(theirs.FamilyOrder.Where(ours.FamilyOrder.Contains))}");

        var leftA = unmatchedA.Where(k => !createdA.Contains(k) && a[k].Name != "target_info").ToList();
        var leftB = onlyB.Where(k => !matchedB.Contains(k) && !created.Contains(k) && b[k].Name is not "target_info" and not "otel_scope_info").ToList();
        report.Add($"other series only in {oursName}: {leftA.Count}");
        report.AddRange(leftA.Take(12).Select(k => $"  {k} {a[k].Value}"));
        report.Add($"other series only in {theirsName}: {leftB.Count}");
        report.AddRange(leftB.Take(12).Select(k => $"  {k} {b[k].Value}"));
        report.Add($"series in both with a different value: {differing.Count}");
        report.AddRange(differing.Take(12).Select(k => $"  {k}: {a[k].Value} vs {b[k].Value}"));
        return report;
    }

    private static bool SameValue(double x, double y) => x.Equals(y) || Math.Abs(x - y) <= 1e-12 * Math.Max(Math.Abs(x), Math.Abs(y));

    /// <summary>The name without the suffixes the translation rules may add or drop.</summary>
    private static string Stem(string name)
    {
        foreach (var suffix in (string[])["_total", "_ratio", "_seconds", "_sockets", "_socket", "_ports", "_port", "_findings", "_finding", "_transitions", "_transition", "_connections", "_connection", "_polls", "_poll", "_entries", "_entry", "_namespaces", "_namespace", "_info"])
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                return Stem(name[..^suffix.Length]);
            }
        }

        return name;
    }

    private static string Describe(Exposition e, string name)
    {
        var samples = e.Samples.Where(s => s.Name == name).ToList();
        return samples.Count == 0 ? "absent" : string.Join(" ", samples.Select(s => s.Key[name.Length..] + " " + s.Value)) + (e.Types.TryGetValue(name, out var t) ? $" (TYPE {t})" : "");
    }

    private static string ScopeLabels(Exposition e)
    {
        var names = e.Samples.SelectMany(s => s.Labels).Where(l => l.Key.StartsWith("otel_scope_", StringComparison.Ordinal)).Select(l => $"{l.Key}=\"{l.Value}\"").Distinct().Order(StringComparer.Ordinal).ToList();
        var with = e.Samples.Count(s => s.Labels.Any(l => l.Key.StartsWith("otel_scope_", StringComparison.Ordinal)));
        return names.Count == 0 ? "none" : $"{string.Join(", ", names)} on {with} of {e.Samples.Count} samples";
    }

    private static string Buckets(Exposition e)
    {
        var sets = e.Samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal))
            .GroupBy(s => s.Name, StringComparer.Ordinal)
            .Select(g => $"{g.Key}: {string.Join(",", g.Select(s => s.Labels.First(l => l.Key == "le").Value))}");
        return string.Join("; ", sets.DefaultIfEmpty("none"));
    }

    private static bool IsSorted(List<string> names) => names.SequenceEqual(names.Order(StringComparer.Ordinal));
}
