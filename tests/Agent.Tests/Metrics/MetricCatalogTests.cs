using System.Text;
using SockWatch.Agent.Metrics;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// The catalog is the contract: docs/metrics.md documents exactly its families with their types
/// and labels, every Prometheus name is what OpenTelemetry's Prometheus rules make of the
/// instrument (what OTLP users see through Prometheus's OTLP receiver), and the series budgets
/// follow the labels and the caps.
/// </summary>
public sealed class MetricCatalogTests
{
    [Fact]
    public void Docs_document_every_family_of_the_catalog_with_its_type_and_labels()
    {
        var documented = MetricsDoc.Rows.ToDictionary(r => r.Name, StringComparer.Ordinal);
        Assert.Equal(MetricsDoc.Rows.Count, documented.Count); // no family twice
        Assert.Equal(
            MetricCatalog.All.Select(d => d.SampleName).Order(StringComparer.Ordinal),
            documented.Keys.Order(StringComparer.Ordinal));
        foreach (var d in MetricCatalog.All)
        {
            var row = documented[d.SampleName];
            Assert.True(d.Type.ToString().Equals(row.Type, StringComparison.OrdinalIgnoreCase), $"{d.SampleName}: {row.Type} in the docs, {d.Type} in the catalog");
            Assert.True(
                d.Labels.Order(StringComparer.Ordinal).SequenceEqual(row.Labels.Order(StringComparer.Ordinal)),
                $"{d.SampleName}: labels {string.Join(", ", row.Labels)} in the docs, {string.Join(", ", d.Labels)} in the catalog");
        }
    }

    [Fact]
    public void Every_prometheus_name_is_what_the_opentelemetry_rules_make_of_the_instrument()
    {
        foreach (var d in MetricCatalog.All.Where(d => d.Instrument is not null))
        {
            Assert.Equal(NameOf(d.Instrument!, d.OtelUnit, d.Type), d.SampleName);
        }

        Assert.Equal("sockwatch_close_wait_oldest_age_seconds", NameOf("sockwatch.close_wait.oldest_age", "s", MetricType.Gauge));
        Assert.Equal("sockwatch_poll_errors_total", NameOf("sockwatch.poll.errors", "{poll}", MetricType.Counter));
        Assert.Equal("sockwatch_queue_ratio", NameOf("sockwatch.queue", "1", MetricType.Gauge));
    }

    [Fact]
    public void The_catalog_is_sorted_and_its_names_and_labels_are_valid()
    {
        Assert.Equal(MetricCatalog.All.Select(d => d.Name).Order(StringComparer.Ordinal), MetricCatalog.All.Select(d => d.Name));
        Assert.Equal(MetricCatalog.All.Count, MetricCatalog.All.Select(d => d.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(MetricCatalog.All.Count(d => d.Instrument is not null), MetricCatalog.All.Select(d => d.Instrument).OfType<string>().Distinct(StringComparer.Ordinal).Count());
        Assert.Single(MetricCatalog.All, d => d.Instrument is null); // target_info, the resource
        foreach (var d in MetricCatalog.All)
        {
            MetricNames.ValidateFamilyName(d.Name, d.Type);
            Assert.All(d.Labels, MetricNames.ValidateLabelName);
            Assert.DoesNotContain(MetricExposition.ScopeLabel, d.Labels);
        }
    }

    [Fact]
    public void Series_budgets_follow_the_labels_and_the_caps()
    {
        var caps = new SeriesCaps(Owners: 50, Destinations: 20, Namespaces: 100);
        int? Budget(string name) => MetricCatalog.Get(name).SeriesPerCollection(caps);

        Assert.Equal(101 * 2 * 13, Budget("sockwatch_tcp_sockets")); // namespaces and other, families, states (an upper bound)
        Assert.Equal(51 * 13, Budget("sockwatch_tcp_owner_sockets")); // owners and other, states
        Assert.Equal(51, Budget("sockwatch_close_wait_leaked_sockets"));
        Assert.Equal(21, Budget("sockwatch_listen_queue_utilization_ratio"));
        Assert.Equal(21, Budget("sockwatch_ephemeral_port_utilization_ratio"));
        Assert.Equal(101, Budget("sockwatch_kernel_listen_drops"));
        Assert.Null(Budget("sockwatch_findings")); // not capped: its series are few and fixed
        Assert.Null(Budget("sockwatch_poll_stage_success"));

        // Every family with a namespace label is capped, and each of its labels is bounded per key.
        Assert.All(MetricCatalog.All.Where(d => d.Labels.Contains("netns")), d => Assert.NotNull(d.SeriesPerCollection(caps)));
    }

    [Fact]
    public void A_stage_without_a_report_has_no_series_and_no_report_no_family()
    {
        var view = PollMetrics.Build(PollFactory.Poll(new SockWatch.Core.Detection.SocketTracker(), PollFactory.Start, [], []), TimeSpan.FromMinutes(2), new SeriesCaps(50, 20));
        MetricsState State(params StageFigure[] stages) =>
            MetricsState.Initial(TimeSpan.FromMinutes(2)) with { Latest = new PublishedPoll(PollFactory.Start, TimeSpan.Zero, "proc", view, 1, 0, 0, stages) };

        var families = MetricExposition.Families(State(new StageFigure("dump", 0.25, true), new StageFigure("owners", 0.5, false)));
        var success = families.Single(f => f.Name == "sockwatch_poll_stage_success").Samples;
        Assert.Equal(["dump", "owners"], success.Select(s => s.Labels[0].Value));
        Assert.Equal([1.0, 0.0], success.Select(s => s.Value));
        Assert.Equal([0.25, 0.5], families.Single(f => f.Name == "sockwatch_poll_stage_duration_seconds").Samples.Select(s => s.Value));

        Assert.DoesNotContain(MetricExposition.Families(State()), f => f.Name.StartsWith("sockwatch_poll_stage_", StringComparison.Ordinal));
    }

    /// <summary>
    /// What OpenTelemetry's Prometheus rules (as Prometheus's OTLP receiver applies them) name an
    /// instrument: characters outside [a-zA-Z0-9_:] as one underscore, the unit's word appended
    /// unless the name ends with it (annotations such as <c>{socket}</c> add nothing), unit
    /// <c>1</c> on a gauge as <c>_ratio</c>, and counters ending in <c>_total</c>.
    /// </summary>
    private static string NameOf(string instrument, string? unit, MetricType type)
    {
        var sb = new StringBuilder();
        foreach (var c in instrument)
        {
            var next = char.IsAsciiLetterOrDigit(c) || c == ':' ? c : '_';
            if (!(next == '_' && sb.Length > 0 && sb[^1] == '_'))
            {
                sb.Append(next);
            }
        }

        var name = sb.ToString();
        string? word = unit switch
        {
            "s" => "seconds",
            "ms" => "milliseconds",
            "By" => "bytes",
            "1" when type == MetricType.Gauge => "ratio",
            _ => null,
        };
        if (word is not null && !name.EndsWith("_" + word, StringComparison.Ordinal))
        {
            name += "_" + word;
        }

        return type == MetricType.Counter && !name.EndsWith("_total", StringComparison.Ordinal) ? name + "_total" : name;
    }
}
