using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// The real daemon on the proc-metrics fixture tree (one poll: the interval is an hour), scraped
/// over HTTP. The golden file is the scrape with what changes from run to run masked (build
/// version, .NET version, poll time and durations); SOCKWATCH_UPDATE_GOLDEN=1 rewrites it.
/// </summary>
public sealed partial class ScrapeTests : IDisposable
{
    private static readonly string Golden = Repo.Fixture("exposition", "scrape-proc-metrics.txt");
    private readonly ChildProcesses _children = new();

    [Fact]
    public async Task The_scrape_of_the_fixture_tree_matches_the_golden_file()
    {
        var body = await ScrapeAsync(accept: null);
        var masked = Mask(body);
        if (Environment.GetEnvironmentVariable("SOCKWATCH_UPDATE_GOLDEN") == "1")
        {
            await File.WriteAllTextAsync(Golden, masked, new UTF8Encoding(false));
        }

        Assert.Equal(await File.ReadAllTextAsync(Golden), masked);
    }

    [PromtoolFact]
    public async Task Promtool_finds_no_problem_in_the_scrape()
    {
        var body = await ScrapeAsync(accept: null);
        Promtool.AssertLintClean(Encoding.UTF8.GetBytes(body));
    }

    [Fact]
    public async Task The_scrape_counts_what_the_fixture_holds()
    {
        var body = await ScrapeAsync(accept: null);

        // 20 sockets in the tree (16 IPv4 + 2 IPv6 listed by snapshot), every state present.
        Assert.Equal(22, Samples(body, "sockwatch_tcp_sockets").Count);
        Assert.Equal(20, Samples(body, "sockwatch_tcp_sockets").Sum(s => s.Value));
        Assert.Contains(Samples(body, "sockwatch_tcp_sockets"), s => s.Labels == "family=\"inet6\",netns=\"self\",phase=\"listen\",state=\"listen\"" && s.Value == 1);

        // close_wait per owner: nginx holds two, api one; none older than the leak threshold yet.
        var leaked = Samples(body, "sockwatch_close_wait_leaked_sockets");
        Assert.Equal(["netns=\"self\",process=\"api\"", "netns=\"self\",process=\"nginx: worker\""], leaked.Select(s => string.Join(',', s.Labels.Split(',')[..2])).Order(StringComparer.Ordinal));
        Assert.All(leaked, s => Assert.Equal(0, s.Value));

        // 10.0.0.1 -> 10.0.0.5:5432 holds 5 ports (3 established, 2 time_wait) of 28232 usable.
        var ports = Samples(body, "sockwatch_ephemeral_port_utilization_ratio");
        var db = Assert.Single(ports, s => s.Labels.Contains("remote_address=\"10.0.0.5\"", StringComparison.Ordinal));
        Assert.Equal(5.0 / 28232, db.Value, 12);
        Assert.Equal(28232, Samples(body, "sockwatch_ephemeral_ports").Single().Value);

        // The process whose name needs escaping is exported escaped, never dropped.
        Assert.Contains("process=\"we\\\"ird\\\\pr\"", body, StringComparison.Ordinal);

        // Kernel counters from net/netstat.
        Assert.Equal(7, Samples(body, "sockwatch_kernel_listen_overflows_total").Single().Value);
        Assert.Equal(3, Samples(body, "sockwatch_kernel_time_wait_overflows_total").Single().Value);
        Assert.Equal(8.0 / 1024, Samples(body, "sockwatch_process_descriptor_utilization_ratio").Single(s => s.Labels.Contains("nginx", StringComparison.Ordinal)).Value, 12);
        Assert.DoesNotContain("pid", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenMetrics_is_served_when_asked_for_and_gzip_when_allowed()
    {
        var daemon = await StartAsync();
        using var http = new HttpClient(new HttpClientHandler { AutomaticDecompression = DecompressionMethods.None }) { BaseAddress = daemon.BaseUrl };

        using var om = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        om.Headers.TryAddWithoutValidation("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        om.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var response = await http.SendAsync(om);
        Assert.Equal("application/openmetrics-text; version=1.0.0; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal(["gzip"], response.Content.Headers.ContentEncoding);
        await using var zipped = new GZipStream(await response.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        using var reader = new StreamReader(zipped);
        var text = await reader.ReadToEndAsync();
        Assert.EndsWith("# EOF\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE sockwatch_kernel_listen_overflows counter", text, StringComparison.Ordinal); // the family name, without _total
        Assert.Contains("# UNIT sockwatch_poll_duration_seconds seconds", text, StringComparison.Ordinal);

        using var plain = await http.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", plain.Content.Headers.ContentType!.ToString());
        Assert.Empty(plain.Content.Headers.ContentEncoding);
        Assert.DoesNotContain("# EOF", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_owner_cap_folds_the_rest_into_other()
    {
        var body = await ScrapeAsync(accept: null, "--max-owner-series", "1");
        var owners = Samples(body, "sockwatch_tcp_owner_sockets")
            .Select(s => Regex.Match(s.Labels, "process=\"([^\"]*)\"").Groups[1].Value).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["nginx: worker", "other"], owners); // nginx holds the most sockets
        Assert.Equal(20, Samples(body, "sockwatch_tcp_owner_sockets").Sum(s => s.Value)); // nothing lost in the folding
    }

    public void Dispose() => _children.Dispose();

    /// <summary>Masks what changes from run to run.</summary>
    internal static string Mask(string body)
    {
        body = VersionLabels().Replace(body, "$1=\"<version>\"");
        body = VolatileValues().Replace(body, "$1 <varies>");
        return body;
    }

    internal static List<(string Labels, double Value)> Samples(string body, string name)
    {
        var result = new List<(string, double)>();
        foreach (var line in body.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                var close = line.LastIndexOf('}');
                var labels = close < 0 ? "" : line[(name.Length + 1)..close].Replace(",otel_scope_name=\"sockwatch\"", "", StringComparison.Ordinal);
                var value = line[(line.LastIndexOf(' ') + 1)..];
                result.Add((labels, double.Parse(value, System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        return result;
    }

    private async Task<DaemonProcess> StartAsync(params string[] extra) =>
        await DaemonProcess.StartAsync(_children, ["--poll-interval", "1h", "--collector", "proc", "--proc-root", Repo.Fixture("proc-metrics"), "--trace", "off", .. extra]);

    private async Task<string> ScrapeAsync(string? accept, params string[] extra)
    {
        var daemon = await StartAsync(extra);
        using var http = new HttpClient { BaseAddress = daemon.BaseUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [GeneratedRegex("((?:dotnet_version|service_version|version))=\"[^\"]*\"")]
    private static partial Regex VersionLabels();

    [GeneratedRegex(@"^((?:sockwatch_poll_duration_seconds_\w+|sockwatch_poll_stage_duration_seconds|sockwatch_last_poll_success_timestamp_seconds)(?:\{[^}]*\})?) \S+$", RegexOptions.Multiline)]
    private static partial Regex VolatileValues();
}
