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

    /// <param name="kind">Which collector.</param>
    /// <param name="procRoot">Where proc is mounted.</param>
    /// <param name="logger">For the fallback's one warning.</param>
    /// <param name="netDirectory">The /proc tables' directory under the root: <c>net</c> for the namespace of this process, <c>thread-self/net</c> for a thread that entered another one.</param>
    public static ISocketCollector Create(CollectorKind kind, string procRoot, ILogger logger, string netDirectory = "net") => kind switch
    {
        CollectorKind.Netlink => new NetlinkCollector(),
        CollectorKind.Proc => new ProcNetTcpCollector(procRoot, netDirectory),
        _ => new AutoCollector(procRoot, logger, netDirectory),
    };
}

/// <summary>
/// netlink first; when sock_diag cannot be used, /proc from then on, with one log line that
/// says why. <see cref="Name"/> names the collector actually in use.
/// </summary>
public sealed partial class AutoCollector : ISocketCollector
{
    private readonly string _procRoot;
    private readonly string _netDirectory;
    private readonly ILogger _logger;
    private ISocketCollector _current;
    private bool _fellBack;

    public AutoCollector(string procRoot, ILogger logger, string netDirectory = "net")
        : this(procRoot, logger, new NetlinkCollector(), netDirectory)
    {
    }

    /// <summary>For tests: any primary collector in netlink's place.</summary>
    internal AutoCollector(string procRoot, ILogger logger, ISocketCollector primary, string netDirectory = "net")
    {
        _procRoot = procRoot;
        _netDirectory = netDirectory;
        _logger = logger;
        _current = primary;
    }

    public string Name => _current.Name;

    /// <summary>Why the collector fell back to /proc, or null while netlink is in use.</summary>
    public string? FallbackReason { get; private set; }

    public CollectionStats Append(SocketTable table, CollectRequest request)
    {
        if (_fellBack)
        {
            return _current.Append(table, request);
        }

        try
        {
            return _current.Append(table, request);
        }
        catch (CollectorException e) when (e.Kind is CollectorErrorKind.Syscall or CollectorErrorKind.DumpRefused)
        {
            // A socket that cannot be opened, or a dump the kernel will not start (no
            // inet_diag module, EPERM under a seccomp filter): /proc has the same table.
            FallbackReason = e.Message;
            LogFallback(_logger, e.Message);
            _current.Dispose();
            _current = new ProcNetTcpCollector(_procRoot, _netDirectory);
            _fellBack = true;
            return _current.Append(table, request);
        }
    }

    public void ReleaseScratch() => _current.ReleaseScratch();

    public void Dispose() => _current.Dispose();

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "netlink sock_diag unavailable ({Reason}); falling back to /proc/net/tcp and /proc/net/tcp6")]
    private static partial void LogFallback(ILogger logger, string reason);
}
