using System.Text.Json;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Web;

/// <summary>
/// The daemon's page in a real browser (the system's headless Chromium, through Playwright),
/// against a live daemon watching a private network namespace whose population the test makes:
/// the counts are ss's, a close_wait leak is a finding with its process, the page follows the
/// population without a reload, and it asks nothing of any host but the daemon.
/// </summary>
public sealed class DiagramBrowserTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly TestNamespace _ns = new();

    [ChromiumFact]
    public async Task The_page_shows_ss_counts_the_leak_and_its_changes_without_a_reload()
    {
        Serve(LiveScripts.LeakyServer("sw-leaker", leaks: 3, established: 2, port: 8080)); // listen, 3 close_wait + 3 fin_wait2, 4 established
        Serve(LiveScripts.TimeWaits(2, 8090));                                            // 2 time_wait
        var daemon = await DaemonProcess.StartAsync(_children, ["--netns", _ns.Name, "--poll-interval", "1s", "--close-wait-leak-after", "1s"]);
        var origin = daemon.BaseUrl.GetLeftPart(UriPartial.Authority);
        await Task.Delay(1500); // a poll after the population settled

        await using var browser = await Browser.LaunchAsync();
        var page = browser.Page;
        await page.GotoAsync($"{origin}/?netns={_ns.Name}");
        await AssertCountsAreSs(page);

        // The leak: a finding at close_wait with its process, linked to the runbook, and a badge on close_wait.
        await page.WaitForSelectorAsync("#findings li[data-kind=close_wait_leak]", new() { Timeout = 15000 });
        var leak = page.Locator("#findings li[data-kind=close_wait_leak]");
        Assert.Equal("close_wait", await leak.GetAttributeAsync("data-state"));
        Assert.Equal("sw-leaker", await leak.Locator(".process").TextContentAsync());
        Assert.Equal("/runbook#sockwatchclosewaitleak", await leak.Locator("a").GetAttributeAsync("href"));
        Assert.Equal(1, await page.Locator("g.node[data-state=close_wait] a.badge").CountAsync());
        Assert.Contains("sw-leaker", await page.Locator("#top-close_wait").TextContentAsync(), StringComparison.Ordinal);
        var runbook = await page.Context.APIRequest.GetAsync($"{origin}/runbook");
        Assert.Contains("id=\"sockwatchclosewaitleak\"", await runbook.TextAsync(), StringComparison.Ordinal);

        // The population changes; the page follows without a reload.
        await page.EvaluateAsync("() => { window.notReloaded = true; }");
        var established = await Count(page, "established");
        Serve(LiveScripts.LeakyServer("sw-second", leaks: 0, established: 3, port: 8081)); // one more listener, 6 more established
        await page.WaitForFunctionAsync(
            $"() => document.querySelector('g.node[data-state=listen]').dataset.count === '2' && document.querySelector('g.node[data-state=established]').dataset.count === '{established + 6}'",
            null, new() { Timeout = 15000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");
        await Task.Delay(1500); // one more poll and one more update, so the page and ss see the same settled table
        await page.WaitForFunctionAsync("() => document.body.dataset.updated !== undefined", null, new() { Timeout = 5000 });
        await WaitForNextUpdate(page);
        await AssertCountsAreSs(page);
        Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");

        // A selection by owner narrows the counts, from the owner selector, in place.
        await page.SelectOptionAsync("select[name=owner]", "sw-second");
        await page.WaitForFunctionAsync("() => document.querySelector('g.node[data-state=close_wait]').dataset.count === '0' && document.querySelector('g.node[data-state=listen]').dataset.count === '1'", null, new() { Timeout = 10000 });
        Assert.EndsWith("owner=sw-second", page.Url, StringComparison.Ordinal);

        if (Environment.GetEnvironmentVariable("SOCKWATCH_SCREENSHOT") is { Length: > 0 } shot)
        {
            await page.SelectOptionAsync("select[name=owner]", "");
            await WaitForNextUpdate(page);
            await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        }

        Assert.Empty(browser.Errors);
        Assert.All(browser.Requests, url => Assert.StartsWith(origin + "/", url, StringComparison.Ordinal));
        Assert.Contains(browser.Requests, u => u.Contains("/api/v1/poll", StringComparison.Ordinal)); // the updates came from the API
    }

    [ChromiumFact]
    public async Task A_hostile_process_name_is_text_everywhere()
    {
        // comm is 15 bytes: a tag, both quotes, and a byte that is not UTF-8.
        Serve(LiveScripts.LeakyServer("<script>\\\"'&\\xff", leaks: 2, port: 8080));
        const string Name = "<script>\"'&\uFFFD";
        var daemon = await DaemonProcess.StartAsync(_children, ["--netns", _ns.Name, "--poll-interval", "1s", "--close-wait-leak-after", "1s"]);
        var origin = daemon.BaseUrl.GetLeftPart(UriPartial.Authority);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        JsonElement poll = default;
        for (var i = 0; i < 100; i++)
        {
            using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/v1/poll", UriKind.Relative)));
            poll = json.RootElement.Clone();
            if (poll.GetProperty("findings").GetArrayLength() > 0)
            {
                break;
            }

            await Task.Delay(200);
        }

        // JSON: parses, holds the name as it is, and never the raw characters that would end a script or an attribute.
        var finding = poll.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("kind").GetString() == "close_wait_leak");
        Assert.Equal(Name, finding.GetProperty("process").GetString());
        var raw = await http.GetStringAsync(new Uri("/api/v1/poll", UriKind.Relative));
        Assert.DoesNotContain("<script>", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("\"'", raw, StringComparison.Ordinal);

        // HTML and SVG: the page holds one script element, ours, and the name only as escaped text.
        var html = await http.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<script"));
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);

        // Owner selection by that name works, through the browser too, and the browser shows it as text.
        await using var browser = await Browser.LaunchAsync();
        var page = browser.Page;
        await page.GotoAsync($"{origin}/?owner={Uri.EscapeDataString(Name)}");
        Assert.Equal(1, await page.Locator("script").CountAsync());
        Assert.Equal(Name, await page.Locator("#findings li[data-kind=close_wait_leak] .process").TextContentAsync());
        Assert.Equal("2", await page.Locator("g.node[data-state=close_wait]").GetAttributeAsync("data-count"));
        var badge = $"1 finding at close_wait: close_wait_leak, process {Name} (unit none)";
        Assert.Equal(badge, await page.Locator("g.node[data-state=close_wait] a.badge title").TextContentAsync()); // in the SVG
        await WaitForNextUpdate(page); // the script's rendering of the same name
        Assert.Equal(Name, await page.Locator("#findings li[data-kind=close_wait_leak] .process").TextContentAsync());
        Assert.Equal(badge, await page.Locator("g.node[data-state=close_wait] a.badge title").TextContentAsync());
        Assert.Equal(1, await page.Locator("script").CountAsync());
        Assert.Empty(browser.Errors);
    }

    public void Dispose()
    {
        _children.Dispose();
        _ns.Dispose();
    }

    private static async Task WaitForNextUpdate(Microsoft.Playwright.IPage page)
    {
        var before = await page.EvaluateAsync<string?>("() => document.body.dataset.updated || ''");
        await page.WaitForFunctionAsync($"() => (document.body.dataset.updated || '') !== {JsonSerializer.Serialize(before)}", null, new() { Timeout = 10000 });
    }

    private static async Task<int> Count(Microsoft.Playwright.IPage page, string state) =>
        int.Parse(await page.Locator($"g.node[data-state={state}]").GetAttributeAsync("data-count") ?? "-1", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Every drawn state's data-count against ss's count in the namespace.</summary>
    private async Task AssertCountsAreSs(Microsoft.Playwright.IPage page)
    {
        var ss = SsCounts();
        var nodes = await page.Locator("g.node").CountAsync();
        Assert.Equal(11, nodes);
        foreach (var state in Lifecycle.ReportedStates)
        {
            var name = Lifecycle.NameOf(state);
            Assert.True(ss.GetValueOrDefault(name) == await Count(page, name), $"{name}: ss {ss.GetValueOrDefault(name)}, page {await Count(page, name)}");
        }

        Assert.True(ss.Values.Sum() > 10, "the population is there");
    }

    private Dictionary<string, int> SsCounts()
    {
        var output = TestNamespace.Run(Conditions.FindExecutable("ip")!, "netns", "exec", _ns.Name, "ss", "-tanH");
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var state = line.Split(' ', 2)[0] switch
            {
                "ESTAB" => "established",
                "UNCONN" => "close",
                var s => s.ToLowerInvariant().Replace("wait-1", "wait1", StringComparison.Ordinal).Replace("wait-2", "wait2", StringComparison.Ordinal).Replace('-', '_'),
            };
            counts[state] = counts.GetValueOrDefault(state) + 1;
        }

        return counts;
    }

    private void Serve(string script)
    {
        var p = _children.Start(Conditions.FindExecutable("ip")!, ["netns", "exec", _ns.Name, "python3", "-c", script], redirectStdin: true);
        Assert.Equal("ready", p.StandardOutput.ReadLine());
    }
}
