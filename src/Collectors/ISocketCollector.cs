using SockWatch.Core;

namespace SockWatch.Collectors;

/// <summary>What to collect.</summary>
public sealed record CollectRequest
{
    /// <summary>States to report, as a mask of 1 &lt;&lt; state. The netlink collector hands it to the kernel.</summary>
    public uint StateMask { get; init; } = TcpStateMask.All;

    /// <summary>Ask the kernel for tcp_info (INET_DIAG_INFO) for every socket; netlink only.</summary>
    public bool IncludeTcpInfo { get; init; }

    /// <summary>
    /// Ask for tcp_info for sockets in these states only (a mask of 1 &lt;&lt; state); netlink
    /// only. The dump is split in two: these states with INET_DIAG_INFO, the rest without, so
    /// the kernel copies tcp_info (280 bytes a socket on 6.18) only where it is used.
    /// </summary>
    public uint TcpInfoStateMask { get; init; }

    public bool IncludeIpv4 { get; init; } = true;

    public bool IncludeIpv6 { get; init; } = true;

    public static CollectRequest All { get; } = new();
}

/// <summary>What one collection saw besides the records.</summary>
public sealed record CollectionStats
{
    public required string Collector { get; init; }

    /// <summary>Records the kernel sent that could not be decoded, counted and skipped.</summary>
    public int Malformed { get; init; }

    /// <summary>Records seen twice in one dump (a dump is not atomic) and dropped.</summary>
    public int Duplicates { get; init; }

    /// <summary>Families that were not available (no IPv6 on this host): normal, not an error.</summary>
    public IReadOnlyList<SocketFamily> MissingFamilies { get; init; } = [];

    /// <summary>Families whose table exists but could not be read, with the reason; the other family still counts.</summary>
    public IReadOnlyList<string> FamilyErrors { get; init; } = [];

    /// <summary>The kernel flagged the dump as interrupted (NLM_F_DUMP_INTR) even after retries.</summary>
    public bool Interrupted { get; init; }

    /// <summary>Dump datagrams or file reads.</summary>
    public int Reads { get; init; }
}

/// <summary>
/// One source of the kernel's TCP socket table. <see cref="Append"/> is the one method a
/// collector implements: the rows of one poll's namespaces go into one table, each namespace a
/// segment of it, and a one-shot read is <see cref="SocketCollectors.Collect"/> (clear, then append).
/// </summary>
public interface ISocketCollector : IDisposable
{
    /// <summary>The collector's name, as in <c>--collector</c> and <c>sockwatch_collector_info</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Appends the current sockets after the rows <paramref name="table"/> already holds. On
    /// failure the table is left as it was.
    /// </summary>
    /// <exception cref="CollectorException">The table could not be read.</exception>
    CollectionStats Append(SocketTable table, CollectRequest request);

    /// <summary>
    /// Lets go of buffers that only a collection in progress needs (a daemon idle between
    /// polls); the next <see cref="Append"/> makes them again. Open sockets stay open.
    /// </summary>
    void ReleaseScratch()
    {
    }
}

/// <summary>What every collector can do through <see cref="ISocketCollector.Append"/>.</summary>
public static class SocketCollectors
{
    /// <summary>Clears <paramref name="table"/> and fills it with the current sockets.</summary>
    /// <exception cref="CollectorException">The table could not be read.</exception>
    public static CollectionStats Collect(this ISocketCollector collector, SocketTable table, CollectRequest request)
    {
        ArgumentNullException.ThrowIfNull(collector);
        ArgumentNullException.ThrowIfNull(table);
        table.Clear();
        return collector.Append(table, request);
    }
}
