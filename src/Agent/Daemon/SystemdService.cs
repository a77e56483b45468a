using System.Globalization;
using Microsoft.Extensions.Hosting;
using SockWatch.Agent.Configuration;
using SockWatch.Core;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// Talks to systemd while the daemon runs: READY=1 once the first poll succeeded, STATUS= with a
/// one-line summary after each poll, WATCHDOG=1 at half of WATCHDOG_USEC only while polls
/// succeed (a bare timer would prove nothing), and STOPPING=1 when the host stops. Does
/// nothing without NOTIFY_SOCKET.
/// </summary>
internal sealed class SystemdService(SystemdConnection connection, PollResultStore store, SockWatchOptions options, TimeProvider time, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    /// <summary>How often the service looks at the store for news.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (connection.Notifier is not { } notifier)
        {
            return;
        }

        using var registration = lifetime.ApplicationStopping.Register(() => notifier.Stopping(string.Create(CultureInfo.InvariantCulture, $"stopping after {store.Polls} polls")));
        var ready = false;
        long reported = -1;
        var lastPing = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(Tick, time);
        try
        {
            // READY=1 the moment both hold, the first poll and the endpoint listening, rather than
            // at the next tick: a tick is 200 ms, two fifths of the start-up target
            // (bench/results/2026-12-08-daemon-attribution.md).
            await Task.WhenAll(store.FirstPublished, Started(lifetime)).WaitAsync(stoppingToken).ConfigureAwait(false);
            if (store.Latest is { } first)
            {
                reported = store.Polls;
                notifier.Ready(Summary(first, store.Failures));
                ready = true;
            }

            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var latest = store.Latest;
                if (latest is not null && store.Polls != reported)
                {
                    reported = store.Polls;
                    var status = Summary(latest, store.Failures);
                    // READY=1 needs both: the first poll, and the HTTP endpoint listening.
                    if (!ready && lifetime.ApplicationStarted.IsCancellationRequested)
                    {
                        notifier.Ready(status);
                        ready = true;
                    }
                    else if (ready)
                    {
                        notifier.Status(status);
                    }
                    else
                    {
                        reported = -1; // not started yet: report this poll again next tick
                    }
                }

                var now = time.GetUtcNow();
                if (ready && notifier.WatchdogInterval is { } every && now - lastPing >= every && Healthy(latest, now))
                {
                    notifier.Watchdog();
                    lastPing = now;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>Completes when the host has started (Kestrel listens).</summary>
    private static async Task Started(IHostApplicationLifetime lifetime)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.ConfigureAwait(false);
        }
    }

    /// <summary>The last poll succeeded, and recently: within three poll intervals.</summary>
    private bool Healthy(PollResult? latest, DateTimeOffset now) =>
        latest is not null && !store.LastAttemptFailed && now - latest.At <= options.PollInterval * 3;

    internal static string Summary(PollResult r, long failures) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Sockets} sockets ({r.CountByState[(int)TcpState.CloseWait]} close_wait, {r.CountByState[(int)TcpState.TimeWait]} time_wait) via {r.Collector}; {r.Findings.Count} findings; poll {r.Duration.TotalMilliseconds:0} ms; {failures} failed polls");
}
