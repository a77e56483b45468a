using Microsoft.Extensions.Logging;
using SockWatch.Core;

namespace SockWatch.Collectors;

/// <summary>The <c>--collector</c> choice.</summary>
public enum CollectorKind
{
    Auto,
    Netlink,
    Proc,
}

public static class CollectorKinds
{
    public static IReadOnlyList<string> Names { get; } = ["auto", "netlink", "proc"];

    public static bool TryParse(string? text, out CollectorKind kind)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "auto":
                kind = CollectorKind.Auto;
                return true;
            case "netlink":
                kind = CollectorKind.Netlink;
                return true;
            case "proc":
                kind = CollectorKind.Proc;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    public static ISocketCollector Create(CollectorKind kind, string procRoot, ILogger logger) => kind switch
    {
        CollectorKind.Netlink => new NetlinkCollector(),
        CollectorKind.Proc => new ProcNetTcpCollector(procRoot),
        _ => new AutoCollector(procRoot, logger),
    };
}

/// <summary>
/// netlink first; when sock_diag cannot be used, /proc from then on, with one log line that
/// says why. <see cref="Name"/> names the collector actually in use.
/// </summary>
public sealed partial class AutoCollector : ISocketCollector
{
    private readonly string _procRoot;
    private readonly ILogger _logger;
    private ISocketCollector _current;
    private bool _fellBack;

    public AutoCollector(string procRoot, ILogger logger)
        : this(procRoot, logger, new NetlinkCollector())
    {
    }

    /// <summary>For tests: any primary collector in netlink's place.</summary>
    internal AutoCollector(string procRoot, ILogger logger, ISocketCollector primary)
    {
        _procRoot = procRoot;
        _logger = logger;
        _current = primary;
    }

    public string Name => _current.Name;

    /// <summary>Why the collector fell back to /proc, or null while netlink is in use.</summary>
    public string? FallbackReason { get; private set; }

    public CollectionStats Collect(SocketTable table, CollectRequest request)
    {
        if (_fellBack)
        {
            return _current.Collect(table, request);
        }

        try
        {
            return _current.Collect(table, request);
        }
        catch (CollectorException e) when (e.Kind is CollectorErrorKind.Syscall or CollectorErrorKind.DumpRefused)
        {
            // A socket that cannot be opened, or a dump the kernel will not start (no
            // inet_diag module, EPERM under a seccomp filter): /proc has the same table.
            FallbackReason = e.Message;
            LogFallback(_logger, e.Message);
            _current.Dispose();
            _current = new ProcNetTcpCollector(_procRoot);
            _fellBack = true;
            return _current.Collect(table, request);
        }
    }

    public void Dispose() => _current.Dispose();

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "netlink sock_diag unavailable ({Reason}); falling back to /proc/net/tcp and /proc/net/tcp6")]
    private static partial void LogFallback(ILogger logger, string reason);
}
