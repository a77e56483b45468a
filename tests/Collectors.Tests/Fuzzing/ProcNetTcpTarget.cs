using Microsoft.Win32.SafeHandles;
using SockWatch.Core;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>
/// /proc/net/tcp and tcp6 files through ProcNetTcpCollector.Parse, the streaming reader the
/// collector uses (one pooled buffer, lines split across reads), and each line through
/// ProcNetTcpParser.TryParseLine. Files are built from scratch in the kernel's format
/// (tcp4_seq_show, tcp6_seq_show) with random fields, or taken from the recorded fixture trees,
/// then mutated.
/// </summary>
/// <remarks>
/// Oracle: no exception; accepted + filtered out + malformed == lines offered (lines other than
/// the header and blank lines); the streaming reader accepts exactly the lines TryParseLine accepts one by one,
/// with the same fields; whether a line parses does not depend on the host byte order or USER_HZ;
/// every record has the file's family and a state 1..13.
/// Variant: bit 0 the family (tcp, tcp6); bits 1-2 the read buffer's length; bits 3-5 USER_HZ;
/// bit 6 a state mask of four states rather than all.
/// </remarks>
internal sealed class ProcNetTcpTarget : GeneratedTarget
{
    /// <summary>The collector's 64 KiB, and smaller buffers that split lines across reads (still longer than a tcp6 line).</summary>
    private static readonly int[] BufferLengths = [64 * 1024, 64 * 1024, 4096, 256];

    private static readonly int[] ClockTicks = [100, 100, 1000, 1, 0, -1, int.MaxValue, int.MinValue];

    /// <summary>Some states only, as `snapshot --state` asks: /proc has no filter, so the reader drops the others.</summary>
    private static readonly uint SomeStates =
        TcpStateMask.Of([TcpState.Established, TcpState.TimeWait, TcpState.CloseWait, TcpState.Listen]);

    private static readonly string[] Tokens =
    [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", "sl", "sl\t",
        "0000000000000000", "0A", "01", "06", "0C", "0D", "FF", "00000000:0000", "0100007F:1F90",
        "0000000000000000FFFF00000100007F:1F90", "00000000:00000000", "00:00000000", "-1",
    ];

    private readonly List<byte[]> _tcp = FuzzSeeds.Named("tcp");
    private readonly List<byte[]> _tcp6 = FuzzSeeds.Named("tcp6");
    private readonly SafeFileHandle _file;
    private readonly byte[][] _buffers = [.. BufferLengths.Select(n => new byte[n])];
    private readonly SocketTable _table = new();
    private readonly SocketTable _lineByLine = new();

    public ProcNetTcpTarget()
        : base(new Mutator(FuzzSeeds.Named("tcp", "tcp6"), Tokens))
    {
        // tmpfs where there is one: the file is rewritten for every input.
        var directory = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var path = Path.Combine(directory, $"sockwatch-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.DeleteOnClose);
    }

    public override string Name => "proc-net-tcp";

    public override string Drives => "ProcNetTcpCollector.Parse, ProcNetTcpParser.TryParseLine";

    protected override int Variant(Random random) => random.Next(128);

    protected override List<byte> Seed(Random random, int variant) =>
        random.Next(8) == 0 ? Mutator.Seed(random) : [.. random.Pick((variant & 1) == 0 ? _tcp : _tcp6)];

    public override Verdict Run(FuzzInput input)
    {
        var data = input.Data;
        var family = (input.Variant & 1) == 0 ? SocketFamily.Inet : SocketFamily.Inet6;
        var buffer = _buffers[(input.Variant >> 1) & 3];
        var ticks = ClockTicks[(input.Variant >> 3) & 7];
        var mask = (input.Variant & 64) != 0 ? SomeStates : TcpStateMask.All;
        RandomAccess.SetLength(_file, data.Length);
        RandomAccess.Write(_file, data, 0);

        _table.Clear();
        var (malformed, _) = ProcNetTcpCollector.Parse(_file, buffer, family, mask, ticks, _table);
        var (offered, filtered, violation) = ParseLineByLine(data, family, buffer.Length, ticks, mask);

        var verdict = new Verdict(malformed > 0 ? Outcome.Malformed : Outcome.Parsed, offered, _table.Count + filtered, malformed, violation)
            .Require(_table.Count + filtered + malformed == offered, "accepted + filtered out + malformed != lines offered")
            .Require(_table.Count == _lineByLine.Count, "the streaming reader and TryParseLine accepted different numbers of lines");
        for (var i = 0; i < Math.Min(_table.Count, _lineByLine.Count); i++)
        {
            ref readonly var a = ref _table[i];
            ref readonly var b = ref _lineByLine[i];
            verdict = verdict
                .Require(a.Family == family && Lifecycle.IsDefined((byte)a.State), "a record with another family or a state outside 1..13")
                .Require(TcpStateMask.Contains(mask, a.State), "a record in a state the mask leaves out")
                .Require(
                    a.State == b.State && a.LocalAddress == b.LocalAddress && a.LocalPort == b.LocalPort
                    && a.RemoteAddress == b.RemoteAddress && a.RemotePort == b.RemotePort && a.Inode == b.Inode
                    && a.Uid == b.Uid && a.TxQueue == b.TxQueue && a.RxQueue == b.RxQueue && a.TimerExpiresMs == b.TimerExpiresMs,
                    "the streaming reader and TryParseLine disagree on a record's fields");
        }

        return verdict;
    }

    /// <summary>
    /// Splits the file into lines as the kernel wrote them and offers each to TryParseLine: the
    /// header (the first line handed to the parser) and blank lines are not offered. A line that
    /// fills the whole read buffer is offered but never parsed: the reader counts it malformed
    /// once and skips to its newline, and it is not handed to the header check either.
    /// </summary>
    private (int Offered, int Filtered, string? Violation) ParseLineByLine(
        ReadOnlySpan<byte> data, SocketFamily family, int bufferLength, int ticks, uint mask)
    {
        _lineByLine.Clear();
        var offered = 0;
        var filtered = 0;
        string? violation = null;
        var first = true;
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            var line = newline >= 0 ? data[..newline] : data;
            data = newline >= 0 ? data[(newline + 1)..] : default;
            if (line.Length >= bufferLength)
            {
                offered++;
                continue;
            }

            if (first)
            {
                first = false;
                if (ProcNetTcpParser.IsHeader(line))
                {
                    continue;
                }
            }

            if (line.Trim((byte)' ').IsEmpty)
            {
                continue;
            }

            offered++;
            ref var record = ref _lineByLine.Append();
            var accepted = ProcNetTcpParser.TryParseLine(line, family, BitConverter.IsLittleEndian, ticks, ref record);
            var other = default(SocketRecord);
            if (ProcNetTcpParser.TryParseLine(line, family, !BitConverter.IsLittleEndian, ticks == 100 ? 250 : 100, ref other) != accepted)
            {
                violation ??= "whether a line parses depends on the byte order or USER_HZ";
            }

            if (!accepted)
            {
                _lineByLine.RemoveLast();
            }
            else if (!TcpStateMask.Contains(mask, record.State))
            {
                _lineByLine.RemoveLast();
                filtered++;
            }
        }

        return (offered, filtered, violation);
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var v6 = (variant & 1) != 0;
        var d = new List<byte>();
        if (random.Next(5) != 0)
        {
            d.Text(v6
                ? "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                : "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n");
        }

        for (int sl = 0, lines = random.Next(random.Next(16) == 0 ? 100 : 12); sl < lines; sl++)
        {
            Line(random, d, sl, v6);
            if (sl < lines - 1 || random.Next(8) != 0)
            {
                d.Add((byte)'\n');
            }
        }

        return d;
    }

    /// <summary>One socket line: "%4d: %08X:%04X %08X:%04X %02X %08X:%08X %02X:%08lX %08X %5u %8d %lu" and the rest.</summary>
    private static void Line(Random r, List<byte> d, int sl, bool v6)
    {
        var start = d.Count;
        d.Text(sl.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(4)).Text(": ");
        Endpoint(r, d, v6);
        d.Add((byte)' ');
        Endpoint(r, d, v6);
        d.Add((byte)' ');
        d.Hex((ulong)(r.Next(10) == 0 ? r.Next(256) : 1 + r.Next(12)), 2).Text(" ");
        d.Hex(Word(r), 8).Text(":").Hex(Word(r), 8).Text(" ");
        d.Hex((ulong)r.Next(r.Next(10) == 0 ? 256 : 5), 2).Text(":").Hex(r.Next(8) == 0 ? Mutator.InterestingInteger(r) : (ulong)r.Next(100_000), 8).Text(" ");
        d.Hex(Word(r), 8).Text(" ");
        d.Text(r.Number(70_000).PadLeft(5)).Text(" ").Text(r.Number(10).PadLeft(8)).Text(" ").Text(r.Number());
        d.Text(r.Next(2) == 0 ? " 1 0000000000000000 100 0 0 10 -1" : " 0 0000000000000000");
        if (r.Next(2) == 0)
        {
            d.Text(new string(' ', Math.Max(0, (v6 ? 176 : 149) - (d.Count - start)))); // seq_pad
        }
    }

    private static void Endpoint(Random r, List<byte> d, bool v6)
    {
        for (var word = 0; word < (v6 ? 4 : 1); word++)
        {
            d.Hex(r.Next(4) == 0 ? 0x0100007Fu : Word(r), 8);
        }

        d.Text(":").Hex((ulong)r.Next(0x10000), 4);
    }

    private static uint Word(Random r) => r.Next(3) == 0 ? 0u : (uint)r.NextInt64(1L << 32) >> r.Next(32);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }

        base.Dispose(disposing);
    }
}
