using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>The metric tables of docs/metrics.md: one row per family, its name as the samples carry it, its type and its labels.</summary>
internal static partial class MetricsDoc
{
    internal sealed record Row(string Name, string Type, IReadOnlyList<string> Labels);

    private static readonly Lazy<IReadOnlyList<Row>> Parsed = new(Parse);

    /// <summary>Every row of a metric table, in the order of the document.</summary>
    public static IReadOnlyList<Row> Rows => Parsed.Value;

    private static List<Row> Parse()
    {
        var rows = new List<Row>();
        foreach (var line in File.ReadLines(Path.Combine(Repo.Root, "docs", "metrics.md")))
        {
            var m = MetricRow().Match(line);
            if (m.Success)
            {
                var labels = LabelName().Matches(m.Groups[3].Value).Select(l => l.Groups[1].Value).ToList();
                rows.Add(new Row(m.Groups[1].Value, m.Groups[2].Value, labels));
            }
        }

        Assert.True(rows.Count >= 20, $"docs/metrics.md: only {rows.Count} metric rows found");
        return rows;
    }

    [GeneratedRegex(@"^\|\s*`((?:sockwatch_|target_info)[a-z0-9_]*)`\s*\|\s*(gauge|counter|histogram|summary)\s*\|([^|]*)\|")]
    private static partial Regex MetricRow();

    [GeneratedRegex("`([a-z_]+)`")]
    private static partial Regex LabelName();
}
