using System.Globalization;

namespace SockWatch.Agent.Tests;

/// <summary>Python programs the live tests run inside their namespaces.</summary>
internal static class LiveScripts
{
    /// <summary>
    /// A server on 127.0.0.1:<paramref name="port"/> (0: any) named <paramref name="name"/> (PR_SET_NAME) whose peers close
    /// <paramref name="leaks"/> connections it never closes (close_wait), and that keeps
    /// <paramref name="established"/> more connections open; prints "ready", exits on a line of stdin
    /// (or, with <paramref name="untilKilled"/>, never: a service's stdin is /dev/null).
    /// </summary>
    public static string LeakyServer(string name, int leaks, int established = 0, int port = 8080, bool untilKilled = false) => string.Create(CultureInfo.InvariantCulture, $"""
        import ctypes, socket, sys
        ctypes.CDLL(None).prctl(15, b"{name}", 0, 0, 0)
        l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(64)
        kept = []
        for _ in range({leaks}):
            c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept(); kept.append(s)
            c.close()  # the peer closes; the server never does: close_wait
        for _ in range({established}):
            c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept(); kept += [c, s]
        print("ready", flush=True)
        {(untilKilled ? "import time; time.sleep(86400)" : "sys.stdin.readline()")}
        """);

    /// <summary>
    /// <paramref name="count"/> connections to a listener on 127.0.0.1:<paramref name="port"/>,
    /// closed by the client first and then by the server, so the client's ends sit in time_wait
    /// (60 s); prints "ready", exits on a line of stdin.
    /// </summary>
    public static string TimeWaits(int count, int port) => string.Create(CultureInfo.InvariantCulture, $"""
        import socket, sys
        l = socket.socket(); l.bind(("127.0.0.1", {port})); l.listen(64)
        for _ in range({count}):
            c = socket.socket(); c.connect(l.getsockname()); s, _ = l.accept()
            c.close(); s.recv(1); s.close()
        l.close()
        print("ready", flush=True)
        sys.stdin.readline()
        """);
}
