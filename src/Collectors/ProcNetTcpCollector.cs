using System.Buffers;
using Microsoft.Win32.SafeHandles;
using SockWatch.Collectors.Interop;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors;

/// <summary>
/// Reads /proc/net/tcp and /proc/net/tcp6 under a proc root, streamed through one pooled
/// buffer: no ReadAllText, no Split, no string per line. The two files stand alone: a host
/// without IPv6 has no tcp6, which is normal.
/// </summary>
public sealed class ProcNetTcpCollector : ISocketCollector
{
    public const string CollectorName = "proc";

    /// <summary>
    /// The kernel hands out at most about one page of whole lines per read() whatever the
    /// buffer size (27 IPv4 lines, 4050 bytes), so a large buffer saves nothing; 64 KiB holds
    /// many reads' worth for regular files (fixtures) and any line up to the length limit.
    /// </summary>
    private const int BufferLength = 64 * 1024;

    /// <summary>Sockets seen in this collection; kept across collections so its capacity is reused.</summary>
    private readonly HashSet<SocketKey> _seen = [];
    private readonly string _tcpPath;
    private readonly string _tcp6Path;
    private readonly int _clockTicks;

    /// <param name="procRoot">The proc mount (<c>/proc</c>, <c>/host/proc</c>, or a fixture tree).</param>
    /// <param name="netDirectory">The net directory under the root: <c>net</c>, or <c>thread-self/net</c> in a thread that entered another namespace.</param>
    public ProcNetTcpCollector(string procRoot = "/proc", string netDirectory = "net")
    {
        ArgumentException.ThrowIfNullOrEmpty(procRoot);
        ProcRoot = procRoot;
        _tcpPath = Path.Join(procRoot, netDirectory, "tcp");
        _tcp6Path = Path.Join(procRoot, netDirectory, "tcp6");
        _clockTicks = ClockTicksPerSecond();
    }

    public string Name => CollectorName;

    public string ProcRoot { get; }

    /// <summary>
    /// Appends the current sockets after the rows <paramref name="table"/> already holds; a
    /// family that fails takes back what it appended, so on failure the table is as it was.
    /// </summary>
    public CollectionStats Append(SocketTable table, CollectRequest request)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(request);

        var missing = new List<SocketFamily>(0);
        var failures = new List<string>(0);
        var malformed = 0;
        var duplicates = 0;
        _seen.Clear();
        var reads = 0;
        var requested = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferLength);
        try
        {
            if (request.IncludeIpv4)
            {
                requested++;
                ReadFamily(_tcpPath, SocketFamily.Inet);
            }

            if (request.IncludeIpv6)
            {
                requested++;
                ReadFamily(_tcp6Path, SocketFamily.Inet6);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (requested > 0 && missing.Count + failures.Count == requested)
        {
            var why = failures.Count > 0 ? string.Join("; ", failures) : $"{_tcpPath} and {_tcp6Path} do not exist";
            throw new CollectorException(CollectorName, CollectorErrorKind.Unreadable, 0, why);
        }

        return new CollectionStats
        {
            Collector = CollectorName,
            Malformed = malformed,
            Duplicates = duplicates,
            Reads = reads,
            MissingFamilies = missing,
            FamilyErrors = failures,
        };

        void ReadFamily(string path, SocketFamily family)
        {
            var start = table.Count;
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var (m, r) = Parse(handle, buffer, family, request.StateMask, _clockTicks, table);
                malformed += m;
                duplicates += RemoveDuplicates(table, start);
                reads += r;
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                table.Truncate(start);
                missing.Add(family);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // One family failing never hides the other.
                table.Truncate(start);
                failures.Add($"{path}: {e.Message}");
            }
        }
    }

    /// <summary>Streams one file through <paramref name="buffer"/>, line by line.</summary>
    internal static (int Malformed, int Reads) Parse(
        SafeFileHandle handle, byte[] buffer, SocketFamily family, uint stateMask, int clockTicks, SocketTable table)
    {
        var littleEndian = BitConverter.IsLittleEndian;
        var malformed = 0;
        var reads = 0;
        long fileOffset = 0;
        var filled = 0;          // bytes of buffer holding unconsumed data
        var skippingLong = false; // inside a line longer than the buffer: drop until its newline
        var first = true;

        while (true)
        {
            var n = RandomAccess.Read(handle, buffer.AsSpan(filled), fileOffset);
            reads++;
            var atEnd = n == 0;
            fileOffset += n;
            filled += n;

            var data = buffer.AsSpan(0, filled);
            var consumed = 0;
            while (true)
            {
                var rest = data[consumed..];
                var newline = rest.IndexOf((byte)'\n');
                ReadOnlySpan<byte> line;
                if (newline >= 0)
                {
                    line = rest[..newline];
                    consumed += newline + 1;
                }
                else if (atEnd && !rest.IsEmpty)
                {
                    line = rest; // last line without a newline: a truncated file
                    consumed += rest.Length;
                }
                else
                {
                    break;
                }

                if (skippingLong)
                {
                    skippingLong = false;
                    continue;
                }

                HandleLine(line);
            }

            if (atEnd)
            {
                return (malformed, reads);
            }

            // Move the partial line to the front; a partial line that fills the whole buffer is
            // longer than any kernel line: count it once and skip to its end.
            var leftover = filled - consumed;
            if (leftover == buffer.Length)
            {
                if (!skippingLong)
                {
                    malformed++;
                }

                skippingLong = true;
                filled = 0;
            }
            else
            {
                buffer.AsSpan(consumed, leftover).CopyTo(buffer);
                filled = leftover;
            }
        }

        void HandleLine(ReadOnlySpan<byte> line)
        {
            if (first)
            {
                first = false;
                if (ProcNetTcpParser.IsHeader(line))
                {
                    return;
                }
            }

            if (line.Trim((byte)' ').IsEmpty)
            {
                return;
            }

            ref var record = ref table.Append();
            if (!ProcNetTcpParser.TryParseLine(line, family, littleEndian, clockTicks, ref record))
            {
                table.RemoveLast();
                malformed++;
                return;
            }

            // /proc has no state filter: everything is read, unwanted states dropped here.
            if (!TcpStateMask.Contains(stateMask, record.State))
            {
                table.RemoveLast();
            }
        }
    }

    /// <summary>
    /// The file is not a snapshot: the kernel resumes each read() by hash bucket and offset, so
    /// sockets that come and go meanwhile can make it print an entry twice. A four-tuple is
    /// unique in the established hash, and listeners sharing a port (SO_REUSEPORT) differ by
    /// inode, so (family, four-tuple, inode) identifies a socket: the first report is kept.
    /// </summary>
    private int RemoveDuplicates(SocketTable table, int start)
    {
        var records = table.AsSpan();
        var write = start;
        for (var read = start; read < records.Length; read++)
        {
            if (!_seen.Add(SocketKey.Of(in records[read])))
            {
                continue;
            }

            if (write != read)
            {
                records[write] = records[read];
            }

            write++;
        }

        table.Truncate(write);
        return records.Length - write;
    }

    private static int ClockTicksPerSecond()
    {
        var ticks = Libc.SysConf(Libc.Sysconf._SC_CLK_TCK);
        return ticks is > 0 and < 100_000 ? (int)ticks : 100;
    }

    public void Dispose()
    {
    }
}
