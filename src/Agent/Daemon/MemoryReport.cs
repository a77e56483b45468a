using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// A hidden diagnostic, on when SOCKWATCH_DEBUG_MEMORY=1: once after every poll (seen within a
/// second of its publication, so after the collection that follows it), one Debug line with the
/// GC's own numbers, for telling the managed heap apart from the rest of the RSS
/// (bench/results/2026-12-07-memory-aot.md). Off, it is not even registered.
/// </summary>
internal sealed partial class MemoryReport(PollResultStore store, ILogger<MemoryReport> logger, TimeProvider time) : BackgroundService
{
    public const string Variable = "SOCKWATCH_DEBUG_MEMORY";

    public static bool Enabled(Func<string, string?> environment) => environment(Variable) == "1";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        var seen = store.Version;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (store.Version == seen)
                {
                    continue;
                }

                seen = store.Version;
                if (!logger.IsEnabled(LogLevel.Debug))
                {
                    continue;
                }

                var info = GC.GetGCMemoryInfo(GCKind.Any);
                var g = info.GenerationInfo;
                var managed = GC.GetTotalMemory(forceFullCollection: false);
                var workingSet = Environment.WorkingSet;
                var threads = ThreadPool.ThreadCount;
                LogMemory(
                    logger, managed / 1024, info.HeapSizeBytes / 1024, info.FragmentedBytes / 1024, info.TotalCommittedBytes / 1024,
                    g[0].SizeAfterBytes / 1024, g[1].SizeAfterBytes / 1024, g[2].SizeAfterBytes / 1024, g[3].SizeAfterBytes / 1024, g[4].SizeAfterBytes / 1024,
                    info.Index, workingSet / 1024, threads);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    [LoggerMessage(EventId = 3401, Level = LogLevel.Debug, Message = "memory after poll: managed {TotalKiB} KiB; last GC: heap {HeapKiB}, fragmented {FragmentedKiB}, committed {CommittedKiB}, gen0 {Gen0KiB}, gen1 {Gen1KiB}, gen2 {Gen2KiB}, loh {LohKiB}, poh {PohKiB} (GC #{Index}); working set {WorkingSetKiB} KiB; pool threads {PoolThreads}")]
    private static partial void LogMemory(
        ILogger logger, long totalKiB, long heapKiB, long fragmentedKiB, long committedKiB, long gen0KiB, long gen1KiB, long gen2KiB, long lohKiB, long pohKiB, long index, long workingSetKiB, int poolThreads);
}
