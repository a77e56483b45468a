using System.Diagnostics;
using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>`sockwatch run` started by a test, on a free loopback port; killed with the test's <see cref="ChildProcesses"/>.</summary>
internal sealed partial class DaemonProcess
{
    private readonly List<string> _output = [];

    private DaemonProcess(Process process, Uri baseUrl)
    {
        Process = process;
        BaseUrl = baseUrl;
    }

    public Process Process { get; }

    public Uri BaseUrl { get; }

    /// <summary>What the daemon wrote to stdout after it started listening (its log), so far.</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    /// <summary>
    /// Starts the daemon with <c>--listen-address 127.0.0.1:0</c> and <paramref name="args"/>, and
    /// waits until it listens and, unless <paramref name="waitForReady"/> is false, until /readyz
    /// says a poll succeeded (Kestrel may listen before the first poll is done). /readyz is asked
    /// through <paramref name="readiness"/> when given (TLS, credentials), else over plain HTTP.
    /// </summary>
    public static async Task<DaemonProcess> StartAsync(
        ChildProcesses children, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, bool waitForReady = true,
        Func<HttpClient>? readiness = null)
    {
        var process = children.Start(Path.Combine(AppContext.BaseDirectory, "sockwatch"), ["run", "--listen-address", "127.0.0.1:0", .. args], environment: environment);
        var seen = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.Add(line);
            if (ListeningLine().Match(line) is { Success: true } m)
            {
                var daemon = new DaemonProcess(process, new Uri(m.Groups[1].Value));
                _ = Task.Run(daemon.DrainAsync);
                if (waitForReady)
                {
                    await daemon.WaitForReadyAsync(readiness, timeout.Token);
                }

                return daemon;
            }
        }

        throw new InvalidOperationException("the daemon exited before it listened: " + string.Join('\n', seen));
    }

    private async Task WaitForReadyAsync(Func<HttpClient>? readiness, CancellationToken token)
    {
        using var http = readiness?.Invoke() ?? new HttpClient();
        http.BaseAddress = BaseUrl;
        while (true)
        {
            using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative), token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            if (Process.HasExited)
            {
                throw new InvalidOperationException("the daemon exited before its first poll succeeded: " + string.Join('\n', Output));
            }

            await Task.Delay(50, token);
        }
    }

    private async Task DrainAsync()
    {
        while (await Process.StandardOutput.ReadLineAsync() is { } line)
        {
            lock (_output)
            {
                _output.Add(line);
            }
        }
    }

    [GeneratedRegex(@"listening on (https?://[^,: ]+:\d+)")]
    private static partial Regex ListeningLine();
}
