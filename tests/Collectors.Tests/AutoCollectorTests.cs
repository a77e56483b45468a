using Microsoft.Extensions.Logging;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

public class AutoCollectorTests
{
    private sealed class FailingCollector(CollectorErrorKind kind, int errno) : ISocketCollector
    {
        public int Calls { get; private set; }

        public bool Disposed { get; private set; }

        public string Name => "netlink";

        public CollectionStats Append(SocketTable table, CollectRequest request)
        {
            Calls++;
            throw new CollectorException("netlink", kind, errno, $"socket(AF_NETLINK) failed ({errno})");
        }

        public void Dispose() => Disposed = true;
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, EventId Id, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId, formatter(state, exception)));
    }

    [Theory]
    [InlineData(CollectorErrorKind.Syscall, 93)]     // EPROTONOSUPPORT: no sock_diag
    [InlineData(CollectorErrorKind.Syscall, 1)]      // EPERM: a seccomp filter
    [InlineData(CollectorErrorKind.DumpRefused, 2)]  // ENOENT: no inet_diag module
    public void Falls_back_to_proc_once_and_says_why(CollectorErrorKind kind, int errno)
    {
        var logger = new ListLogger();
        var failing = new FailingCollector(kind, errno);
        using var auto = new AutoCollector(Repo.Fixture("proc-every-state"), logger, failing);
        var table = new SocketTable();

        var stats = auto.Collect(table, CollectRequest.All);
        Assert.Equal("proc", stats.Collector);
        Assert.Equal("proc", auto.Name);
        Assert.Equal(15, table.Count);
        Assert.True(failing.Disposed);
        Assert.NotNull(auto.FallbackReason);

        auto.Collect(table, CollectRequest.All);
        Assert.Equal(1, failing.Calls); // netlink is not retried every poll
        var line = Assert.Single(logger.Lines);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains("falling back to /proc", line.Message, StringComparison.Ordinal);
        Assert.Contains($"({errno})", line.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CollectorErrorKind.DumpFailed)]
    [InlineData(CollectorErrorKind.Truncated)]
    public void A_dump_that_fails_midway_is_an_error_not_a_fallback(CollectorErrorKind kind)
    {
        var logger = new ListLogger();
        using var auto = new AutoCollector(Repo.Fixture("proc-every-state"), logger, new FailingCollector(kind, 105));
        var e = Assert.Throws<CollectorException>(() => auto.Collect(new SocketTable(), CollectRequest.All));
        Assert.Equal(kind, e.Kind);
        Assert.Equal("netlink", auto.Name);
        Assert.Empty(logger.Lines);
    }

    [Theory]
    [InlineData("auto", CollectorKind.Auto)]
    [InlineData("NETLINK", CollectorKind.Netlink)]
    [InlineData(" proc ", CollectorKind.Proc)]
    public void Collector_names_parse(string text, CollectorKind expected)
    {
        Assert.True(CollectorKinds.TryParse(text, out var kind));
        Assert.Equal(expected, kind);
    }

    [Fact]
    public void Unknown_collector_names_do_not_parse()
    {
        Assert.False(CollectorKinds.TryParse("ebpf", out _));
        Assert.False(CollectorKinds.TryParse(null, out _));
    }
}

public class CookieSetTests
{
    [Fact]
    public void Finds_duplicates_across_growth_and_resets()
    {
        var set = new CookieSet();
        set.Reset(4);
        for (ulong c = 1; c <= 50_000; c++)
        {
            Assert.True(set.Add(c * 7919));
        }

        for (ulong c = 1; c <= 50_000; c += 997)
        {
            Assert.False(set.Add(c * 7919));
        }

        set.Reset(10);
        Assert.True(set.Add(7919));
        Assert.False(set.Add(7919));
        Assert.True(set.Add(0)); // no cookie: never a duplicate
        Assert.True(set.Add(0));
    }

    [Fact]
    public void After_a_release_the_next_reset_makes_room_again_and_forgets_what_was_seen()
    {
        var set = new CookieSet();
        set.Reset(100_000);
        Assert.True(set.Add(42));
        set.Release(); // the daemon between polls
        set.Reset(100_000);
        Assert.True(set.Add(42));
        for (ulong c = 1; c <= 100_000; c++)
        {
            set.Add(c * 104729);
        }

        Assert.False(set.Add(42));
        Assert.False(set.Add(5 * 104729));
    }
}
