using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Deploy;

/// <summary>
/// The shipped alert rules, their unit tests, the example Prometheus configuration, the Grafana
/// dashboards and provisioning files: promtool accepts them, every expression reads only metrics
/// that docs/metrics.md documents, every alert has a runbook section, and the dashboards load
/// through file provisioning (no __inputs, every query on the datasource variable).
/// </summary>
public sealed class RulesAndDashboardsTests
{
    private const string RunbookBase = "https://github.com/sockwatch/sockwatch/blob/main/docs/runbook.md#";

    private static readonly string PrometheusDir = Path.Combine(Repo.Root, "deploy", "prometheus");
    internal static readonly string RulesFile = Path.Combine(PrometheusDir, "sockwatch-alerts.yml");
    internal static readonly string DashboardsDir = Path.Combine(Repo.Root, "grafana", "dashboards");

    /// <summary>The dashboards and the uid each must keep: links and provisioning upserts use it.</summary>
    internal static readonly Dictionary<string, string> Dashboards = new(StringComparer.Ordinal)
    {
        ["sockwatch-overview.json"] = "sockwatch-overview",
        ["sockwatch-host.json"] = "sockwatch-host",
    };

    private static readonly JsonElement DatasourceRef = JsonDocument.Parse("""{"type":"prometheus","uid":"${datasource}"}""").RootElement;

    [PromtoolFact]
    public void Promtool_checks_the_rules_and_finds_every_rule_this_test_reads() =>
        // The line reader below must see what promtool sees, or the checks built on it prove little.
        AssertPromtool($"SUCCESS: {Rules().Count} rules found", "check", "rules", RulesFile);

    [PromtoolFact]
    public void Promtool_passes_the_rule_unit_tests() =>
        AssertPromtool("SUCCESS", "test", "rules", Path.Combine(PrometheusDir, "sockwatch-alerts_test.yml"));

    [PromtoolFact]
    public void Promtool_checks_the_example_configuration_and_the_rule_file_it_loads() =>
        AssertPromtool("SUCCESS: 1 rule files found", "check", "config", Path.Combine(PrometheusDir, "prometheus.yml"));

    [Fact]
    public void The_example_configuration_scrapes_the_job_the_rules_expect()
    {
        var config = File.ReadAllText(Path.Combine(PrometheusDir, "prometheus.yml"));
        Assert.Matches(@"(?m)^\s*-\s*job_name:\s*sockwatch\s*$", config);
        Assert.Matches(@"(?m)^\s*-\s*localhost:9859\s*$", config);
        Assert.Matches(@"(?m)^\s*-\s*sockwatch-alerts\.yml\s*$", config);
        Assert.Contains(Rules(), r => r.Expr.Contains("up{job=\"sockwatch\"}", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_alert_expression_reads_only_documented_metrics()
    {
        var rules = Rules();
        Assert.NotEmpty(rules);
        foreach (var rule in rules)
        {
            AssertDocumentedMetrics(rule.Expr, $"alert {rule.Name}");
        }
    }

    [Fact]
    public void Every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section()
    {
        var headings = File.ReadAllLines(Path.Combine(Repo.Root, "docs", "runbook.md"))
            .Where(l => l.StartsWith("## ", StringComparison.Ordinal))
            .Select(l => GitHubAnchor(l[3..]))
            .ToHashSet(StringComparer.Ordinal);
        foreach (var rule in Rules())
        {
            Assert.Contains(rule.Field("severity"), new[] { "warning", "critical" });
            Assert.False(string.IsNullOrWhiteSpace(rule.Field("summary")), rule.Name);
            if (!rule.Expr.StartsWith("absent(", StringComparison.Ordinal))
            {
                // absent() has no instance to name: it fires when there is none.
                Assert.Contains("{{ $labels.instance }}", rule.Field("description"), StringComparison.Ordinal);
            }

            Assert.Equal(RunbookBase + rule.Name.ToLowerInvariant(), rule.Field("runbook_url"));
            Assert.True(headings.Contains(rule.Name.ToLowerInvariant()), $"docs/runbook.md has no section \"## {rule.Name}\"");
        }
    }

    [Fact]
    public void Every_alert_is_unit_tested_both_firing_and_silent()
    {
        var tests = File.ReadAllText(Path.Combine(PrometheusDir, "sockwatch-alerts_test.yml"));
        var firing = Regex.Matches(tests, @"alertname:\s*(\w+)\s+exp_alerts:\s*\n\s*-\s*exp_labels").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var silent = Regex.Matches(tests, @"alertname:\s*(\w+),?\s+exp_alerts:\s*\[\]").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        foreach (var name in Rules().Select(r => r.Name).Distinct(StringComparer.Ordinal))
        {
            Assert.True(firing.Contains(name), $"no test expects {name} to fire");
            Assert.True(silent.Contains(name), $"no test expects {name} to stay silent");
        }
    }

    [Fact]
    public void Dashboards_load_through_file_provisioning()
    {
        Assert.Equal(Dashboards.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(DashboardsDir, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var (file, uid) in Dashboards)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(DashboardsDir, file)));
            var d = doc.RootElement;
            Assert.Equal(uid, d.GetProperty("uid").GetString());
            Assert.False(string.IsNullOrWhiteSpace(d.GetProperty("title").GetString()), file);
            Assert.Equal(JsonValueKind.Null, d.GetProperty("id").ValueKind);
            Assert.False(d.TryGetProperty("__inputs", out _), $"{file}: __inputs are not substituted by file provisioning");
            Assert.False(d.TryGetProperty("dashboard", out _), $"{file}: the API wrapper object is not a dashboard");
            Assert.Equal(39, d.GetProperty("schemaVersion").GetInt32());

            var variables = d.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, StringComparer.Ordinal);
            Assert.Equal("datasource", variables["datasource"].GetProperty("type").GetString());
            Assert.Equal("prometheus", variables["datasource"].GetProperty("query").GetString());
            Assert.Equal(file == "sockwatch-overview.json", variables["instance"].GetProperty("multi").GetBoolean());
            foreach (var v in variables.Values.Where(v => v.GetProperty("type").GetString() == "query"))
            {
                Assert.True(JsonElement.DeepEquals(DatasourceRef, v.GetProperty("datasource")), $"{file}: variable {v.GetProperty("name")}");
            }

            var panels = Panels(d).ToList();
            Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
            AssertNoOverlap(file, panels);
            foreach (var p in panels.Where(p => p.GetProperty("type").GetString() != "row"))
            {
                var title = $"{file}: panel \"{p.GetProperty("title").GetString()}\"";
                Assert.True(JsonElement.DeepEquals(DatasourceRef, p.GetProperty("datasource")), title);
                var targets = p.GetProperty("targets").EnumerateArray().ToList();
                Assert.NotEmpty(targets);
                Assert.All(targets, t => Assert.True(JsonElement.DeepEquals(DatasourceRef, t.GetProperty("datasource")), title));
            }
        }
    }

    [Fact]
    public void Dashboards_lay_the_lifecycle_out_state_by_state()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(DashboardsDir, "sockwatch-host.json")));
        var exprs = Panels(doc.RootElement).Where(p => p.GetProperty("type").GetString() == "stat")
            .SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!).ToList();
        foreach (var state in new[] { "syn_sent", "syn_recv", "established", "fin_wait1", "fin_wait2", "closing", "time_wait", "close_wait", "last_ack" })
        {
            Assert.Contains(exprs, e => e.Contains("sockwatch_tcp_sockets{", StringComparison.Ordinal) && e.Contains($"state=\"{state}\"", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Every_dashboard_expression_reads_only_documented_metrics()
    {
        var all = DashboardExpressions().ToList();
        Assert.NotEmpty(all);
        foreach (var (where, expr) in all)
        {
            AssertDocumentedMetrics(expr, where);
        }
    }

    [PromtoolFact]
    public void Every_dashboard_expression_parses_as_PromQL()
    {
        // promtool has no "parse this expression" command in 2.42, but it parses every rule's
        // expression: each dashboard query becomes a recording rule, with Grafana's variables
        // replaced by values of the same kind.
        var yaml = new StringBuilder("groups:\n  - name: dashboards\n    rules:\n");
        var i = 0;
        foreach (var (_, expr) in DashboardExpressions())
        {
            var concrete = Regex.Replace(expr, @"\$\{?(\w+)(?::\w+)?\}?", m => m.Groups[1].Value.StartsWith("__", StringComparison.Ordinal) ? "5m" : "x");
            yaml.Append("      - record: dashboard:query").Append(i++).Append(":test\n        expr: ").Append(JsonSerializer.Serialize(concrete)).Append('\n');
        }

        var path = Path.Combine(Directory.CreateTempSubdirectory("sockwatch-dashboards-").FullName, "queries.yml");
        try
        {
            File.WriteAllText(path, yaml.ToString());
            AssertPromtool($"SUCCESS: {i} rules found", "check", "rules", path);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Provisioning_files_point_where_the_dashboards_expect()
    {
        var provisioning = Path.Combine(Repo.Root, "grafana", "provisioning");
        var datasources = File.ReadAllText(Path.Combine(provisioning, "datasources", "sockwatch.yml"));
        var uid = Assert.Single(YamlValue("uid").Matches(datasources)).Groups[1].Value;
        Assert.Equal("prometheus", YamlValue("type").Match(datasources).Groups[1].Value);
        Assert.Equal("http://localhost:9090", YamlValue("url").Match(datasources).Groups[1].Value);
        foreach (var file in Dashboards.Keys)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(DashboardsDir, file)));
            var ds = doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "datasource");
            Assert.Equal(uid, ds.GetProperty("current").GetProperty("value").GetString());
        }

        var dashboards = File.ReadAllText(Path.Combine(provisioning, "dashboards", "sockwatch.yml"));
        Assert.Equal("file", YamlValue("type").Match(dashboards).Groups[1].Value);
        Assert.StartsWith("/", YamlValue("path").Match(dashboards).Groups[1].Value, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^apiVersion:\s*1\s*$", dashboards);
        Assert.Matches(@"(?m)^apiVersion:\s*1\s*$", datasources);
    }

    // ---- metric names -----------------------------------------------------------------------

    /// <summary>Metric names of the tables of docs/metrics.md, each with its type.</summary>
    private static Dictionary<string, string> DocumentedMetrics() =>
        Metrics.MetricsDoc.Rows.ToDictionary(r => r.Name, r => r.Type, StringComparer.Ordinal);

    private static readonly Lazy<Dictionary<string, string>> Documented = new(DocumentedMetrics);

    private static void AssertDocumentedMetrics(string expr, string where)
    {
        // sockwatch_ names anywhere, and any name right before a label matcher (a metric of
        // someone else's would show there).
        var names = Regex.Matches(expr, @"\bsockwatch_[a-z0-9_]+").Select(m => m.Value)
            .Concat(Regex.Matches(expr, @"(?<![\w""])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{").Select(m => m.Groups[1].Value))
            .Distinct(StringComparer.Ordinal);
        foreach (var name in names)
        {
            Assert.True(name == "up" || IsDocumented(name), $"{where}: {name} is not in docs/metrics.md\n{expr}");
        }
    }

    private static bool IsDocumented(string name)
    {
        if (Documented.Value.ContainsKey(name))
        {
            return true;
        }

        foreach (var suffix in new[] { "_bucket", "_count", "_sum" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && Documented.Value.GetValueOrDefault(name[..^suffix.Length]) == "histogram")
            {
                return true;
            }
        }

        return false;
    }

    // ---- rules ------------------------------------------------------------------------------

    internal sealed record Rule(string Name, IReadOnlyDictionary<string, string> Fields)
    {
        public string Expr => Field("expr");

        public string Field(string key) => Fields.TryGetValue(key, out var v) ? v : throw new Xunit.Sdk.XunitException($"rule {Name} has no {key}");
    }

    /// <summary>
    /// The rules of sockwatch-alerts.yml, each with its keys flattened (expr, for, severity,
    /// summary, description, runbook_url). A reader of the YAML subset that file is written in:
    /// one "- alert:" line a rule, "key: value" lines, quoted or plain scalars, and block
    /// scalars (| and >-). The promtool test above checks it finds as many rules as promtool does.
    /// </summary>
    internal static List<Rule> Rules()
    {
        var lines = File.ReadAllLines(RulesFile);
        var rules = new List<Rule>();
        Dictionary<string, string>? fields = null;
        for (var i = 0; i < lines.Length; i++)
        {
            var start = Regex.Match(lines[i], @"^\s*-\s+alert:\s*(\S+)\s*$");
            if (start.Success)
            {
                fields = new Dictionary<string, string>(StringComparer.Ordinal);
                rules.Add(new Rule(start.Groups[1].Value, fields));
                continue;
            }

            var kv = Regex.Match(lines[i], @"^(\s*)(?:-\s+)?([A-Za-z_]+):\s*(.*?)\s*$");
            if (fields is null || !kv.Success)
            {
                continue;
            }

            var indent = kv.Groups[1].Length;
            var value = kv.Groups[3].Value;
            if (value is "|" or "|-" or ">" or ">-")
            {
                var block = new List<string>();
                while (i + 1 < lines.Length && (lines[i + 1].Trim().Length == 0 || Indent(lines[i + 1]) > indent))
                {
                    block.Add(lines[++i].Trim());
                }

                value = string.Join(value[0] == '|' ? "\n" : " ", block).Trim();
            }
            else if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0])
            {
                value = value[0] == '"' ? JsonSerializer.Deserialize<string>(value)! : value[1..^1].Replace("''", "'", StringComparison.Ordinal);
            }

            fields[kv.Groups[2].Value] = value;
        }

        return rules;
    }

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    // ---- dashboards -------------------------------------------------------------------------

    /// <summary>Every panel, rows' collapsed panels included.</summary>
    internal static IEnumerable<JsonElement> Panels(JsonElement dashboard)
    {
        foreach (var p in dashboard.GetProperty("panels").EnumerateArray())
        {
            yield return p;
            if (p.TryGetProperty("panels", out var nested))
            {
                foreach (var n in nested.EnumerateArray())
                {
                    yield return n;
                }
            }
        }
    }

    /// <summary>Every PromQL expression of the dashboards: panel targets and the selectors of label_values() variables.</summary>
    internal static IEnumerable<(string Where, string Expr)> DashboardExpressions()
    {
        foreach (var file in Dashboards.Keys)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(DashboardsDir, file)));
            foreach (var p in Panels(doc.RootElement).Where(p => p.TryGetProperty("targets", out _)))
            {
                foreach (var t in p.GetProperty("targets").EnumerateArray())
                {
                    yield return ($"{file}: panel \"{p.GetProperty("title").GetString()}\" {t.GetProperty("refId").GetString()}", t.GetProperty("expr").GetString()!);
                }
            }

            foreach (var v in doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Where(v => v.GetProperty("type").GetString() == "query"))
            {
                var definition = v.GetProperty("definition").GetString()!;
                var m = Regex.Match(definition, @"^\s*label_values\((.+),\s*\w+\s*\)\s*$");
                yield return ($"{file}: variable {v.GetProperty("name").GetString()}", m.Success ? m.Groups[1].Value : definition);
            }
        }
    }

    private static void AssertNoOverlap(string file, List<JsonElement> panels)
    {
        var boxes = panels.Select(p => (Title: p.GetProperty("title").GetString(), Pos: p.GetProperty("gridPos")))
            .Select(b => (b.Title, X: b.Pos.GetProperty("x").GetInt32(), Y: b.Pos.GetProperty("y").GetInt32(), W: b.Pos.GetProperty("w").GetInt32(), H: b.Pos.GetProperty("h").GetInt32()))
            .ToList();
        for (var i = 0; i < boxes.Count; i++)
        {
            var a = boxes[i];
            Assert.True(a.X >= 0 && a.W > 0 && a.X + a.W <= 24, $"{file}: \"{a.Title}\" is outside the 24 columns");
            foreach (var b in boxes.Skip(i + 1))
            {
                var overlap = a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H;
                Assert.False(overlap, $"{file}: \"{a.Title}\" and \"{b.Title}\" overlap");
            }
        }
    }

    /// <summary>The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static string GitHubAnchor(string heading) =>
        new(heading.Trim().ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c is ' ' or '-' or '_').Select(c => c == ' ' ? '-' : c).ToArray());

    // ---- processes --------------------------------------------------------------------------

    /// <summary>Runs promtool; it must exit 0 and say <paramref name="expected"/>.</summary>
    private static void AssertPromtool(string expected, params string[] args)
    {
        var (code, output) = Promtool.Run(args);
        Assert.True(code == 0, $"promtool {string.Join(' ', args)} exited {code}:\n{output}");
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    private static Regex YamlValue(string key) => new($@"(?m)^\s*(?:-\s+)?{key}:\s*(\S+)\s*$", RegexOptions.CultureInvariant);
}
