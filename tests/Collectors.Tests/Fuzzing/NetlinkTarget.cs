using System.Buffers.Binary;
using SockWatch.Core;
using L = SockWatch.Collectors.Interop.NetlinkLayout;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>
/// NetlinkDiagParser.ParseDatagram over sock_diag reply datagrams: built from scratch (messages
/// of every control type, struct inet_diag_msg with random fields and attributes), or recorded
/// on 6.18 and mutated, with nlmsg_len, rta_len, types, families and states set to wrong values.
/// </summary>
/// <remarks>
/// Oracle: the only exception is the CollectorException the parser documents for NLMSG_ERROR and
/// a failed NLMSG_DONE, with a positive errno. No more records than messages; every message a
/// record, a duplicate or counted malformed; every record inet or inet6 in a state 1..13, with a
/// clamped timer, no cookie unless it has one, and, when deduplicating, no cookie twice.
/// Variant bit 0: deduplicate with a CookieSet, as NetlinkCollector does.
/// </remarks>
internal sealed class NetlinkTarget() : GeneratedTarget(new Mutator(FuzzSeeds.NetlinkDatagrams(), [], Corrupt))
{
    /// <summary>The sequence number of the recorded dumps (tests/fixtures/record.py) and of generated messages.</summary>
    private const uint Sequence = 7;

    private const int DiagOffset = L.NlMsgHeaderLength + L.InetDiagMsgLength;

    private static readonly ushort[] MessageTypes =
        [0, L.NLMSG_NOOP, L.NLMSG_ERROR, L.NLMSG_DONE, L.NLMSG_OVERRUN, 5, 15, 16, 18, L.SOCK_DIAG_BY_FAMILY, 21, 0xFFFF];

    private static readonly int[] Statuses = [0, -1, -2, -4, -16, -105, 1, 105, int.MinValue, int.MaxValue];

    private static readonly byte[] Families = [0, 1, 2, 10, 16, 255];

    private static readonly ushort[] AttributeTypes =
        [0, 1, L.INET_DIAG_INFO, 4, 5, L.INET_DIAG_SHUTDOWN, L.INET_DIAG_CGROUP_ID, 0x8002, 0x4008, 0xC015, 0x3FFF, 0xFFFF];

    private readonly SocketTable _table = new();
    private readonly CookieSet _seen = new();
    private readonly HashSet<ulong> _cookies = [];

    public override string Name => "netlink";

    public override string Drives => "NetlinkDiagParser.ParseDatagram";

    protected override int Variant(Random random) => random.Next(2);

    public override Verdict Run(FuzzInput input)
    {
        var seen = (input.Variant & 1) != 0 ? _seen : null;
        seen?.Reset(16);
        _table.Clear();
        var stats = default(NetlinkDumpStats);
        var outcome = Outcome.Parsed;
        string? violation = null;
        try
        {
            NetlinkDiagParser.ParseDatagram(input.Data, Sequence, _table, ref stats, seen);
            if (stats.Malformed > 0)
            {
                outcome = Outcome.Malformed;
            }
        }
        catch (CollectorException e) when (e.Collector == NetlinkCollector.CollectorName
                                           && e.Kind is CollectorErrorKind.DumpRefused or CollectorErrorKind.DumpFailed)
        {
            outcome = Outcome.Rejected;
            if (e.Errno <= 0)
            {
                violation = $"{e.Kind} with errno {e.Errno} (reason \"{e.Reason}\"): CollectorException.Errno is a positive errno";
            }
        }

        var records = _table.Records;
        var verdict = new Verdict(outcome, stats.Messages, records.Length, stats.Malformed, violation)
            .Require(stats.Datagrams == 1, "not counted as one datagram")
            .Require(records.Length <= stats.Messages, "more records than SOCK_DIAG_BY_FAMILY messages")
            .Require(records.Length + stats.Duplicates + stats.Malformed >= stats.Messages,
                "a message became neither a record nor a duplicate, and was not counted malformed");
        return CheckRecords(verdict, records, seen is not null, input.Data.Length);
    }

    private Verdict CheckRecords(Verdict verdict, ReadOnlySpan<SocketRecord> records, bool deduplicated, int inputLength)
    {
        _cookies.Clear();
        foreach (ref readonly var r in records)
        {
            verdict = verdict
                .Require(r.Family is SocketFamily.Inet or SocketFamily.Inet6, "a record's family is neither inet nor inet6")
                .Require(Lifecycle.IsDefined((byte)r.State), "a record's state is outside 1..13")
                .Require(r.TimerExpiresMs < 0x8000_0000u, "a record's timer was not clamped")
                .Require(r.HasCookie || r.Cookie == 0, "a record without a cookie has one")
                .Require(r.TcpInfo.Length <= inputLength, "a record's tcp_info is longer than the datagram")
                .Require(!deduplicated || !r.HasCookie || r.Cookie == 0 || _cookies.Add(r.Cookie), "a cookie twice after deduplication");
        }

        return verdict;
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var datagram = new NetlinkMessages();
        for (var i = 1 + random.Next(6); i > 0; i--)
        {
            var (type, payload) = random.Next(100) switch
            {
                < 70 => (L.SOCK_DIAG_BY_FAMILY, Socket(random)),
                < 80 => (L.NLMSG_DONE, NetlinkMessages.Int(random.Next(3) == 0 ? random.Pick(Statuses) : 0)),
                < 86 => (L.NLMSG_ERROR, [.. NetlinkMessages.Int(random.Next(3) == 0 ? random.Pick(Statuses) : -random.Next(1, 134)), .. Noise(random, 72)]),
                < 90 => (L.NLMSG_NOOP, []),
                < 92 => (L.NLMSG_OVERRUN, []),
                _ => ((ushort)random.Next(0x10000), Noise(random, 64)),
            };
            var flags = L.NLM_F_MULTI | (random.Next(8) == 0 ? L.NLM_F_DUMP_INTR : 0) | (random.Next(16) == 0 ? random.Next(0x10000) : 0);
            datagram.Message(type, random.Next(10) == 0 ? (uint)random.Next() : Sequence, payload, (ushort)flags);
        }

        return [.. datagram.ToArray()];
    }

    /// <summary>A struct inet_diag_msg with random fields, mostly a real family and state, then 0 to 5 attributes.</summary>
    private static byte[] Socket(Random r)
    {
        var msg = new byte[L.InetDiagMsgLength];
        r.NextBytes(msg);
        msg[L.MsgFamily] = r.Next(10) == 0 ? r.Pick(Families) : r.Next(2) == 0 ? (byte)2 : (byte)10;
        msg[L.MsgState] = (byte)(r.Next(8) == 0 ? r.Next(256) : 1 + r.Next(13));
        msg[L.MsgTimer] = (byte)r.Next(r.Next(8) == 0 ? 256 : 5);
        if (r.Next(3) == 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(msg.AsSpan(L.MsgCookie), ulong.MaxValue); // INET_DIAG_NOCOOKIE in both words
        }

        if (r.Next(2) == 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(L.MsgExpires), (uint)Mutator.InterestingInteger(r));
        }

        var d = new List<byte>(msg);
        for (var n = r.Next(6); n > 0; n--)
        {
            var type = r.Next(4) == 0 ? (ushort)r.Next(0x10000) : r.Pick(AttributeTypes);
            var length = (type & L.NlaTypeMask) switch
            {
                L.INET_DIAG_INFO => r.Next(2) == 0 ? 232 : r.Next(300),
                L.INET_DIAG_SHUTDOWN => r.Next(4) == 0 ? 0 : 1,
                L.INET_DIAG_CGROUP_ID => r.Next(4) == 0 ? r.Next(8) : 8,
                _ => r.Next(40),
            };
            d.AddRange(NetlinkMessages.Attribute(type, Noise(r, length, exact: true)));
        }

        if (r.Next(16) == 0)
        {
            var cut = r.Next(d.Count);
            d.RemoveRange(cut, d.Count - cut); // a message cut short, inside the struct or an attribute
        }

        return [.. d];
    }

    /// <summary>Structural mutations: a header or attribute field of one message set to a wrong value.</summary>
    private static void Corrupt(Random r, List<byte> d)
    {
        var messages = Messages(d);
        if (messages.Count == 0)
        {
            WriteU32(d, 0, (uint)Mutator.InterestingInteger(r));
            return;
        }

        var (at, length) = r.Pick(messages);
        var aligned = Math.Min(L.Align(length), d.Count - at);
        switch (r.Next(12))
        {
            case 0:
                WriteU32(d, at, r.Pick(new[] { 0, 1, 15, 16, 17, length - 1, length + 1, length + 4, d.Count - at, d.Count - at + 1, DiagOffset - 1, DiagOffset, int.MaxValue, int.MinValue, -1 }));
                break;
            case 1:
                WriteU16(d, at + 4, r.Pick(MessageTypes));
                break;
            case 2:
                WriteU16(d, at + 6, (ushort)(ReadU16(d, at + 6) ^ (1 << r.Next(16))));
                break;
            case 3:
                WriteU32(d, at + 8, r.Next(2) == 0 ? (int)Sequence : r.Next());
                break;
            case 4:
            case 5:
                CorruptAttribute(r, d, at, length);
                break;
            case 6:
                WriteByte(d, at + L.NlMsgHeaderLength + L.MsgFamily, r.Pick(Families));
                break;
            case 7:
                WriteByte(d, at + L.NlMsgHeaderLength + L.MsgState, (byte)r.Next(r.Next(2) == 0 ? 16 : 256));
                break;
            case 8:
                // An error or the end of the dump, with a status at the edge of an int.
                WriteU16(d, at + 4, r.Next(2) == 0 ? L.NLMSG_DONE : L.NLMSG_ERROR);
                WriteU32(d, at + L.NlMsgHeaderLength, r.Pick(Statuses));
                break;
            case 9:
                d.RemoveRange(at, aligned);
                break;
            case 10:
                d.InsertRange(at, d.GetRange(at, aligned)); // the same socket reported twice
                break;
            default:
                Mutator.DeleteRange(r, d, length); // bytes gone from inside the message; its length now lies
                break;
        }
    }

    private static void CorruptAttribute(Random r, List<byte> d, int at, int length)
    {
        var attributes = new List<(int At, int Length)>();
        var end = at + length;
        for (var p = at + DiagOffset; end - p >= L.RtAttrHeaderLength;)
        {
            var attributeLength = ReadU16(d, p);
            attributes.Add((p, attributeLength));
            if (attributeLength < L.RtAttrHeaderLength)
            {
                break;
            }

            p += L.Align(attributeLength);
        }

        if (attributes.Count == 0)
        {
            return;
        }

        var (a, al) = r.Pick(attributes);
        if (r.Next(2) == 0)
        {
            WriteU16(d, a, (ushort)r.Pick(new[] { 0, 1, 3, 4, 5, al - 1, al + 1, al + 3, end - a, end - a + 1, 0x8000, 0xFFFF }));
        }
        else
        {
            WriteU16(d, a + 2, r.Pick(AttributeTypes));
        }
    }

    /// <summary>Where each message starts and how long it says it is; the walk stops at the first header that cannot be trusted.</summary>
    private static List<(int At, int Length)> Messages(List<byte> d)
    {
        var messages = new List<(int, int)>();
        for (var at = 0; d.Count - at >= L.NlMsgHeaderLength;)
        {
            var length = (uint)(ReadU16(d, at) | (ReadU16(d, at + 2) << 16));
            if (length < L.NlMsgHeaderLength || length > d.Count - at)
            {
                messages.Add((at, d.Count - at));
                break;
            }

            messages.Add((at, (int)length));
            at += L.Align((int)length);
        }

        return messages;
    }

    private static byte[] Noise(Random r, int most, bool exact = false)
    {
        var b = new byte[exact ? most : r.Next(most + 1)];
        r.NextBytes(b);
        return b;
    }

    private static int ReadU16(List<byte> d, int at) => at + 2 <= d.Count ? d[at] | (d[at + 1] << 8) : 0;

    private static void WriteByte(List<byte> d, int at, byte value)
    {
        if (at < d.Count)
        {
            d[at] = value;
        }
    }

    private static void WriteU16(List<byte> d, int at, ushort value)
    {
        WriteByte(d, at, (byte)value);
        WriteByte(d, at + 1, (byte)(value >> 8));
    }

    private static void WriteU32(List<byte> d, int at, int value)
    {
        WriteU16(d, at, (ushort)value);
        WriteU16(d, at + 2, (ushort)(value >> 16));
    }

    private static void WriteU32(List<byte> d, int at, uint value) => WriteU32(d, at, (int)value);
}
