using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Agent.Tests.Deploy;
using SockWatch.Core;
using SockWatch.Core.Detection;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// A scrape in which every metric family has samples: two polls with a transition and an
/// anomaly between them, a failed poll, a listener, a destination, time_wait and a leak.
/// Checked against a golden file, linted by promtool, and held against docs/metrics.md, the
/// alert rules and the dashboards, so a rename can never silently break an alert or a panel.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed partial class EveryFamilyTests
{
    private static readonly string Golden = Repo.Fixture("exposition", "scrape-every-family.txt");

    [Fact]
    public void The_scrape_with_every_family_matches_the_golden_file()
    {
        var masked = ScrapeTests.Mask(Scrape());
        if (Environment.GetEnvironmentVariable("SOCKWATCH_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(Golden, masked, new UTF8Encoding(false));
        }

        Assert.Equal(File.ReadAllText(Golden), masked);
    }

    [PromtoolFact]
    public void Promtool_finds_no_problem_in_it() => Promtool.AssertLintClean(Encoding.UTF8.GetBytes(Scrape()));

    [Fact]
    public void Every_documented_metric_is_exported_and_every_exported_one_documented()
    {
        var exported = Families(File.ReadAllText(Golden));
        var documented = MetricsDoc.Rows.Select(r => r.Name);
        Assert.Equal(documented.Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_metric_a_rule_or_a_panel_reads_is_exported()
    {
        var exported = Families(File.ReadAllText(Golden));
        exported.UnionWith(Families(File.ReadAllText(Repo.Fixture("exposition", "scrape-proc-metrics.txt"))));
        var uses = RulesAndDashboardsTests.Rules().Select(r => ($"rule {r.Name}", r.Expr))
            .Concat(RulesAndDashboardsTests.DashboardExpressions());
        var missing = new List<string>();
        foreach (var (where, expr) in uses)
        {
            foreach (Match m in MetricName().Matches(expr))
            {
                var name = HistogramSuffix().Replace(m.Value, "");
                if (!exported.Contains(name) && !exported.Contains(m.Value))
                {
                    missing.Add($"{where}: {m.Value}");
                }
            }
        }

        Assert.True(missing.Count == 0, "not exported by the daemon:\n" + string.Join('\n', missing));
    }

    /// <summary>The metric names of an exposition, as its samples name them (counters with _total, histograms without their suffixes).</summary>
    private static HashSet<string> Families(string exposition)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in exposition.Split('\n'))
        {
            var m = TypeLine().Match(line);
            if (m.Success)
            {
                names.Add(m.Groups[1].Value);
            }
        }

        return names;
    }

    private static string Scrape()
    {
        using var pipeline = new MetricsPipeline(new SockWatchOptions(), NullLogger<MetricsPipeline>.Instance);
        var store = new PollResultStore(pipeline) { TraceStatus = new Agent.Tracing.TraceStatus("on", "traced", "") };
        var tracker = new SocketTracker();
        var api = PollFactory.Owner(200, "api", "api.service");
        var web = PollFactory.Owner(100, "nginx", "nginx.service");
        var facts = new NamespaceFacts
        {
            EphemeralPorts = new PortRange(32768, 60999),
            MaxTimeWaitBuckets = 4096,
            Counters = new Dictionary<string, long> { ["TCPTimeWaitOverflow"] = 2, ["ListenOverflows"] = 5, ["ListenDrops"] = 6 },
        };
        var descriptors = new Dictionary<int, DescriptorUsage> { [100] = new(900, 1024) };

        SocketRecord[] Sockets(TcpState moving) =>
        [
            PollFactory.Socket(TcpState.Listen, "0.0.0.0", 80, "0.0.0.0", 0, 1, rx: 3, tx: 128),
            PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 80, "10.0.0.9", 50000, 2, rx: 1),
            PollFactory.Socket(moving, "10.0.0.1", 80, "10.0.0.9", 50001, 3),
            PollFactory.Socket(TcpState.Established, "10.0.0.1", 40000, "10.0.0.5", 5432, 4),
            PollFactory.Socket(TcpState.TimeWait, "10.0.0.1", 40001, "10.0.0.5", 5432, 0),
            PollFactory.Socket(TcpState.Established, "::1", 8443, "::1", 50100, 5),
        ];
        SocketOwner?[] owners = [web, web, web, api, null, api];

        // Poll 1 at t, poll 2 three minutes later: established -> close_wait is a transition,
        // close_wait -> established (socket 3 back again) an anomaly. The close_wait is leaked by then.
        var at = PollFactory.Start;
        store.Publish(PollFactory.Result(tracker, at, Sockets(TcpState.Established), owners, pipeline.Caps, facts, descriptors));
        store.Publish(PollFactory.Result(tracker, at.AddMinutes(3), Sockets(TcpState.CloseWait), owners, pipeline.Caps, facts, descriptors));
        store.Failed("netlink", "dump_failed");

        // The last poll reports its stages: the owner scan failed, the others went through.
        PollStage[] stages = [PollStage.Discover, PollStage.Dump, PollStage.Owners, PollStage.Facts, PollStage.Track, PollStage.Detect];
        // systemd restarted the leaking nginx.service twice (what SystemdUnits asks over D-Bus).
        store.Publish(PollFactory.Result(tracker, at.AddMinutes(6), Sockets(TcpState.Established), owners, pipeline.Caps, facts, descriptors, [new("host", "nginx.service", 2)]) with
        {
            Stages = [.. stages.Select((s, i) => new StageReport(s, TimeSpan.FromMilliseconds(0.5 * (i + 1)), s != PollStage.Owners))],
            Trace = Traced(pipeline.Caps),
        });
        return Encoding.UTF8.GetString(pipeline.Scrape(ExpositionFormat.PrometheusText004, gzip: false));
    }

    /// <summary>What a tracer would have counted: one connection closed by its client, a refused connect, a reset.</summary>
    private static TraceMetrics Traced(SeriesCaps caps)
    {
        var slots = new long[Agent.Tracing.NetStatsLayout.Slots];
        slots[20] = 1; // about 1 ms in close_wait
        var counters = Agent.Tracing.TraceCounters.Empty with
        {
            Transitions = [new(1, TcpState.Close, TcpState.SynSent, 2), new(1, TcpState.SynSent, TcpState.Close, 1), new(1, TcpState.CloseWait, TcpState.LastAck, 1)],
            Durations = [new(1, TcpState.CloseWait, slots, 0.001)],
            Resets = [new(1, TcpState.SynSent, "received", 1)],
            Opens = [new(1, "active", 0, "curl", 1)],
            ConnectFailures = new Dictionary<Agent.Tracing.Peer, long> { [new(1, "10.0.0.7", 5432)] = 1 },
            Lost = 0,
            EntryMisses = 3,
            Missed = 1,
            Evictions = 2,
        };
        return TraceMetrics.Build(counters, new Dictionary<uint, string> { [1] = "self" }, _ => null, caps);
    }

    [GeneratedRegex(@"^# TYPE (\S+) ")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"\b(?:sockwatch_[a-z0-9_]+|target_info)")]
    private static partial Regex MetricName();

    [GeneratedRegex("_(?:bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();
}
