using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Diagram;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Tests.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Web;

/// <summary>The page, the API and the terminal diagram without a browser: layout, selection, bad input, escaping, bounds and weight.</summary>
public sealed partial class DiagramTests
{
    private const string Hostile = "<script>\"'&\uD800x"; // a tag, both quotes, an ampersand, a lone surrogate

    [Fact]
    public void The_diagram_draws_every_reported_state_once_and_only_lifecycle_edges()
    {
        Assert.Equal(Lifecycle.ReportedStates.Order(), DiagramLayout.Nodes.Select(n => n.Entry.State).Order());
        Assert.Equal(DiagramLayout.Nodes.Count, DiagramLayout.Nodes.Select(n => (n.Column, n.Row)).Distinct().Count());
        Assert.All(DiagramLayout.Edges, e => Assert.Contains(e, TcpTransitions.DirectEdges));
        Assert.All(DiagramLayout.Nodes, n => Assert.Contains(DiagramLayout.Edges, e => e.From == n.Entry.State || e.To == n.Entry.State));

        // The classic shape: handshake above established, established above both closes, close at the bottom, the closes on opposite sides.
        int Row(TcpState s) => DiagramLayout.Find(s)!.Value.Row;
        double Column(TcpState s) => DiagramLayout.Find(s)!.Value.Column;
        Assert.True(Row(TcpState.SynSent) < Row(TcpState.Established) && Row(TcpState.SynRecv) < Row(TcpState.Established));
        Assert.True(Row(TcpState.Established) < Row(TcpState.FinWait1) && Row(TcpState.Established) < Row(TcpState.CloseWait));
        Assert.Equal(DiagramLayout.Nodes.Max(n => n.Row), Row(TcpState.Close));
        Assert.True(Column(TcpState.FinWait1) < Column(TcpState.Established) && Column(TcpState.CloseWait) > Column(TcpState.Established));
    }

    [Fact]
    public void Edges_show_the_transitions_inferred_from_polls_and_a_tracers_exact_ones_when_given()
    {
        var tracker = new SocketTracker();
        var builder = new DiagramBuilder();
        var owner = PollFactory.Owner(100, "api", "api.service");
        var est = PollFactory.Socket(TcpState.Established, "10.0.0.1", 8080, "10.0.0.2", 40000, 1);
        var at = PollFactory.Start;
        var first = PollFactory.Poll(tracker, at, [est], [owner]);
        var d1 = builder.Build(first, PollMetrics.Build(first, TimeSpan.FromMinutes(2), new SeriesCaps(50, 20)), TimeSpan.Zero);
        Assert.Equal(DiagramTransitions.Inferred, d1.Transitions.Source);
        Assert.Equal(0, d1.Transitions.IntervalSeconds);

        var closing = est with { State = TcpState.CloseWait };
        var second = PollFactory.Poll(tracker, at.AddSeconds(10), [closing], [owner]);
        var d2 = builder.Build(second, PollMetrics.Build(second, TimeSpan.FromMinutes(2), new SeriesCaps(50, 20)), TimeSpan.Zero);
        var json = Poll(d2, Selection.All);
        var transitions = json.GetProperty("transitions");
        Assert.Equal("inferred", transitions.GetProperty("source").GetString());
        Assert.Equal(10, transitions.GetProperty("interval_seconds").GetDouble());
        var edge = Assert.Single(transitions.GetProperty("edges").EnumerateArray());
        Assert.Equal(("established", "close_wait", 1, 0.1), (edge.GetProperty("from").GetString(), edge.GetProperty("to").GetString(), edge.GetProperty("count").GetInt64(), edge.GetProperty("per_second").GetDouble()));
        var svg = Page(d2, Selection.All);
        Assert.Contains("class=\"edge inferred\" data-from=\"established\" data-to=\"close_wait\" data-count=\"1\" data-rate=\"0.1\"", svg, StringComparison.Ordinal);
        Assert.Contains("&#x2248;0.1/s", svg, StringComparison.Ordinal); // ≈, encoded

        // A tracer's counts replace the inferred ones, per namespace, and are not marked as inferred.
        var exact = new ExactTransitions(at.AddSeconds(10), at.AddSeconds(15), [new TransitionCount("host", TcpState.CloseWait, TcpState.LastAck, 5), new TransitionCount("elsewhere", TcpState.CloseWait, TcpState.LastAck, 7)]);
        var third = PollFactory.Poll(tracker, at.AddSeconds(15), [closing], [owner]);
        var d3 = builder.Build(third, PollMetrics.Build(third, TimeSpan.FromMinutes(2), new SeriesCaps(50, 20)), TimeSpan.Zero, exact);
        transitions = Poll(d3, new Selection("host", "")).GetProperty("transitions");
        Assert.Equal("traced", transitions.GetProperty("source").GetString());
        edge = Assert.Single(transitions.GetProperty("edges").EnumerateArray());
        Assert.Equal(("close_wait", "last_ack", 5, 1.0), (edge.GetProperty("from").GetString(), edge.GetProperty("to").GetString(), edge.GetProperty("count").GetInt64(), edge.GetProperty("per_second").GetDouble()));
        Assert.Equal(12, Poll(d3, Selection.All).GetProperty("transitions").GetProperty("edges")[0].GetProperty("count").GetInt64());
        svg = Page(d3, new Selection("host", ""));
        Assert.Contains("class=\"edge traced\" data-from=\"close_wait\" data-to=\"last_ack\" data-count=\"5\" data-rate=\"1\"", svg, StringComparison.Ordinal);
        Assert.Contains(">1/s<", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void Selections_narrow_the_counts_and_an_unknown_name_selects_nothing()
    {
        var d = Sample();
        Assert.Equal(3, Poll(d, Selection.All).GetProperty("states").GetProperty("close_wait").GetInt32());
        Assert.Equal(3, Poll(d, new Selection("host", "")).GetProperty("states").GetProperty("close_wait").GetInt32());
        Assert.Equal(3, Poll(d, new Selection("", "billing")).GetProperty("states").GetProperty("close_wait").GetInt32());
        Assert.Equal(3, Poll(d, new Selection("", "billing.service")).GetProperty("states").GetProperty("close_wait").GetInt32());
        Assert.Equal(0, Poll(d, new Selection("", "web")).GetProperty("states").GetProperty("close_wait").GetInt32());
        Assert.Equal(2, Poll(d, new Selection("", "web")).GetProperty("states").GetProperty("established").GetInt32());
        Assert.Single(Poll(d, new Selection("", "billing")).GetProperty("findings").EnumerateArray());
        Assert.Empty(Poll(d, new Selection("", "web")).GetProperty("findings").EnumerateArray());

        foreach (var unknown in new[] { new Selection("no-such-netns", ""), new Selection("", "no-such-owner") })
        {
            var json = Poll(d, unknown);
            Assert.All(json.GetProperty("states").EnumerateObject(), s => Assert.Equal(0, s.Value.GetInt32()));
            Assert.Empty(json.GetProperty("findings").EnumerateArray());
            var page = Page(d, unknown);
            Assert.All(NodeCounts().Matches(page), m => Assert.Equal("0", m.Groups[2].Value));
            Assert.Contains("selected>no-such-", page, StringComparison.Ordinal); // the selection is shown as asked
        }

        var top = Poll(d, Selection.All).GetProperty("top_owners").GetProperty("close_wait");
        Assert.Equal("billing", Assert.Single(top.EnumerateArray()).GetProperty("process").GetString());
        Assert.Equal(["billing", "billing.service", "unowned", "web", "web.service"], Poll(d, Selection.All).GetProperty("owner_names").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("?netns=a&netns=b", "more than once")]
    [InlineData("?nets=host", "unknown parameter")]
    [InlineData("?owner=%01", "control character")]
    [InlineData("?owner=%0a", "control character")]
    [InlineData("?netns=%ED%A0%80", "")] // an encoded lone surrogate decodes to U+FFFD: accepted, selects nothing
    public async Task Hostile_query_strings_are_a_400_with_one_line(string query, string why)
    {
        var pages = Pages(Sample());
        foreach (var handler in new Func<HttpContext, Task>[] { pages.Landing, pages.Poll, pages.History })
        {
            var context = Request("/", query);
            await handler(context);
            var body = Body(context);
            if (why.Length == 0)
            {
                Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
                continue;
            }

            Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
            Assert.Contains(why, body, StringComparison.Ordinal);
            Assert.Equal(1, body.Count(c => c == '\n'));
        }
    }

    [Fact]
    public async Task Before_the_first_poll_the_page_says_so_and_the_api_has_no_time_and_zero_counts()
    {
        var pages = new HttpPages(new PollResultStore(), new SockWatchOptions(), TimeProvider.System);
        var landing = Request("/", "");
        await pages.Landing(landing);
        Assert.Equal(StatusCodes.Status200OK, landing.Response.StatusCode);
        Assert.Contains("No poll has succeeded yet.", Body(landing), StringComparison.Ordinal);
        Assert.Equal(11, NodeCounts().Matches(Body(landing)).Count(m => m.Groups[2].Value == "0"));

        var poll = Request("/api/v1/poll", "");
        await pages.Poll(poll);
        using var json = JsonDocument.Parse(Body(poll));
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("at").ValueKind);
        Assert.All(json.RootElement.GetProperty("states").EnumerateObject(), s => Assert.Equal(0, s.Value.GetInt32()));
        var history = Request("/api/v1/history", "");
        await pages.History(history);
        using var h = JsonDocument.Parse(Body(history));
        Assert.Empty(h.RootElement.GetProperty("points").EnumerateArray());
    }

    [Fact]
    public async Task Over_long_query_strings_and_values_are_a_400()
    {
        var pages = Pages(Sample());
        foreach (var query in new[] { "?netns=" + new string('a', 300), "?owner=" + new string('b', 257), "?netns=x&owner=" + new string('%', 1100) })
        {
            var context = Request("/api/v1/poll", query);
            await pages.Poll(context);
            Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
        }

        var fine = Request("/api/v1/poll", "?owner=" + new string('b', 256));
        await pages.Poll(fine);
        Assert.Equal(StatusCodes.Status200OK, fine.Response.StatusCode);
    }

    [Fact]
    public void Names_are_escaped_in_html_svg_and_json()
    {
        var d = Sample(Hostile);
        var page = Page(d, Selection.All);
        Assert.Single(Regex.Matches(page, "<script", RegexOptions.IgnoreCase)); // ours, at the end
        Assert.DoesNotContain("\"'", page, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;&quot;&#x27;&amp;\uFFFDx", page.Replace("&#xFFFD;", "\uFFFD", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain('\uD800', page);
        var svg = page[page.IndexOf("<svg id=\"diagram\"", StringComparison.Ordinal)..page.IndexOf("</svg>", StringComparison.Ordinal)];
        Assert.Contains("process &lt;script&gt;&quot;&#x27;&amp;", svg, StringComparison.Ordinal); // the badge's tooltip, in the SVG

        var raw = PollText(d, new Selection("", Hostile.Replace('\uD800', '\uFFFD')));
        Assert.DoesNotContain("<", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("'", raw, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(raw);
        var finding = Assert.Single(json.RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal("<script>\"'&\uFFFDx", finding.GetProperty("process").GetString());
        Assert.Contains("<script>\"'&\uFFFDx", finding.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_history_keeps_an_hour_at_most_720_points_apart_by_5_s()
    {
        var history = new PollHistory();
        var d = Sample();
        for (var s = 0; s < 2 * 3600; s++)
        {
            history.Add(Copy(d, PollFactory.Start.AddSeconds(s)));
        }

        var points = history.Points;
        Assert.True(points.Count <= PollHistory.MaxPoints + 1, $"{points.Count} points"); // the kept ones, and the latest poll
        Assert.True(points[^1].At - points[0].At < PollHistory.Window);
        var kept = points.Take(points.Count - 1).ToList();
        Assert.All(kept.Zip(kept.Skip(1)), p => Assert.True(p.Second.At - p.First.At >= TimeSpan.FromSeconds(5)));
        Assert.Equal(PollFactory.Start.AddSeconds((2 * 3600) - 5), kept[^1].At);
        Assert.Equal(PollFactory.Start.AddSeconds((2 * 3600) - 1), points[^1].At); // the latest ends the list

        using var json = JsonDocument.Parse(HistoryText(points, new Selection("", "billing")));
        var closeWait = json.RootElement.GetProperty("states").EnumerateArray().Select(e => e.GetString()).ToList().IndexOf("close_wait");
        Assert.All(json.RootElement.GetProperty("points").EnumerateArray(), p => Assert.Equal(3, p.GetProperty("counts")[closeWait].GetInt32()));
    }

    [Fact]
    public void The_page_and_its_script_and_style_sheet_weigh_at_most_100_KB_at_the_series_caps()
    {
        // The largest page the caps allow in practice: 100 namespaces, 50 owners in each
        // of them folded to the top 50, 40 findings with long sentences, a full hour of history.
        var namespaces = Enumerable.Range(0, 100).Select(i => new NamespaceCount($"pod-{Guid.NewGuid()}", Counts(i))).ToList();
        var owners = Enumerable.Range(0, 50).Select(i => new OwnerCount(namespaces[i].Netns, $"app-{i:000}-worker.service", $"worker-{i:000}", Counts(i))).ToList();
        var findings = Enumerable.Range(0, 40).Select(i => new DiagramFinding(FindingKind.CloseWaitLeak, FindingSeverity.Warning, namespaces[i].Netns, $"worker-{i:000}", $"app-{i:000}-worker.service", 1000 + i, "x", 12, new string('w', 300))).ToList();
        var d = new DiagramPoll
        {
            At = PollFactory.Start,
            Duration = TimeSpan.FromMilliseconds(120),
            Collector = "netlink",
            Sockets = 100_000,
            Namespaces = namespaces,
            Owners = owners,
            Findings = findings,
            Transitions = new DiagramTransitions(DiagramTransitions.Inferred, 15, [.. DiagramLayout.Edges.Select(e => new TransitionCount(namespaces[0].Netns, e.From, e.To, 12345))]),
        };
        var history = new PollHistory();
        for (var s = 0; s < 3600; s += 5)
        {
            history.Add(Copy(d, PollFactory.Start.AddSeconds(s)));
        }

        var page = Encoding.UTF8.GetByteCount(DiagramPage.Render(d, history.Points, Selection.All, new PageContext("0.1.0", TimeSpan.FromSeconds(15), 0, 100)));
        var assets = PageAssets.Names.Sum(n => PageAssets.TryGet(n, out var body, out _) ? body.Length : 0);
        Assert.True(page + assets <= 100 * 1024, $"page {page} B + script and style sheet {assets} B > 100 KB");
    }

    [Fact]
    public void Snapshot_draws_the_diagram_in_a_terminal_with_each_states_count()
    {
        var fixture = Repo.Fixture("proc-every-state");
        var summary = Cli.Run("snapshot", "--format", "summary", "--collector", "proc", "--proc-root", fixture);
        var counts = summary.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1]);
        var r = Cli.Run("snapshot", "--format", "diagram", "--collector", "proc", "--proc-root", fixture);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        foreach (var node in DiagramLayout.Nodes)
        {
            var name = node.Entry.Name;
            var at = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"[│┃╎║┆]\s+{name}\s+[│┃╎║┆]"));
            Assert.True(at > 0, $"no box for {name}:\n{r.Stdout}");
            var column = Regex.Match(lines[at], $@"[│┃╎║┆]\s+{name}\s+[│┃╎║┆]").Index;
            var below = lines[at + 1][column..Math.Min(lines[at + 1].Length, column + 15)];
            Assert.Equal(counts[name], below.Trim(' ', '│', '┃', '╎', '║', '┆'));
        }

        Assert.Contains("┏━", r.Stdout, StringComparison.Ordinal);   // established's heavy border
        Assert.Contains("╔═", r.Stdout, StringComparison.Ordinal);   // the passive close's double one
        Assert.Contains("↓", r.Stdout, StringComparison.Ordinal);
    }

    private static int[] Counts(int seed)
    {
        var c = new int[14];
        foreach (var s in Lifecycle.ReportedStates)
        {
            c[(int)s] = 1000 + seed + (int)s;
        }

        return c;
    }

    private static DiagramPoll Copy(DiagramPoll d, DateTimeOffset at) => new()
    {
        At = at, Duration = d.Duration, Collector = d.Collector, Sockets = d.Sockets, Namespaces = d.Namespaces, Owners = d.Owners, Findings = d.Findings, Transitions = d.Transitions,
    };

    /// <summary>One namespace: billing (billing.service) leaking 3 close_wait, web (web.service) with 2 established, 1 unowned time_wait.</summary>
    private static DiagramPoll Sample(string billing = "billing")
    {
        var tracker = new SocketTracker();
        var leaker = PollFactory.Owner(100, billing, billing == "billing" ? "billing.service" : billing);
        var web = PollFactory.Owner(200, "web", "web.service");
        var sockets = new[]
        {
            PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 8080, "10.0.0.2", 40001, 1, rx: 1),
            PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 8080, "10.0.0.2", 40002, 2, rx: 1),
            PollFactory.Socket(TcpState.CloseWait, "10.0.0.1", 8080, "10.0.0.2", 40003, 3, rx: 1),
            PollFactory.Socket(TcpState.Established, "10.0.0.1", 443, "10.0.0.3", 50001, 4),
            PollFactory.Socket(TcpState.Established, "10.0.0.1", 443, "10.0.0.3", 50002, 5),
            PollFactory.Socket(TcpState.TimeWait, "10.0.0.1", 443, "10.0.0.3", 50003, 0),
        };
        SocketOwner?[] owners = [leaker, leaker, leaker, web, web, null];
        var builder = new DiagramBuilder();
        PollFactory.Poll(tracker, PollFactory.Start, sockets, owners);
        var poll = PollFactory.Poll(tracker, PollFactory.Start.AddMinutes(5), sockets, owners); // the close_wait sockets are now 5 minutes old: a leak
        return builder.Build(poll, PollMetrics.Build(poll, TimeSpan.FromMinutes(2), new SeriesCaps(50, 20)), TimeSpan.FromMilliseconds(2));
    }

    private static JsonElement Poll(DiagramPoll d, Selection selection)
    {
        using var json = JsonDocument.Parse(PollText(d, selection));
        return json.RootElement.Clone();
    }

    private static string PollText(DiagramPoll d, Selection selection)
    {
        using var s = new MemoryStream();
        DiagramJson.WritePoll(s, d, selection, TimeSpan.FromSeconds(15));
        return Encoding.UTF8.GetString(s.ToArray());
    }

    private static string HistoryText(IReadOnlyList<HistoryPoint> points, Selection selection)
    {
        using var s = new MemoryStream();
        DiagramJson.WriteHistory(s, points, selection);
        return Encoding.UTF8.GetString(s.ToArray());
    }

    private static string Page(DiagramPoll d, Selection selection) =>
        DiagramPage.Render(d, [], selection, new PageContext("0.1.0", TimeSpan.FromSeconds(15), 0, 1));

    private static HttpPages Pages(DiagramPoll d)
    {
        var store = new PollResultStore();
        store.Publish(new PollResult(d.At, d.Duration, d.Collector, d.Sockets, new int[14], new SockWatch.Collectors.CollectionStats { Collector = "proc" }, [], 0,
            PollMetrics.Build(PollFactory.Poll(new SocketTracker(), d.At, [], []), TimeSpan.FromMinutes(2), new SeriesCaps(50, 20))) { Diagram = d });
        return new HttpPages(store, new SockWatchOptions(), TimeProvider.System);
    }

    private static DefaultHttpContext Request(string path, string query)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        context.Request.QueryString = new QueryString(query);
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static string Body(DefaultHttpContext context) => Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray());

    [GeneratedRegex("data-state=\"([a-z_0-9]+)\" data-count=\"(\\d+)\"")]
    private static partial Regex NodeCounts();
}
