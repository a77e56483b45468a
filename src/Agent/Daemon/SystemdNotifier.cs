using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace SockWatch.Agent.Daemon;

/// <summary>The notifier when there is one (DI cannot hold a null service).</summary>
internal sealed record SystemdConnection(SystemdNotifier? Notifier);

/// <summary>
/// The sd_notify protocol, ours: Microsoft.Extensions.Hosting.Systemd's lifetime says READY=1
/// when the host has started, and SockWatch is ready only once its first poll succeeded; its
/// STATUS= and WATCHDOG=1 follow the polls too (<see cref="SystemdService"/>). One datagram per
/// message to the AF_UNIX socket named by NOTIFY_SOCKET, newline-separated KEY=VALUE
/// assignments. A name starting with '@' is a Linux abstract socket. Without NOTIFY_SOCKET
/// (not under systemd, or not Type=notify) there is no notifier at all. Send errors are
/// ignored, as the protocol intends: they only say the message was not queued.
/// </summary>
internal sealed class SystemdNotifier : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endpoint;

    internal SystemdNotifier(string notifySocket, TimeSpan? watchdogInterval)
    {
        // An abstract socket name: '@' stands for the leading NUL byte.
        var path = notifySocket[0] == '@' ? "\0" + notifySocket[1..] : notifySocket;
        _endpoint = new UnixDomainSocketEndPoint(path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        WatchdogInterval = watchdogInterval;
    }

    /// <summary>Half of WATCHDOG_USEC when the watchdog is on and meant for this process; else null.</summary>
    public TimeSpan? WatchdogInterval { get; }

    /// <summary>A notifier when NOTIFY_SOCKET names a unix socket; null otherwise.</summary>
    public static SystemdNotifier? FromEnvironment(Func<string, string?> getVariable, int processId)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var socket = getVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(socket) || (socket[0] != '/' && socket[0] != '@'))
        {
            return null; // unset, or vsock: and other transports SockWatch does not speak
        }

        return new SystemdNotifier(socket, ReadWatchdogInterval(getVariable, processId));
    }

    /// <summary>
    /// Ping every WATCHDOG_USEC/2, and only when WATCHDOG_PID is unset or names this process
    /// (a child started by the service must not keep the service's watchdog happy).
    /// </summary>
    internal static TimeSpan? ReadWatchdogInterval(Func<string, string?> getVariable, int processId)
    {
        if (!ulong.TryParse(getVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) || usec == 0)
        {
            return null;
        }

        var pid = getVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid)
            && (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var target) || target != processId))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(usec / 2.0);
    }

    public void Ready(string status) => Send("READY=1\nSTATUS=" + OneLine(status));

    public void Status(string status) => Send("STATUS=" + OneLine(status));

    public void Watchdog() => Send("WATCHDOG=1");

    public void Stopping(string status) => Send("STOPPING=1\nSTATUS=" + OneLine(status));

    public void Dispose() => _socket.Dispose();

    private void Send(string message)
    {
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), SocketFlags.None, _endpoint);
        }
        catch (SocketException)
        {
            // Not queued (systemd gone, socket full): nothing to do about it.
        }
    }

    /// <summary>STATUS= is one line: a newline would start another assignment.</summary>
    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
