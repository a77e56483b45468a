using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using SockWatch.Agent.Tests.Deploy;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.EndToEnd;

/// <summary>
/// Debian's Prometheus scraping the real daemon on loopback every second, with the shipped alert
/// rules loaded (from a copy whose <c>for:</c> durations are shortened; the shipped file is never
/// touched). A test process leaks CLOSE_WAIT: the leak alert must reach firing through
/// Prometheus's HTTP API and clear once the process exits. Every dashboard expression, with its
/// variables substituted, must run without error, and the core panels must return data.
/// </summary>
public sealed partial class PrometheusEndToEndTests : IDisposable
{
    private const string LeakProcess = "sw-e2e-leak";

    /// <summary>Panels whose queries must return data while the leak runs.</summary>
    private static readonly string[] CoreMetrics =
        ["up{", "sockwatch_tcp_sockets", "sockwatch_tcp_owner_sockets", "sockwatch_close_wait_leaked_sockets", "sockwatch_poll_duration_seconds"];

    private readonly ChildProcesses _children = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("sockwatch-e2e-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [PrometheusFact]
    public async Task The_leak_alert_fires_and_clears_and_every_dashboard_query_runs()
    {
        var daemon = await DaemonProcess.StartAsync(_children, ["--poll-interval", "1s", "--close-wait-leak-after", "1s", "--netns", "self"]);
        using var proxy = new SniffingProxy(new IPEndPoint(IPAddress.Loopback, daemon.BaseUrl.Port));
        var target = proxy.Target;
        var prometheus = StartPrometheus(target);

        // The target comes up healthy, and what Prometheus asked for and parsed was OpenMetrics 1.0.0.
        await WaitForAsync(async () => (await QueryAsync(prometheus, $"up{{job=\"sockwatch\",instance=\"{target}\"}} == 1")).GetArrayLength() == 1, "the sockwatch target to be up");
        await AssertTargetHealthyAsync(prometheus);
        Assert.StartsWith("application/openmetrics-text;version=1.0.0", proxy.Accepts[0], StringComparison.Ordinal);
        Assert.All(proxy.ContentTypes, t => Assert.Equal("application/openmetrics-text; version=1.0.0; charset=utf-8", t));
        Assert.NotEmpty(proxy.ContentTypes);

        var server = _children.Start(Conditions.FindExecutable("python3")!, ["-c", LiveScripts.LeakyServer(LeakProcess, leaks: 3, port: 0)], redirectStdin: true);
        Assert.Equal("ready", await server.StandardOutput.ReadLineAsync());

        JsonElement alert = default;
        await WaitForAsync(async () => (alert = await LeakAlertAsync(prometheus)).ValueKind != JsonValueKind.Undefined
                                       && alert.GetProperty("state").GetString() == "firing", "the leak alert to fire");
        Assert.Equal("warning", alert.GetProperty("labels").GetProperty("severity").GetString());
        var description = alert.GetProperty("annotations").GetProperty("description").GetString()!;
        Assert.Contains(LeakProcess, description, StringComparison.Ordinal);
        Assert.Contains("wave 3", description, StringComparison.Ordinal);
        Assert.StartsWith("3 ", description, StringComparison.Ordinal);

        // While the leak runs: every dashboard expression runs, the core ones return data.
        var failures = new List<string>();
        foreach (var (where, expr) in RulesAndDashboardsTests.DashboardExpressions())
        {
            var query = Substitute(expr, target);
            var (ok, result, error) = await TryQueryAsync(prometheus, query);
            if (!ok)
            {
                failures.Add($"{where}: {error}\n  {query}");
            }
            else if (CoreMetrics.Any(m => query.Contains(m, StringComparison.Ordinal)) && result.GetArrayLength() == 0)
            {
                failures.Add($"{where}: no data\n  {query}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));

        // The process exits, its sockets close: the series goes away and the alert with it.
        server.StandardInput.WriteLine();
        Assert.True(server.WaitForExit(10_000));
        await WaitForAsync(async () => (await LeakAlertAsync(prometheus)).ValueKind == JsonValueKind.Undefined, "the leak alert to clear");
        await AssertTargetHealthyAsync(prometheus);
    }

    public void Dispose()
    {
        _children.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Prometheus's last writes; the temp directory is cleaned later
        }
    }

    /// <summary>Grafana's variables: the job, this target, and a rate window of a few scrapes.</summary>
    private static string Substitute(string expr, string target) =>
        expr.Replace("$__rate_interval", "5s", StringComparison.Ordinal)
            .Replace("$job", "sockwatch", StringComparison.Ordinal)
            .Replace("$instance", target, StringComparison.Ordinal);

    private Uri StartPrometheus(string target)
    {
        // The shipped rules, with every "for:" shortened to 2s, in a copy.
        var rules = ForDuration().Replace(File.ReadAllText(RulesAndDashboardsTests.RulesFile), "${1}2s");
        File.WriteAllText(Path.Combine(_dir, "rules.yml"), rules);
        File.WriteAllText(Path.Combine(_dir, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - rules.yml
            scrape_configs:
              - job_name: sockwatch
                scrape_interval: 1s
                scrape_timeout: 1s
                static_configs:
                  - targets: ["{target}"]
            """);
        var port = FreePort();
        _children.Start(Conditions.FindExecutable("prometheus")!, [
            $"--config.file={Path.Combine(_dir, "prometheus.yml")}",
            $"--storage.tsdb.path={Path.Combine(_dir, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn"]);
        var url = new Uri($"http://127.0.0.1:{port}");
        WaitForAsync(async () =>
        {
            try
            {
                using var r = await _http.GetAsync(new Uri(url, "/-/ready"));
                return r.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "Prometheus to be ready").GetAwaiter().GetResult();
        return url;
    }

    private async Task AssertTargetHealthyAsync(Uri prometheus)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri(prometheus, "/api/v1/targets")));
        var active = doc.RootElement.GetProperty("data").GetProperty("activeTargets");
        var t = active.EnumerateArray().Single();
        Assert.Equal("up", t.GetProperty("health").GetString());
        Assert.Equal("", t.GetProperty("lastError").GetString());
    }

    private async Task<JsonElement> LeakAlertAsync(Uri prometheus)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync(new Uri(prometheus, "/api/v1/alerts")));
        foreach (var a in doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray())
        {
            var labels = a.GetProperty("labels");
            if (labels.GetProperty("alertname").GetString() == "SockWatchCloseWaitLeak"
                && labels.TryGetProperty("process", out var p) && p.GetString() == LeakProcess)
            {
                return a.Clone();
            }
        }

        return default;
    }

    private async Task<JsonElement> QueryAsync(Uri prometheus, string query)
    {
        var (ok, result, error) = await TryQueryAsync(prometheus, query);
        Assert.True(ok, $"{query}: {error}");
        return result;
    }

    private async Task<(bool Ok, JsonElement Result, string Error)> TryQueryAsync(Uri prometheus, string query)
    {
        using var response = await _http.GetAsync(new Uri(prometheus, "/api/v1/query?query=" + Uri.EscapeDataString(query)));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            return (false, default, root.GetProperty("error").GetString() ?? "error");
        }

        var data = root.GetProperty("data");
        var result = data.GetProperty("result").Clone();
        return data.GetProperty("resultType").GetString() == "scalar"
            ? (true, JsonDocument.Parse("[1]").RootElement.Clone(), "")
            : (true, result, "");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"waited 90 s for {what}");
            }

            await Task.Delay(250);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"(?m)^(\s+for:\s*)\S+\s*$")]
    private static partial Regex ForDuration();
}
