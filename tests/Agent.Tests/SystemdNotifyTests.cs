using System.Net.Sockets;
using System.Text;
using SockWatch.Agent.Daemon;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>The daemon's sd_notify messages, received on a test socket standing in for systemd.</summary>
public sealed class SystemdNotifyTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly List<string> _files = [];

    [Fact]
    public void Ready_status_watchdog_and_stopping_arrive_in_order_on_a_path_socket()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sockwatch-notify-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        _files.Add(path);
        var messages = RunDaemon(path, new UnixDomainSocketEndPoint(path), watchdogPid: null);

        Assert.StartsWith("READY=1\nSTATUS=", messages[0], StringComparison.Ordinal);
        Assert.Contains("sockets", messages[0], StringComparison.Ordinal);
        Assert.Contains(messages, m => m == "WATCHDOG=1");
        Assert.Contains(messages, m => m.StartsWith("STATUS=", StringComparison.Ordinal));
        Assert.StartsWith("STOPPING=1", messages[^1], StringComparison.Ordinal);
        Assert.Single(messages, m => m.StartsWith("READY=1", StringComparison.Ordinal));
        Assert.DoesNotContain(messages.Skip(1), m => m.Contains('\n') && !m.StartsWith("STOPPING=1", StringComparison.Ordinal));
    }

    [Fact]
    public void An_abstract_socket_works_and_a_watchdog_for_another_pid_is_not_pinged()
    {
        var name = $"sockwatch-notify-{Environment.ProcessId}-{Guid.NewGuid():N}";
        var messages = RunDaemon("@" + name, new UnixDomainSocketEndPoint("\0" + name), watchdogPid: "1");
        Assert.StartsWith("READY=1", messages[0], StringComparison.Ordinal);
        Assert.DoesNotContain("WATCHDOG=1", messages);
        Assert.StartsWith("STOPPING=1", messages[^1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, null, false, 0)]
    [InlineData("", null, null, false, 0)]
    [InlineData("vsock:2:1234", null, null, false, 0)]
    [InlineData("/run/systemd/notify", null, null, true, 0)]
    [InlineData("@abstract", "10000000", null, true, 5000)]
    [InlineData("/run/systemd/notify", "10000000", "4242", true, 5000)]  // WATCHDOG_PID is us
    [InlineData("/run/systemd/notify", "10000000", "1", true, 0)]        // another process's watchdog
    [InlineData("/run/systemd/notify", "0", null, true, 0)]
    public void The_environment_decides(string? socket, string? usec, string? pid, bool notifier, int watchdogMs)
    {
        var env = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = socket, ["WATCHDOG_USEC"] = usec, ["WATCHDOG_PID"] = pid };
        using var n = SystemdNotifier.FromEnvironment(k => env.GetValueOrDefault(k), processId: 4242);
        Assert.Equal(notifier, n is not null);
        if (n is not null)
        {
            Assert.Equal(watchdogMs == 0 ? null : TimeSpan.FromMilliseconds(watchdogMs), n.WatchdogInterval);
        }
    }

    [Theory]
    [InlineData("8:1234", "socket:[1234]", true)]
    [InlineData("8:1234", "socket:[12345]", false)]   // stdout redirected to another socket
    [InlineData("8:1234", "/dev/null", false)]        // stdout redirected to a file
    [InlineData(null, "socket:[1234]", false)]       // not started by systemd
    [InlineData("garbage", "socket:[1234]", false)]
    [InlineData("8:", "socket:[]", false)]
    public void Journal_priorities_only_while_stdout_is_the_journal_stream(string? journalStream, string stdout, bool expected) =>
        Assert.Equal(expected, JournalStream.IsStdout(journalStream, () => stdout));

    private List<string> RunDaemon(string notifySocket, UnixDomainSocketEndPoint bindTo, string? watchdogPid)
    {
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(bindTo);
        systemd.ReceiveTimeout = 20_000;

        var environment = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notifySocket, ["WATCHDOG_USEC"] = "1000000" };
        if (watchdogPid is not null)
        {
            environment["WATCHDOG_PID"] = watchdogPid;
        }

        var daemon = _children.Start(
            Path.Combine(AppContext.BaseDirectory, "sockwatch"),
            ["run", "--listen-address", "127.0.0.1:0", "--poll-interval", "1s", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners")],
            environment: environment);
        var messages = new List<string>();
        var buffer = new byte[4096];

        // Until two polls were reported after READY (about 2 s), then SIGTERM, then until STOPPING.
        while (messages.Count(m => m.StartsWith("STATUS=", StringComparison.Ordinal)) < 2)
        {
            messages.Add(Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer)));
        }

        Assert.Equal(0, ChildProcesses.Signal(daemon, ChildProcesses.SIGTERM));
        while (!messages[^1].StartsWith("STOPPING=1", StringComparison.Ordinal))
        {
            messages.Add(Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer)));
        }

        Assert.True(daemon.WaitForExit(5000));
        Assert.Equal(0, daemon.ExitCode);
        return messages;
    }

    public void Dispose()
    {
        _children.Dispose();
        foreach (var f in _files)
        {
            File.Delete(f);
        }
    }
}
