using Microsoft.Extensions.Logging;

namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// The accounting of one collection across namespaces: which were read (a segment each), which
/// went away between discovery and entry (expected), which setns refused, which failed and
/// why, and how many of those dumped walked the host's shared table. It says once in the log
/// what an operator can act on (refused namespaces, many namespaces sharing the host's table)
/// and every time what failed.
/// </summary>
internal sealed partial class NamespaceAccounting(ILogger logger)
{
    private bool _deniedLogged;
    private bool _sharedLogged;

    /// <summary>
    /// How many dumped namespaces must share the host's table before the cost is worth a word in
    /// the log (once): below that, their extra walks of the host's table cost little. Tests lower it.
    /// </summary>
    public int SharedTableAdvisoryThreshold { get; set; } = 16;

    /// <param name="segments">The segments read so far (this process's namespace); the others' are added.</param>
    /// <param name="others">The other namespaces, in the order they were entered.</param>
    /// <param name="entries">How entering each went.</param>
    /// <param name="results">How reading each went, once entered.</param>
    /// <param name="sharesHostTable">Whether a namespace's sockets live in the host's TCP table.</param>
    public NamespaceCollection Tally(
        List<NamespaceSegment> segments,
        IReadOnlyList<NetworkNamespace> others,
        IReadOnlyList<EntryFailure> entries,
        IReadOnlyList<NamespaceCollector.Other.Result> results,
        Func<NetworkNamespace, bool> sharesHostTable)
    {
        int vanished = 0, denied = 0, sharing = 0;
        var failed = new List<string>();
        for (var i = 0; i < others.Count; i++)
        {
            switch (entries[i])
            {
                case EntryFailure.Vanished:
                    vanished++;
                    continue;
                case EntryFailure.Denied:
                    denied++;
                    continue;
            }

            var result = results[i];
            if (result.Stats is not { } stats)
            {
                failed.Add($"{others[i].Name}: {result.Error}");
                LogNamespaceFailed(logger, others[i].Name, result.Error ?? "");
                continue;
            }

            segments.Add(new NamespaceSegment(others[i], result.Start, result.Count, stats, result.Facts ?? new()) { Read = result.Read });
            if (result.Read == NamespaceRead.Dumped && sharesHostTable(others[i]))
            {
                sharing++;
            }
        }

        if (denied > 0 && !_deniedLogged)
        {
            _deniedLogged = true;
            LogDenied(logger, denied);
        }

        if (sharing >= SharedTableAdvisoryThreshold && !_sharedLogged)
        {
            _sharedLogged = true;
            LogSharedTable(logger, sharing, segments.Count);
        }

        return new NamespaceCollection(segments, vanished, denied, failed) { SharingHostTable = sharing };
    }

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "{Count} network namespaces refused setns (owned by another user namespace?); they are not watched")]
    private static partial void LogDenied(ILogger logger, int count);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "network namespace {Name} could not be read: {Reason}")]
    private static partial void LogNamespaceFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "{Sharing} of the {Watched} watched network namespaces hold their sockets in the host's TCP socket table, not a table of their own (net.ipv4.tcp_ehash_entries is negative in them): to dump each, the kernel walks every socket of the host, so a poll costs about their number times the host's sockets. Namespaces made after net.ipv4.tcp_child_ehash_entries is set (1024, say) in the namespace that makes them get tables of their own.")]
    private static partial void LogSharedTable(ILogger logger, int sharing, int watched);
}
