namespace SockWatch.Core.Detection;

/// <summary>A port range, inclusive at both ends.</summary>
public readonly record struct PortRange(int Low, int High)
{
    public int Size => High >= Low ? High - Low + 1 : 0;

    public bool Contains(int port) => port >= Low && port <= High;
}

/// <summary>
/// Facts about the polled network namespace that the detectors weigh sockets against, read
/// from /proc/sys/net and /proc/net/netstat of that namespace. A fact that could not be read is
/// null, and the detectors that need it say nothing rather than something wrong.
/// </summary>
public sealed record NamespaceFacts
{
    /// <summary>net.ipv4.ip_local_port_range.</summary>
    public PortRange? EphemeralPorts { get; init; }

    /// <summary>net.ipv4.ip_local_reserved_ports, as ranges (excluded from the ephemeral range).</summary>
    public IReadOnlyList<PortRange> ReservedPorts { get; init; } = [];

    /// <summary>
    /// Whether <paramref name="port"/> is reserved (never handed out by connect()). Asked per
    /// client socket, twice a poll: an indexed walk, where a foreach over the interface would
    /// allocate an enumerator each time.
    /// </summary>
    public bool IsReservedPort(ushort port)
    {
        for (var i = 0; i < ReservedPorts.Count; i++)
        {
            if (ReservedPorts[i].Contains(port))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>net.ipv4.tcp_max_tw_buckets.</summary>
    public long? MaxTimeWaitBuckets { get; init; }

    /// <summary>net.ipv4.tcp_fin_timeout, seconds.</summary>
    public int? FinTimeoutSeconds { get; init; }

    /// <summary>TcpExt counters from /proc/net/netstat by name (TCPTimeWaitOverflow, ListenOverflows, ListenDrops, ...), cumulative.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    /// <summary>Ephemeral ports actually usable: the range less the reserved ports inside it.</summary>
    public int? UsableEphemeralPorts
    {
        get
        {
            if (EphemeralPorts is not { } range)
            {
                return null;
            }

            var size = range.Size;
            foreach (var reserved in ReservedPorts)
            {
                var low = Math.Max(reserved.Low, range.Low);
                var high = Math.Min(reserved.High, range.High);
                if (high >= low)
                {
                    size -= high - low + 1;
                }
            }

            return Math.Max(size, 0);
        }
    }
}

/// <summary>Open descriptors of a process against its RLIMIT_NOFILE soft limit (from /proc/PID/limits).</summary>
public readonly record struct DescriptorUsage(long Open, long? Limit);

/// <summary>
/// Everything one poll hands the tracker and the detectors. Arrays are parallel to
/// <see cref="Sockets"/>; <see cref="Owners"/> entries are null for unowned sockets.
/// </summary>
public sealed record PollInput
{
    public required DateTimeOffset At { get; init; }

    public required ReadOnlyMemory<SocketRecord> Sockets { get; init; }

    /// <summary>Owner of each socket (null when unowned), parallel to <see cref="Sockets"/>; empty when owners were not resolved.</summary>
    public IReadOnlyList<SocketOwner?> Owners { get; init; } = [];

    public NamespaceFacts Facts { get; init; } = new();

    /// <summary>Descriptor use of the processes that own close_wait sockets, by pid.</summary>
    public IReadOnlyDictionary<int, DescriptorUsage> Descriptors { get; init; } = new Dictionary<int, DescriptorUsage>();

    /// <summary>
    /// When the kernel tracer saw it, the time each socket now in close_wait entered it (the
    /// peer's FIN), by socket cookie: the tracker takes it as exact instead of what the polls
    /// can prove. Empty without tracing; a socket it does not name keeps the polls' bound.
    /// </summary>
    public IReadOnlyDictionary<ulong, DateTimeOffset> CloseWaitEntries { get; init; } = new Dictionary<ulong, DateTimeOffset>();

    public SocketOwner? OwnerAt(int index) => index < Owners.Count ? Owners[index] : null;
}
