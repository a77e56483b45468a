using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Core.Detection;
using SockWatch.Tests;

using SockWatch.Agent.Tests.Metrics;

namespace SockWatch.Agent.Tests;

public sealed class HttpEndpointTests : IDisposable
{
    private readonly ChildProcesses _children = new();

    [Fact]
    public async Task The_daemon_serves_health_readiness_and_a_summary()
    {
        var running = await DaemonProcess.StartAsync(_children, ["--poll-interval", "1s", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners")]);
        var daemon = running.Process;
        using var http = new HttpClient { BaseAddress = running.BaseUrl };
        var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok\n", await health.Content.ReadAsStringAsync());

        var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative)); // the first poll runs before the endpoint listens
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

        var page = await http.GetStringAsync(new Uri("/", UriKind.Relative));
        Assert.Contains("<h1>SockWatch</h1>", page, StringComparison.Ordinal);
        Assert.Contains("8 sockets", page, StringComparison.Ordinal);
        Assert.Contains("close_wait", page, StringComparison.Ordinal);
        Assert.Contains("through proc", page, StringComparison.Ordinal); // the collector in use
        Assert.Contains("href=\"/metrics\"", page, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/nothing-here", UriKind.Relative))).StatusCode);
        Assert.Equal(0, ChildProcesses.Signal(daemon, ChildProcesses.SIGTERM));
        Assert.True(daemon.WaitForExit(5000));
        Assert.Equal(0, daemon.ExitCode);
    }

    [Fact]
    public void A_port_already_taken_is_one_clear_line_and_exit_2()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = Cli.Run("run", "--listen-address", $"127.0.0.1:{port}", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners"));
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.StderrLines);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(":9859", null, null, 9859)]
    [InlineData("127.0.0.1:9100", null, "127.0.0.1", 9100)]
    [InlineData("[::1]:0", null, "::1", 0)]
    [InlineData("localhost:80", "localhost", null, 80)]
    public void Listen_addresses_parse(string text, string? host, string? ip, int port)
    {
        Assert.True(ListenAddress.TryParse(text, out var a));
        Assert.Equal(host, a.Host);
        Assert.Equal(ip, a.Address?.ToString());
        Assert.Equal(port, a.Port);
    }

    [Theory]
    [InlineData("9859")]
    [InlineData("example.com:80")]
    [InlineData(":70000")]
    [InlineData("")]
    public void Bad_listen_addresses_do_not_parse(string text) => Assert.False(ListenAddress.TryParse(text, out _));

    [Fact]
    public void Readiness_follows_the_age_of_the_last_successful_poll()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var store = new PollResultStore();
        var pages = new HttpPages(store, new SockWatchOptions { PollInterval = TimeSpan.FromSeconds(15) }, clock);
        Assert.False(pages.IsReady(out var why));
        Assert.Contains("no poll", why, StringComparison.Ordinal);

        var view = PollMetrics.Build(PollFactory.Poll(new SocketTracker(), clock.GetUtcNow(), [], []), TimeSpan.FromMinutes(2), new SeriesCaps(50, 20));
        store.Publish(new PollResult(clock.GetUtcNow(), TimeSpan.FromMilliseconds(5), "proc", 1, new int[14], new CollectionStats { Collector = "proc" }, Array.Empty<Finding>(), 0, view));
        clock.Now += TimeSpan.FromSeconds(44);
        Assert.True(pages.IsReady(out _));
        clock.Now += TimeSpan.FromSeconds(2); // 46 s: more than three 15 s intervals
        Assert.False(pages.IsReady(out why));
        Assert.Contains("three intervals", why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scrape_that_throws_is_a_500_and_one_log_line()
    {
        var logger = new ListLogger();
        var handler = HttpErrorBoundary.Wrap(c => MetricsEndpoint.Serve(c, (_, _) => throw new InvalidOperationException("the state\nis broken")), logger);
        var context = Request("/metrics");
        await handler(context);
        Assert.Equal(StatusCodes.Status500InternalServerError, context.Response.StatusCode);
        var line = Assert.Single(logger.Lines);
        Assert.Equal("/metrics failed, answered 500: InvalidOperationException: the state is broken", line);
        Assert.Equal(new EventId(3102), logger.Events.Single());
    }

    [Fact]
    public async Task A_page_that_throws_is_a_500_and_one_log_line_and_the_others_still_answer()
    {
        // A published result the landing page cannot render: no count per state.
        var store = new PollResultStore();
        var view = PollMetrics.Build(PollFactory.Poll(new SocketTracker(), DateTimeOffset.UnixEpoch, [], []), TimeSpan.FromMinutes(2), new SeriesCaps(50, 20));
        store.Publish(new PollResult(DateTimeOffset.UnixEpoch, TimeSpan.Zero, "proc", 1, [], new CollectionStats { Collector = "proc" }, Array.Empty<Finding>(), 0, view));
        var pages = new HttpPages(store, new SockWatchOptions(), TimeProvider.System);
        var logger = new ListLogger();

        var landing = Request("/");
        await HttpErrorBoundary.Wrap(pages.Landing, logger)(landing);
        Assert.Equal(StatusCodes.Status500InternalServerError, landing.Response.StatusCode);
        Assert.Single(logger.Lines);

        var ready = Request("/readyz");
        await HttpErrorBoundary.Wrap(pages.Readyz, logger)(ready);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, ready.Response.StatusCode); // the poll is old: answered, not an error
        Assert.Single(logger.Lines);
    }

    public void Dispose() => _children.Dispose();

    private static DefaultHttpContext Request(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
