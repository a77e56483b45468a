using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using SockWatch.Agent.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.ExporterBench;

/// <summary>
/// Our /metrics (the direct path: poll → PollMetrics → MetricFamily → bytes) beside
/// OpenTelemetry.Exporter.Prometheus.AspNetCore over SockWatchMeter's instruments, same polls
/// (issue 15, item 4). Commands: compare (golden series and values, promtool, negotiation,
/// gzip), prometheus (a real Prometheus scraping both), latency (scrape latency, CPU, allocation
/// and RSS of one exporter alone at a 100,000-socket poll), churn (10,000 owners through both).
/// </summary>
internal static class Program
{
    /// <summary>The Accept header of Prometheus 2.42.</summary>
    public const string PrometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    private static readonly string Repo = FindRepo();

    public static async Task<int> Main(string[] args)
    {
        var options = Options.Parse(args);
        switch (options.Command)
        {
            case "compare":
                await CompareAsync(options).ConfigureAwait(false);
                return 0;
            case "prometheus":
                return await PrometheusAsync(options).ConfigureAwait(false);
            case "latency":
                await LatencyAsync(options).ConfigureAwait(false);
                return 0;
            case "churn":
                await ChurnAsync(options).ConfigureAwait(false);
                return 0;
            default:
                await Console.Error.WriteLineAsync("usage: SockWatch.ExporterBench compare|prometheus|latency|churn [--out DIR] [--exporter ours|otel] [--scrapes N] [--sockets N] [--seconds N] [--owners N] [--per-poll N]").ConfigureAwait(false);
                return 2;
        }
    }

    /// <summary>(a) golden series and values, (b) promtool, (c) negotiation's answers, (d) gzip.</summary>
    private static async Task CompareAsync(Options options)
    {
        Directory.CreateDirectory(options.Out);
        await using var host = await Host.StartAsync(Exporters.Both, cacheMilliseconds: 0).ConfigureAwait(false);
        using var http = Client(host);

        Populations.PollFixture(Repo, host);
        var golden = await File.ReadAllTextAsync(Path.Combine(Repo, "tests", "fixtures", "exposition", "scrape-proc-metrics.txt")).ConfigureAwait(false);
        var ours004 = await TextAsync(http, "/metrics", accept: null).ConfigureAwait(false);
        Console.WriteLine($"## Golden: tests/fixtures/proc-metrics polled once by the daemon's poll step");
        Console.WriteLine($"ours (0.0.4) masked as ScrapeTests masks it equals tests/fixtures/exposition/scrape-proc-metrics.txt: {Mask(ours004) == golden}");
        await CompareBodiesAsync(http, options.Out, "fixture").ConfigureAwait(false);

        host.Publish(Populations.Large(options.Sockets, Host.Caps));
        Console.WriteLine();
        Console.WriteLine($"## A synthetic {options.Sockets}-socket poll (every capped label over its cap)");
        await CompareBodiesAsync(http, options.Out, "large").ConfigureAwait(false);
    }

    private static async Task CompareBodiesAsync(HttpClient http, string outDir, string tag)
    {
        foreach (var (format, accept) in new (string, string?)[] { ("0.0.4", null), ("OpenMetrics", PrometheusAccept) })
        {
            var ours = await TextAsync(http, "/metrics", accept).ConfigureAwait(false);
            var theirs = await TextAsync(http, "/otel-metrics", accept).ConfigureAwait(false);
            var suffix = format == "0.0.4" ? "txt" : "om.txt";
            await File.WriteAllTextAsync(Path.Combine(outDir, $"{tag}-ours.{suffix}"), ours).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(outDir, $"{tag}-otel.{suffix}"), theirs).ConfigureAwait(false);
            Console.WriteLine();
            Console.WriteLine($"### {tag}, {format} (Accept: {accept ?? "none"})");
            foreach (var line in ExpositionDiff.Compare(Exposition.Parse(ours), Exposition.Parse(theirs), "ours", "otel"))
            {
                Console.WriteLine(line);
            }

            Console.WriteLine($"promtool check metrics, ours: {Promtool(ours)}");
            Console.WriteLine($"promtool check metrics, otel: {Promtool(theirs)}");
        }

        Console.WriteLine();
        Console.WriteLine($"### {tag}: negotiation and gzip (Accept of Prometheus 2.42, Accept-Encoding: gzip)");
        foreach (var path in (string[])["/metrics", "/otel-metrics", "/otel-metrics-gz"])
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.TryAddWithoutValidation("Accept", PrometheusAccept);
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip");
            using var response = await http.SendAsync(request).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            var encoding = string.Join(",", response.Content.Headers.ContentEncoding);
            var plain = encoding == "gzip" ? Gunzip(bytes) : bytes;
            var text = Encoding.UTF8.GetString(plain);
            Console.WriteLine($"{path}: {(int)response.StatusCode} Content-Type: {response.Content.Headers.ContentType}; Content-Encoding: {(encoding.Length == 0 ? "none" : encoding)}; Vary: {string.Join(",", response.Headers.Vary)}; {bytes.Length} bytes on the wire, {plain.Length} bytes of text; ends with # EOF: {text.EndsWith("# EOF\n", StringComparison.Ordinal)}");
        }
    }

    /// <summary>(c) a real Prometheus on loopback scraping both endpoints every second.</summary>
    private static async Task<int> PrometheusAsync(Options options)
    {
        await using var host = await Host.StartAsync(Exporters.Both, cacheMilliseconds: 0).ConfigureAwait(false);
        Populations.PollFixture(Repo, host);
        var dir = Directory.CreateTempSubdirectory("exporter-bench-prom-");
        try
        {
            var target = $"127.0.0.1:{host.BaseUrl.Port}";
            var config = Path.Combine(dir.FullName, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                scrape_configs:
                  - job_name: ours
                    metrics_path: /metrics
                    static_configs: [{"{"} targets: ['{target}'] {"}"}]
                  - job_name: otel
                    metrics_path: /otel-metrics
                    static_configs: [{"{"} targets: ['{target}'] {"}"}]
                """).ConfigureAwait(false);
            var promPort = FreePort();
            var start = new ProcessStartInfo("prometheus")
            {
                ArgumentList = { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir.FullName, "data")}", $"--web.listen-address=127.0.0.1:{promPort}" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var prometheus = Process.Start(start)!;
            var log = new StringBuilder();
            prometheus.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
            prometheus.BeginErrorReadLine();
            prometheus.BeginOutputReadLine();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(options.Seconds)).ConfigureAwait(false);
                using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}"), Timeout = TimeSpan.FromSeconds(10) };
                Console.WriteLine($"## Prometheus {await VersionAsync(api).ConfigureAwait(false)} scraping both for {options.Seconds} s (scrape_interval 1s), tests/fixtures/proc-metrics poll");
                foreach (var job in (string[])["ours", "otel"])
                {
                    var up = await QueryAsync(api, $"up{{job=\"{job}\"}}").ConfigureAwait(false);
                    var series = await QueryAsync(api, $"count({{job=\"{job}\",__name__!~\"up|scrape_.*\"}})").ConfigureAwait(false);
                    var samples = await QueryAsync(api, $"scrape_samples_scraped{{job=\"{job}\"}}").ConfigureAwait(false);
                    var scrapes = await QueryAsync(api, $"count_over_time(up{{job=\"{job}\"}}[1h])").ConfigureAwait(false);
                    var created = await QueryAsync(api, $"count({{job=\"{job}\",__name__=~\".+_created\"}})").ConfigureAwait(false);
                    var names = await QueryAsync(api, $"count(count by (__name__) ({{job=\"{job}\",__name__!~\"up|scrape_.*\"}}))").ConfigureAwait(false);
                    Console.WriteLine($"job {job}: up {up}; scrapes {scrapes}; series ingested {series} under {names} metric names (of them *_created: {created}); scrape_samples_scraped {samples}");
                }

                using var targets = await api.GetAsync(new Uri("/api/v1/targets", UriKind.Relative)).ConfigureAwait(false);
                using var doc = JsonDocument.Parse(await targets.Content.ReadAsStringAsync().ConfigureAwait(false));
                foreach (var t in doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray())
                {
                    Console.WriteLine($"target {t.GetProperty("scrapePool").GetString()}: health {t.GetProperty("health").GetString()}, lastError \"{t.GetProperty("lastError").GetString()}\"");
                }

                using var metadata = await api.GetAsync(new Uri("/api/v1/targets/metadata?match_target={job=\"otel\"}&metric=sockwatch_poll_duration_seconds", UriKind.Relative)).ConfigureAwait(false);
                Console.WriteLine($"otel metadata for sockwatch_poll_duration_seconds: {await metadata.Content.ReadAsStringAsync().ConfigureAwait(false)}");
                using var metadataOurs = await api.GetAsync(new Uri("/api/v1/targets/metadata?match_target={job=\"ours\"}&metric=sockwatch_poll_duration_seconds", UriKind.Relative)).ConfigureAwait(false);
                Console.WriteLine($"ours metadata for sockwatch_poll_duration_seconds: {await metadataOurs.Content.ReadAsStringAsync().ConfigureAwait(false)}");
            }
            finally
            {
                prometheus.Kill();
                await prometheus.WaitForExitAsync().ConfigureAwait(false);
            }

            lock (log)
            {
                var errors = log.ToString().Split('\n').Where(l => l.Contains("level=warn", StringComparison.Ordinal) || l.Contains("level=error", StringComparison.Ordinal)).ToList();
                Console.WriteLine($"prometheus warnings and errors in its log: {errors.Count}");
                foreach (var e in errors.Take(10))
                {
                    Console.WriteLine("  " + e);
                }
            }

            return 0;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>(e) one exporter alone: publish a poll, scrape it as Prometheus does, N times; latency, CPU, allocation, RSS.</summary>
    private static async Task LatencyAsync(Options options)
    {
        var exporter = options.Exporter == "otel" ? Exporters.Otel : Exporters.Ours;
        await using var host = await Host.StartAsync(exporter, cacheMilliseconds: 0).ConfigureAwait(false);
        using var http = Client(host);
        var path = exporter == Exporters.Otel ? "/otel-metrics" : "/metrics";
        var built = Stopwatch.StartNew();
        var poll = Populations.Large(options.Sockets, Host.Caps);
        Console.WriteLine($"## {options.Exporter}: {options.Sockets} sockets (synthetic poll built in {built.Elapsed.TotalSeconds:F1} s), {options.Scrapes} cycles of publish + scrape (Prometheus 2.42's Accept, Accept-Encoding: gzip)");
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

        // Baseline: the same requests to an endpoint that answers 3 bytes (client, Kestrel, routing).
        _ = await LoopAsync(http, "/empty", Math.Min(50, options.Scrapes), publish: null).ConfigureAwait(false); // warm-up: every method is compiled at its first call
        var baseline = await LoopAsync(http, "/empty", options.Scrapes, publish: null).ConfigureAwait(false);

        void Publish() => host.Publish(poll);

        _ = await LoopAsync(http, path, Math.Min(50, options.Scrapes), Publish).ConfigureAwait(false); // warm-up
        Settle();
        var (before, _) = Memory();
        var run = await LoopAsync(http, path, options.Scrapes, Publish).ConfigureAwait(false);
        Settle();
        var (rss, hwm) = Memory();
        Console.WriteLine($"body: {run.Bytes} bytes on the wire ({run.Encoding}), Content-Type {run.ContentType}");
        Console.WriteLine($"publish (poll thread; ours builds the families and renders both gzipped bodies here, otel builds the families its instruments read and records the histogram): p50 {run.Publish.P(0.5):F3} ms, p99 {run.Publish.P(0.99):F3} ms");
        Console.WriteLine($"scrape latency (client): p50 {run.Scrape.P(0.5):F3} ms, p99 {run.Scrape.P(0.99):F3} ms, max {run.Scrape.P(1):F3} ms; baseline /empty p50 {baseline.Scrape.P(0.5):F3} ms, p99 {baseline.Scrape.P(0.99):F3} ms");
        Console.WriteLine($"CPU per cycle (process, /proc/self/stat): {run.CpuMs / options.Scrapes:F3} ms; less the /empty baseline {(run.CpuMs - baseline.CpuMs) / options.Scrapes:F3} ms; at one poll and one scrape per 15 s: {(run.CpuMs - baseline.CpuMs) / options.Scrapes / 15000 * 100:F4}% of a core");
        Console.WriteLine($"managed allocation per cycle: {run.Allocated / (double)options.Scrapes / 1024:F1} KiB; less the baseline {(run.Allocated - baseline.Allocated) / (double)options.Scrapes / 1024:F1} KiB; {run.Collections} collections during the loop, {run.Paused.TotalMilliseconds:F0} ms paused in all");
        Console.WriteLine($"wall for the loop {run.Wall:F1} s; RSS (after a compacting collection and malloc_trim, as the daemon between polls) {before / 1024.0:F1} MiB before the loop, {rss / 1024.0:F1} MiB after it; peak {hwm / 1024.0:F1} MiB (the 100,000-socket poll's construction); GC heap {GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0:F1} MiB");
    }

    /// <summary>(f) 10,000 distinct owners, 40 new a poll, through both; does either ever export an overflow series?</summary>
    private static async Task ChurnAsync(Options options)
    {
        await using var host = await Host.StartAsync(Exporters.Both, cacheMilliseconds: 0).ConfigureAwait(false);
        using var http = Client(host);
        var tracker = new SocketTracker();
        var polls = options.Owners / options.PerPoll;
        int? firstOverflow = null;
        int oursOverflow = 0, otelOverflow = 0, oursWrong = 0, otelWrong = 0;
        int? firstWrong = null;
        var deadline = Stopwatch.StartNew();
        var done = 0;
        for (var poll = 0; poll < polls && deadline.Elapsed < TimeSpan.FromMinutes(5); poll++, done++)
        {
            host.Publish(Populations.Churn(tracker, poll, options.PerPoll, host.Pipeline!.Caps));
            var ours = await TextAsync(http, "/metrics", null).ConfigureAwait(false);
            var theirs = await TextAsync(http, "/otel-metrics", null).ConfigureAwait(false);
            if (ours.Contains("otel_metric_overflow", StringComparison.Ordinal))
            {
                oursOverflow++;
            }

            if (theirs.Contains("otel_metric_overflow", StringComparison.Ordinal))
            {
                otelOverflow++;
                firstOverflow ??= poll;
            }

            var expected = Enumerable.Range(poll * options.PerPoll, options.PerPoll).Select(n => $"proc{n}").ToHashSet(StringComparer.Ordinal);
            if (!Owners(ours).SetEquals(expected))
            {
                oursWrong++;
            }

            if (!Owners(theirs).SetEquals(expected))
            {
                otelWrong++;
                firstWrong ??= poll;
            }

            if (poll == firstOverflow)
            {
                var lines = theirs.Split('\n').Where(l => l.Contains("otel_metric_overflow", StringComparison.Ordinal)).ToList();
                Console.WriteLine($"first overflow at poll {poll} ({(poll + 1) * options.PerPoll} distinct owners so far), {lines.Count} overflow series, e.g.:");
                foreach (var l in lines.Take(4))
                {
                    Console.WriteLine("  " + l);
                }

                Console.WriteLine($"  owners exported by otel in that poll: {Owners(theirs).Count} of {options.PerPoll}");
            }
        }

        Console.WriteLine($"## Churn: {done * options.PerPoll} distinct owners over {done} polls ({options.PerPoll} new a poll, each with an established and a close_wait socket)");
        Console.WriteLine($"ours: polls with an otel_metric_overflow series {oursOverflow}; polls whose exported owners were not exactly the current ones {oursWrong}; MeterProviders on its path: {(host.Pipeline!.Otlp is null ? "none" : "OTLP's")}");
        Console.WriteLine($"otel: cardinality limit of sockwatch.tcp.owner_sockets {Host.CardinalityLimits["sockwatch.tcp.owner_sockets"]} (one provider for the life of the app); polls with an otel_metric_overflow series {otelOverflow} (first at poll {firstOverflow?.ToString(CultureInfo.InvariantCulture) ?? "never"}); polls whose exported owners were not exactly the current ones {otelWrong} (first at poll {firstWrong?.ToString(CultureInfo.InvariantCulture) ?? "never"})");
    }

    private static HashSet<string> Owners(string body) =>
        Exposition.Parse(body).Samples.Where(s => s.Name == "sockwatch_tcp_owner_sockets")
            .Select(s => s.Labels.FirstOrDefault(l => l.Key == "process").Value).OfType<string>().ToHashSet(StringComparer.Ordinal);

    private static async Task<Run> LoopAsync(HttpClient http, string path, int count, Action? publish)
    {
        var scrape = new List<double>(count);
        var published = new List<double>(count);
        long bytes = 0;
        string encoding = "", contentType = "";
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var collections = GC.CollectionCount(0);
        var paused = GC.GetTotalPauseDuration();
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < count && wall.Elapsed < TimeSpan.FromMinutes(5); i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            publish?.Invoke();
            var t1 = Stopwatch.GetTimestamp();
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.TryAddWithoutValidation("Accept", PrometheusAccept);
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip");
            using var response = await http.SendAsync(request).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            var t2 = Stopwatch.GetTimestamp();
            published.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            scrape.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            bytes = body.Length;
            encoding = response.Content.Headers.ContentEncoding.Count == 0 ? "not compressed" : string.Join(",", response.Content.Headers.ContentEncoding);
            contentType = response.Content.Headers.ContentType?.ToString() ?? "";
        }

        var elapsed = wall.Elapsed.TotalSeconds;
        var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
        return new Run(new Percentiles(scrape), new Percentiles(published), cpuMs, GC.GetTotalAllocatedBytes(precise: true) - allocated, elapsed, bytes, encoding, contentType)
        {
            Collections = GC.CollectionCount(0) - collections,
            Paused = GC.GetTotalPauseDuration() - paused,
        };
    }

    private static HttpClient Client(Host host) =>
        new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None, UseProxy = false }) { BaseAddress = host.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<string> TextAsync(HttpClient http, string path, string? accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        using var response = await http.SendAsync(request).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync().ConfigureAwait(false);
    }

    private static byte[] Gunzip(byte[] bytes)
    {
        using var input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>`promtool check metrics` on a body: its exit code and what it said.</summary>
    private static string Promtool(string body)
    {
        var start = new ProcessStartInfo("promtool") { ArgumentList = { "check", "metrics" }, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        p.StandardInput.Write(body);
        p.StandardInput.Close();
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            return "timed out";
        }

        var said = (output.Result + error.Result).Trim().Split('\n').Where(l => l.Length > 0).ToList();
        return $"exit {p.ExitCode}" + (said.Count == 0 ? ", nothing reported" : $", {said.Count} line(s): " + string.Join(" | ", said.Take(6)));
    }

    private static async Task<string> QueryAsync(HttpClient api, string query)
    {
        using var response = await api.GetAsync(new Uri("/api/v1/query?query=" + Uri.EscapeDataString(query), UriKind.Relative)).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        var result = doc.RootElement.GetProperty("data").GetProperty("result");
        return result.GetArrayLength() == 0 ? "(none)" : string.Join(",", result.EnumerateArray().Select(r => r.GetProperty("value")[1].GetString()));
    }

    private static async Task<string> VersionAsync(HttpClient api)
    {
        using var response = await api.GetAsync(new Uri("/api/v1/status/buildinfo", UriKind.Relative)).ConfigureAwait(false);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        return doc.RootElement.GetProperty("data").GetProperty("version").GetString() ?? "?";
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>What the daemon does between polls: a compacting collection, then the C library's free pages back to the kernel.</summary>
    private static void Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        SockWatch.Agent.Interop.NativeHeap.Trim();
    }

    /// <summary>VmRSS and VmHWM of this process, KiB.</summary>
    private static (long Rss, long Hwm) Memory()
    {
        long rss = 0, hwm = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return (rss, hwm);
    }

    /// <summary>What ScrapeTests masks: versions, the poll's time and duration.</summary>
    private static string Mask(string body)
    {
        body = System.Text.RegularExpressions.Regex.Replace(body, "((?:dotnet_version|service_version|version))=\"[^\"]*\"", "$1=\"<version>\"");
        return System.Text.RegularExpressions.Regex.Replace(body, @"^((?:sockwatch_poll_duration_seconds_\w+|sockwatch_poll_stage_duration_seconds|sockwatch_last_poll_success_timestamp_seconds)(?:\{[^}]*\})?) \S+$", "$1 <varies>", System.Text.RegularExpressions.RegexOptions.Multiline);
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SockWatch.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("run from inside the repository");
    }

    private sealed record Run(Percentiles Scrape, Percentiles Publish, double CpuMs, long Allocated, double Wall, long Bytes, string Encoding, string ContentType)
    {
        public int Collections { get; init; }

        public TimeSpan Paused { get; init; }
    }

    private sealed class Percentiles(List<double> values)
    {
        private readonly double[] _sorted = [.. values.Order()];

        public double P(double q) => _sorted.Length == 0 ? double.NaN : _sorted[Math.Min(_sorted.Length - 1, (int)Math.Ceiling(q * _sorted.Length) - 1 < 0 ? 0 : (int)Math.Ceiling(q * _sorted.Length) - 1)];
    }

    private sealed record Options(string Command, string Out, string Exporter, int Scrapes, int Sockets, int Seconds, int Owners, int PerPoll)
    {
        public static Options Parse(string[] args)
        {
            string Get(string name, string fallback)
            {
                var i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
            }

            int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
            return new Options(
                args.Length > 0 ? args[0] : "",
                Get("--out", Path.Combine(Path.GetTempPath(), "exporter-bench")),
                Get("--exporter", "ours"),
                Int("--scrapes", 500),
                Int("--sockets", 100_000),
                Math.Clamp(Int("--seconds", 20), 5, 120),
                Int("--owners", 10_000),
                Int("--per-poll", 40));
        }
    }
}
