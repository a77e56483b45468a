using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SockWatch.Collectors.Interop;
using SockWatch.Core;
using L = SockWatch.Collectors.Interop.NetlinkLayout;

namespace SockWatch.Collectors;

/// <summary>
/// Reads the TCP socket table through netlink sock_diag. Both families come from one walk of
/// the kernel's TCP hash table: the legacy TCPDIAG_GETSOCK request, which the kernel answers
/// for AF_UNSPEC, with tcp_info asked for in the same walk when any state wants it. A walk
/// visits every socket of the table (on a host whose namespaces share one table, every
/// namespace's), so it is the cost to save; copying tcp_info out is cheaper than a second walk.
/// Where the kernel refuses the legacy request, it falls back to one SOCK_DIAG_BY_FAMILY dump
/// a family (AF_INET, then AF_INET6 on the same socket: a second dump before the first one's
/// NLMSG_DONE gets EBUSY), each split into the states with tcp_info and those without.
/// The state set goes to the kernel in idiag_states, so unwanted states are never copied out.
/// Not thread-safe: one collector per poll loop.
/// </summary>
public sealed class NetlinkCollector : ISocketCollector
{
    public const string CollectorName = "netlink";

    /// <summary>
    /// How often a family's dump is redone: after a truncated datagram (with a larger buffer)
    /// or when the kernel flags the dump as interrupted. TCP diag never sets NLM_F_DUMP_INTR on
    /// 6.x kernels, so this bounds a loop that should not happen rather than one that does.
    /// </summary>
    private const int MaxAttemptsPerFamily = 3;

    private readonly CookieSet _seenCookies = new();
    private NetlinkSocket? _socket;
    private byte[]? _buffer;
    private int _bufferLength;
    private int _lastCount;
    private uint _sequence;

    /// <summary>Whether the kernel has an AF_INET6 sock_diag handler; asked once, when first needed.</summary>
    private bool? _hasIpv6;

    public NetlinkCollector()
        : this(L.ReceiveBufferLength)
    {
    }

    /// <summary>For tests: a receive buffer too small for the kernel's datagrams exercises truncation.</summary>
    internal NetlinkCollector(int receiveBufferLength)
    {
        _bufferLength = receiveBufferLength;
    }

    /// <summary>How many times a family's dump was redone after a truncated datagram (over the collector's life).</summary>
    public int TruncationRetries { get; private set; }

    /// <summary>How the last collection read the table: one walk for both families, or dumps by family.</summary>
    public bool LastCollectWasOneWalk { get; private set; }

    /// <summary>
    /// The kernel refused the legacy both-families request once: dump by family from then on.
    /// Tests set it to behave as such a kernel.
    /// </summary>
    internal bool LegacyRefused { get; set; }

    public string Name => CollectorName;

    /// <summary>Opens the netlink socket now, so that a missing sock_diag shows before the first poll.</summary>
    public void Open() => _socket ??= NetlinkSocket.Open();

    /// <summary>
    /// Appends the current sockets after the rows <paramref name="table"/> already holds (a
    /// table shared by the namespaces of one poll); on failure the table is left as it was.
    /// The receive buffer is taken from the shared pool for the collection and given back after
    /// it, so that many collectors used one after another share a few buffers.
    /// </summary>
    public CollectionStats Append(SocketTable table, CollectRequest request)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(request);
        var appendStart = table.Count;

        var mask = KernelStateMask(request.StateMask);
        var infoMask = request.IncludeTcpInfo ? mask : mask & request.TcpInfoStateMask;
        var plainMask = mask & ~infoMask;
        var total = default(NetlinkDumpStats);
        _seenCookies.Reset(ExpectedCount(table, appendStart));
        var missing = new List<SocketFamily>(0);
        _buffer = ArrayPool<byte>.Shared.Rent(_bufferLength);
        try
        {
            Open();
            LastCollectWasOneWalk = false;
            if (request.IncludeIpv4 && request.IncludeIpv6 && !LegacyRefused
                && Dump(table, appendStart, DumpShape.BothFamilies, mask, infoMask != 0 ? L.ExtInfo : (byte)0, infoMask, ref total))
            {
                LastCollectWasOneWalk = true;
                if (!HasIpv6())
                {
                    missing.Add(SocketFamily.Inet6);
                }
            }
            else
            {
                if (request.IncludeIpv4)
                {
                    DumpFamily(table, appendStart, DumpShape.Inet, plainMask, infoMask, ref total);
                }

                // A host without IPv6 has no AF_INET6 handler: the dump is refused with ENOENT
                // or EAFNOSUPPORT. That is "no data", not a failure, and IPv4 stands on its own.
                if (request.IncludeIpv6 && !DumpFamily(table, appendStart, DumpShape.Inet6, plainMask, infoMask, ref total))
                {
                    missing.Add(SocketFamily.Inet6);
                }
            }
        }
        catch (CollectorException)
        {
            // The socket may hold the rest of a failed dump: start the next poll on a fresh one.
            _socket?.Dispose();
            _socket = null;
            table.Truncate(appendStart);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        _lastCount = table.Count - appendStart;
        return new CollectionStats
        {
            Collector = CollectorName,
            Malformed = total.Malformed,
            Duplicates = total.Duplicates,
            Interrupted = total.Interrupted,
            Reads = total.Datagrams,
            MissingFamilies = missing,
        };
    }

    /// <summary>
    /// The mask the kernel gets: bits 1 to 11 as requested (the kernel adds bit 12, request
    /// sockets, whenever bit 3 is set, and reports them as syn_recv). Bound-only sockets live in
    /// no hash a connection dump walks: bit 13 (TCP_BOUND_INACTIVE, Linux 6.8+; older kernels
    /// ignore it) makes the kernel walk the bind hash as well, which visits every bound socket
    /// and is the most expensive part of a 100,000-socket dump. So it is set only when close or
    /// bound_inactive is asked for by name, not for "every state": /proc never shows such
    /// sockets, and `ss -tan` does not ask for them either.
    /// </summary>
    internal static uint KernelStateMask(uint requested)
    {
        var mask = requested & 0x0FFEu;
        var explicitlyUnconnected = requested != TcpStateMask.All
            && (TcpStateMask.Contains(requested, TcpState.Close) || TcpStateMask.Contains(requested, TcpState.BoundInactive));
        if (explicitlyUnconnected)
        {
            mask |= TcpStateMask.Of(TcpState.BoundInactive);
        }

        return mask;
    }

    /// <summary>Builds a SOCK_DIAG_BY_FAMILY dump request (nlmsghdr + inet_diag_req_v2, 72 bytes).</summary>
    internal static void BuildRequest(Span<byte> request, byte family, uint stateMask, byte ext, uint sequence)
    {
        WriteDumpHeader(request, L.RequestLength, L.SOCK_DIAG_BY_FAMILY, sequence);
        var req = request[L.NlMsgHeaderLength..];
        req[0] = family;              // sdiag_family
        req[1] = L.IPPROTO_TCP;       // sdiag_protocol
        req[2] = ext;                 // idiag_ext
        MemoryMarshal.Write(req[4..], stateMask); // idiag_states
        // id: ports 0 (no filter; a nonzero dport would also hide listeners); cookie = NOCOOKIE.
        BinaryPrimitives.WriteUInt32LittleEndian(req[(8 + 40)..], L.INET_DIAG_NOCOOKIE);
        BinaryPrimitives.WriteUInt32LittleEndian(req[(8 + 44)..], L.INET_DIAG_NOCOOKIE);
    }

    /// <summary>
    /// Builds a TCPDIAG_GETSOCK dump request (nlmsghdr + the legacy inet_diag_req, 76 bytes):
    /// the kernel forces AF_UNSPEC, so both families come from one walk.
    /// </summary>
    internal static void BuildLegacyRequest(Span<byte> request, uint stateMask, byte ext, uint sequence)
    {
        WriteDumpHeader(request, L.LegacyRequestLength, L.TCPDIAG_GETSOCK, sequence);
        var req = request[L.NlMsgHeaderLength..];
        req[0] = 0;                   // idiag_family: AF_UNSPEC (the kernel sets it anyway)
        req[3] = ext;                 // idiag_ext
        // id at 4: no ports, no addresses, no interface; cookie = NOCOOKIE.
        BinaryPrimitives.WriteUInt32LittleEndian(req[(4 + 40)..], L.INET_DIAG_NOCOOKIE);
        BinaryPrimitives.WriteUInt32LittleEndian(req[(4 + 44)..], L.INET_DIAG_NOCOOKIE);
        MemoryMarshal.Write(req[52..], stateMask); // idiag_states; idiag_dbs at 56 stays 0
    }

    /// <summary>Zeroes a request of <paramref name="length"/> bytes and writes its nlmsghdr for a dump.</summary>
    private static void WriteDumpHeader(Span<byte> request, int length, ushort type, uint sequence)
    {
        request[..length].Clear();
        MemoryMarshal.Write(request, (uint)length);                                // nlmsg_len
        MemoryMarshal.Write(request[4..], type);                                   // nlmsg_type
        MemoryMarshal.Write(request[6..], (ushort)(L.NLM_F_REQUEST | L.NLM_F_DUMP)); // 0x301
        MemoryMarshal.Write(request[8..], sequence);                               // nlmsg_seq
        // nlmsg_pid stays 0: the kernel fills in our port id.
    }

    /// <summary>Which request a dump sends.</summary>
    private enum DumpShape
    {
        /// <summary>TCPDIAG_GETSOCK: both families in one walk.</summary>
        BothFamilies,

        /// <summary>SOCK_DIAG_BY_FAMILY for AF_INET.</summary>
        Inet,

        /// <summary>SOCK_DIAG_BY_FAMILY for AF_INET6.</summary>
        Inet6,
    }

    /// <summary>One family: the states without tcp_info, then those with it.</summary>
    /// <returns>False when the kernel has no handler for the family (no IPv6 on this host).</returns>
    private bool DumpFamily(SocketTable table, int appendStart, DumpShape shape, uint plainMask, uint infoMask, ref NetlinkDumpStats total)
    {
        if (plainMask != 0 && !Dump(table, appendStart, shape, plainMask, 0, infoMask, ref total))
        {
            return false;
        }

        return infoMask == 0 || Dump(table, appendStart, shape, infoMask, L.ExtInfo, infoMask, ref total);
    }

    /// <summary>
    /// How many cookies to make room for: a table filled from empty was sized for the sockets to
    /// come; an append (one namespace of many in one table) expects about what this collector
    /// saw last time, and the set grows if there are more.
    /// </summary>
    private int ExpectedCount(SocketTable table, int appendStart) =>
        Math.Max(1024, appendStart == 0 ? Math.Max(table.Capacity, _lastCount) : _lastCount + (_lastCount / 8));

    /// <summary>
    /// Whether the kernel has an AF_INET6 handler: a dump for no state at all, which the kernel
    /// answers at once (it walks nothing) or refuses when IPv6 is absent. Asked once.
    /// </summary>
    private bool HasIpv6()
    {
        if (_hasIpv6 is { } known)
        {
            return known;
        }

        var ignored = default(NetlinkDumpStats);
        var probe = new SocketTable(1);
        _hasIpv6 = Dump(probe, 0, DumpShape.Inet6, 0, 0, 0, ref ignored);
        return _hasIpv6.Value;
    }

    /// <returns>
    /// False when the kernel refused the request for want of a handler: the legacy request on
    /// a kernel without it (remembered), or AF_INET6 on a host without IPv6.
    /// </returns>
    private bool Dump(SocketTable table, int appendStart, DumpShape shape, uint mask, byte ext, uint keepInfo, ref NetlinkDumpStats total)
    {
        Span<byte> request = stackalloc byte[L.LegacyRequestLength];
        var start = table.Count;
        for (var attempt = 1; ; attempt++)
        {
            if (attempt > 1)
            {
                // Redoing this dump: forget the cookies its failed attempt added, and keep those
                // of what this collection appended before it (the other family's dump).
                table.Truncate(start);
                _seenCookies.Reset(ExpectedCount(table, appendStart));
                foreach (ref readonly var r in table.Records[appendStart..])
                {
                    _seenCookies.Add(r.Cookie);
                }
            }
            var sequence = ++_sequence;
            if (shape == DumpShape.BothFamilies)
            {
                BuildLegacyRequest(request, mask, ext, sequence);
            }
            else
            {
                BuildRequest(request, (byte)(shape == DumpShape.Inet ? Libc.AddressFamilies.AF_INET : Libc.AddressFamilies.AF_INET6), mask, ext, sequence);
            }

            Open();
            var socket = _socket!;
            socket.Send(request[..(shape == DumpShape.BothFamilies ? L.LegacyRequestLength : L.RequestLength)]);

            var stats = default(NetlinkDumpStats);
            var truncatedTo = 0;
            var buffer = _buffer!;
            try
            {
                while (true)
                {
                    var n = socket.Receive(buffer);
                    if (n > buffer.Length)
                    {
                        // The datagram's tail was discarded, and NLMSG_DONE may have been in it, so
                        // the rest of this dump cannot be followed: drop the socket (and the dump
                        // parked on it) and redo the family on a fresh one with a buffer that fits.
                        truncatedTo = n;
                        socket.Dispose();
                        _socket = null;
                        break;
                    }

                    if (NetlinkDiagParser.ParseDatagram(buffer.AsSpan(0, n), sequence, table, ref stats, _seenCookies, keepInfo) == DumpProgress.Done)
                    {
                        break;
                    }
                }
            }
            catch (CollectorException e) when (e.Kind == CollectorErrorKind.DumpRefused
                                               && (shape == DumpShape.BothFamilies
                                                   || (shape == DumpShape.Inet6 && e.Errno is Libc.Errno.ENOENT or Libc.Errno.EAFNOSUPPORT)))
            {
                // A refusal is an NLMSG_ERROR in place of the dump: nothing is left on the socket.
                table.Truncate(start);
                if (shape == DumpShape.BothFamilies)
                {
                    LegacyRefused = true;
                }

                return false;
            }

            total.Datagrams += stats.Datagrams;
            total.Foreign += stats.Foreign;
            if (truncatedTo > 0)
            {
                if (attempt >= MaxAttemptsPerFamily)
                {
                    throw new CollectorException(CollectorName, CollectorErrorKind.Truncated, 0,
                        $"sock_diag dump: a datagram of {truncatedTo} bytes did not fit a {buffer.Length}-byte buffer");
                }

                _bufferLength = L.Align(truncatedTo) + 4096;
                ArrayPool<byte>.Shared.Return(_buffer!);
                _buffer = ArrayPool<byte>.Shared.Rent(_bufferLength);
                TruncationRetries++;
                continue;
            }

            if (stats.Interrupted && attempt < MaxAttemptsPerFamily)
            {
                continue;
            }

            total.Interrupted |= stats.Interrupted;
            total.Messages += stats.Messages;
            total.Malformed += stats.Malformed;
            total.Duplicates += stats.Duplicates;
            return true;
        }
    }

    /// <summary>
    /// The cookie set (16 bytes a socket, 2 MiB at 100,000) is let go: made again by the next
    /// collection, it costs that collection about a millisecond of zeroing and page faults, where
    /// kept it stayed in the idle daemon's RSS for the whole interval
    /// (bench/results/2026-12-08-daemon-attribution.md). The receive buffer is the shared pool's
    /// between collections, and the netlink socket stays open.
    /// </summary>
    public void ReleaseScratch() => _seenCookies.Release();

    public void Dispose()
    {
        _socket?.Dispose();
        _socket = null;
    }
}
