using System.Runtime.InteropServices;

namespace SockWatch.Collectors;

/// <summary>What went wrong with a kernel socket table, by kind, so callers and tests can tell them apart.</summary>
public enum CollectorErrorKind
{
    /// <summary>A syscall failed (socket, bind, sendto, recv); <see cref="CollectorException.Errno"/> says why.</summary>
    Syscall,

    /// <summary>The kernel refused the dump with NLMSG_ERROR (the dump did not start).</summary>
    DumpRefused,

    /// <summary>The dump ended with a negative errno in NLMSG_DONE (it failed midway).</summary>
    DumpFailed,

    /// <summary>A datagram was larger than the receive buffer even after the dump was redone.</summary>
    Truncated,

    /// <summary>The kernel did not answer within the receive timeout.</summary>
    Timeout,

    /// <summary>A socket table file could not be read at all.</summary>
    Unreadable,
}

/// <summary>A socket table could not be read. Malformed records are counted, never thrown.</summary>
public class CollectorException : Exception
{
    public CollectorException(string collector, CollectorErrorKind kind, int errno, string message, Exception? inner = null)
        : base(message, inner)
    {
        Collector = collector;
        Kind = kind;
        Errno = errno;
    }

    public string Collector { get; }

    public CollectorErrorKind Kind { get; }

    /// <summary>The positive errno, or 0 when none applies.</summary>
    public int Errno { get; }

    /// <summary>A short reason for a metric label: the errno name where there is one, else the kind.</summary>
    public string Reason => Errno != 0 ? ErrnoNames.Name(Errno).ToLowerInvariant() : Kind.ToString().ToLowerInvariant();

    internal static string Describe(int errno) =>
        errno == 0 ? "no errno" : $"{ErrnoNames.Name(errno)}: {Marshal.GetPInvokeErrorMessage(errno)}";
}

internal static class ErrnoNames
{
    public static string Name(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        22 => "EINVAL",
        24 => "EMFILE",
        71 => "EPROTO",
        93 => "EPROTONOSUPPORT",
        94 => "ESOCKTNOSUPPORT",
        95 => "EOPNOTSUPP",
        97 => "EAFNOSUPPORT",
        105 => "ENOBUFS",
        _ => "E" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
