using System.Buffers.Binary;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

public class NetlinkDiagParserTests
{
    private const uint Seq = 7; // the sequence number tests/fixtures/record.py used

    private static List<byte[]> Datagrams(string file)
    {
        var bytes = File.ReadAllBytes(Repo.Fixture("live-6.18", file));
        var list = new List<byte[]>();
        for (var off = 0; off < bytes.Length;)
        {
            var len = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(off));
            list.Add(bytes.AsSpan(off + 4, len).ToArray());
            off += 4 + len;
        }

        return list;
    }

    private static (SocketTable Table, NetlinkDumpStats Stats) ParseRecorded(params string[] files)
    {
        var table = new SocketTable();
        var stats = default(NetlinkDumpStats);
        foreach (var file in files)
        {
            var progress = DumpProgress.More;
            foreach (var datagram in Datagrams(file))
            {
                Assert.Equal(DumpProgress.More, progress); // nothing after DONE
                progress = NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats);
            }

            Assert.Equal(DumpProgress.Done, progress);
        }

        return (table, stats);
    }

    [Fact]
    public void Recorded_dumps_hold_every_socket_the_recorder_made()
    {
        var (table, stats) = ParseRecorded("netlink-inet.bin", "netlink-inet6.bin");
        Assert.Equal(0, stats.Malformed);
        Assert.Equal(0, stats.Foreign);
        var records = table.Records.ToArray();
        foreach (var e in RecordedSockets.Load())
        {
            var match = records.Where(e.Matches).ToArray();
            Assert.True(match.Length == 1, $"{e.What}: {match.Length} matches");
            Assert.Equal(e.Inode, match[0].Inode);
            Assert.True(match[0].HasCookie);
        }

        // Every cookie is distinct, and the dump matches ss's view of the same moment.
        Assert.Equal(records.Length, records.Select(r => r.Cookie).Distinct().Count());
        var ss = SsOracle.Parse(File.ReadAllLines(Repo.Fixture("live-6.18", "ss.txt")));
        Assert.Equal(ss.Count, records.Length);
        foreach (var line in ss)
        {
            var r = Assert.Single(records, r => r.HasCookie && r.Cookie == line.Cookie);
            line.AssertSame(r, compareQueues: true);
        }
    }

    [Fact]
    public void Minisockets_and_listeners_are_reported_as_the_reference_says()
    {
        var (table, _) = ParseRecorded("netlink-inet.bin");
        var records = table.Records.ToArray();

        var listener = records.First(r => r.State == TcpState.Listen && r.TxQueue == 16);
        Assert.Equal(0u, listener.RxQueue);          // accept queue
        Assert.NotEqual(SocketRecord.ShutdownUnknown, listener.Shutdown); // SHUTDOWN is always sent for full sockets
        Assert.NotEqual(0UL, listener.CgroupId);

        var full = records.First(r => r.State == TcpState.Listen && r.TxQueue == 0); // backlog 0, one child waiting
        Assert.Equal(1u, full.RxQueue);

        var timeWait = records.Single(r => r.State == TcpState.TimeWait);
        Assert.Equal(SocketTimer.TimeWait, timeWait.Timer);
        Assert.Equal(0UL, timeWait.Inode);
        Assert.Equal(SocketRecord.ShutdownUnknown, timeWait.Shutdown); // minisockets carry no attributes
        Assert.InRange(timeWait.TimerExpiresMs, 50_000u, 60_000u);

        var orphan = records.Single(r => r.State == TcpState.FinWait2 && r.Timer == SocketTimer.TimeWait);
        Assert.Equal(0UL, orphan.Inode);

        var closeWait = records.Where(r => r.State == TcpState.CloseWait).ToArray();
        Assert.Equal(2, closeWait.Length);
        Assert.All(closeWait, r => Assert.Equal(1u, r.RxQueue)); // the FIN counts as one byte
        Assert.All(closeWait, r => Assert.Equal(1, r.Shutdown & 1)); // receive side shut

        var request = records.Single(r => r.State == TcpState.SynRecv);
        Assert.Equal(SocketTimer.Retransmit, request.Timer);
        Assert.Equal(0UL, request.Inode);
    }

    [Fact]
    public void Tcp_info_is_read_within_its_length()
    {
        var (table, _) = ParseRecorded("netlink-info-inet.bin");
        var records = table.Records.ToArray();
        Assert.All(records, r => Assert.True(r.State is TcpState.CloseWait or TcpState.FinWait2));
        var full = records.Where(r => r.Inode != 0).ToArray();
        Assert.NotEmpty(full);
        Assert.All(full, r =>
        {
            Assert.True(r.TcpInfo.Length >= 104, $"tcp_info length {r.TcpInfo.Length}");
            Assert.NotEqual(TcpInfoSummary.Absent, r.TcpInfo.LastDataReceivedMs);
            Assert.NotEqual(TcpInfoSummary.Absent, r.TcpInfo.LastAckReceivedMs);
        });
        // The orphaned fin_wait2 is a minisocket: it ignores idiag_ext and carries no tcp_info.
        Assert.All(records.Where(r => r.Inode == 0), r => Assert.False(r.TcpInfo.IsPresent));
    }

    [Fact]
    public void A_short_tcp_info_leaves_the_missing_fields_absent()
    {
        var info = new byte[60]; // ends before tcpi_rtt (68) and after tcpi_last_ack_recv (56..60)
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(52), 1234); // last_data_recv
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(56), 5678); // last_ack_recv
        var payload = NetlinkMessages.InetDiagMsg(8, 80, 5000, 99, 0x1_0000_0002, NetlinkMessages.Attribute(2, info));
        var record = default(SocketRecord);
        Assert.True(NetlinkDiagParser.TryParseSocket(payload, ref record));
        Assert.Equal(60, record.TcpInfo.Length);
        Assert.Equal(1234u, record.TcpInfo.LastDataReceivedMs);
        Assert.Equal(5678u, record.TcpInfo.LastAckReceivedMs);
        Assert.Equal(TcpInfoSummary.Absent, record.TcpInfo.RttMicroseconds);
        Assert.Equal(TcpInfoSummary.Absent, record.TcpInfo.TotalRetransmits);
    }

    [Fact]
    public void Fixed_fields_decode_with_big_endian_ports_and_split_cookie()
    {
        var payload = NetlinkMessages.InetDiagMsg(1, 8080, 443, 4242, 0xAABBCCDD_11223344);
        var r = default(SocketRecord);
        Assert.True(NetlinkDiagParser.TryParseSocket(payload, ref r));
        Assert.Equal(SocketFamily.Inet, r.Family);
        Assert.Equal(TcpState.Established, r.State);
        Assert.Equal(8080, r.LocalPort);
        Assert.Equal(443, r.RemotePort);
        Assert.Equal("127.0.0.1", r.LocalAddress.Format(r.Family));
        Assert.Equal("10.0.0.7", r.RemoteAddress.Format(r.Family));
        Assert.Equal(0xAABBCCDD_11223344UL, r.Cookie);
        Assert.True(r.HasCookie);
        Assert.Equal(3u, r.Interface);
        Assert.Equal(200u, r.TimerExpiresMs);
        Assert.Equal(17u, r.RxQueue);
        Assert.Equal(4096u, r.TxQueue);
        Assert.Equal(1000u, r.Uid);
        Assert.Equal(4242UL, r.Inode);
        Assert.Equal(2u, r.Retransmits);
        Assert.False(r.TcpInfo.IsPresent);
    }

    [Fact]
    public void No_cookie_and_bogus_expiry_are_normalized()
    {
        var payload = NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 0xFFFFFFFF_FFFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(52), 0xFFFF_FF00); // unclamped, already due
        var r = default(SocketRecord);
        Assert.True(NetlinkDiagParser.TryParseSocket(payload, ref r));
        Assert.False(r.HasCookie);
        Assert.Equal(0u, r.TimerExpiresMs);
    }

    [Fact]
    public void Unknown_attributes_are_skipped_and_known_ones_still_read()
    {
        var payload = NetlinkMessages.InetDiagMsg(8, 1, 2, 3, 4,
            NetlinkMessages.Attribute(99, [1, 2, 3, 4, 5, 6, 7]),
            NetlinkMessages.Attribute(0x8000 | 98, new byte[12]), // nested flag, unknown type
            NetlinkMessages.Attribute(8, [1]),
            NetlinkMessages.Attribute(21, BitConverter.GetBytes(0x1234UL)));
        var r = default(SocketRecord);
        Assert.True(NetlinkDiagParser.TryParseSocket(payload, ref r));
        Assert.Equal(1, r.Shutdown);
        Assert.Equal(0x1234UL, r.CgroupId);
    }

    [Fact]
    public void A_broken_attribute_ends_the_walk_but_keeps_the_socket()
    {
        var payload = NetlinkMessages.InetDiagMsg(8, 1, 2, 3, 4,
            NetlinkMessages.Attribute(8, [1]),
            NetlinkMessages.Attribute(21, BitConverter.GetBytes(0x1234UL), lengthOverride: 400));
        var r = default(SocketRecord);
        Assert.True(NetlinkDiagParser.TryParseSocket(payload, ref r));
        Assert.Equal(1, r.Shutdown);
        Assert.Equal(0UL, r.CgroupId);
    }

    [Fact]
    public void Nlmsg_error_is_a_dump_refused_error_with_its_errno()
    {
        var datagram = new NetlinkMessages().Error(Seq, -2).ToArray();
        var stats = default(NetlinkDumpStats);
        var e = Assert.Throws<CollectorException>(() => NetlinkDiagParser.ParseDatagram(datagram, Seq, new SocketTable(), ref stats));
        Assert.Equal(CollectorErrorKind.DumpRefused, e.Kind);
        Assert.Equal(2, e.Errno);
        Assert.Equal("enoent", e.Reason);
    }

    [Fact]
    public void An_errno_in_done_is_a_dump_failed_error()
    {
        var datagram = new NetlinkMessages()
            .Message(20, Seq, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 4))
            .Done(Seq, -105)
            .ToArray();
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        var e = Assert.Throws<CollectorException>(() => NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats));
        Assert.Equal(CollectorErrorKind.DumpFailed, e.Kind);
        Assert.Equal(105, e.Errno);
    }

    [Fact]
    public void An_ack_is_not_an_error()
    {
        var datagram = new NetlinkMessages().Error(Seq, 0).Done(Seq).ToArray();
        var stats = default(NetlinkDumpStats);
        Assert.Equal(DumpProgress.Done, NetlinkDiagParser.ParseDatagram(datagram, Seq, new SocketTable(), ref stats));
    }

    [Fact]
    public void A_truncated_message_is_counted_and_the_rest_of_the_datagram_dropped()
    {
        var good = new NetlinkMessages().Message(20, Seq, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 4)).ToArray();
        var datagram = good.Concat(good.AsSpan(0, 50).ToArray()).ToArray(); // second message cut at 50 bytes
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        Assert.Equal(DumpProgress.More, NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats));
        Assert.Equal(1, table.Count);
        Assert.Equal(1, stats.Malformed);
    }

    [Fact]
    public void A_message_too_short_for_inet_diag_msg_is_counted()
    {
        var datagram = new NetlinkMessages()
            .Message(20, Seq, new byte[40])
            .Message(20, Seq, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 4))
            .Done(Seq)
            .ToArray();
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        Assert.Equal(DumpProgress.Done, NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats));
        Assert.Equal(1, table.Count);
        Assert.Equal(1, stats.Malformed);
        Assert.Equal(2, stats.Messages);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(14)]
    [InlineData(200)]
    public void A_state_outside_the_kernel_range_is_counted(byte state)
    {
        var datagram = new NetlinkMessages().Message(20, Seq, NetlinkMessages.InetDiagMsg(state, 1, 2, 3, 4)).ToArray();
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats);
        Assert.Equal(0, table.Count);
        Assert.Equal(1, stats.Malformed);
    }

    [Fact]
    public void Messages_of_another_sequence_are_skipped()
    {
        var datagram = new NetlinkMessages()
            .Message(20, Seq + 1, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 4))
            .Done(Seq + 1, -2) // not ours: must not end or fail our dump
            .Message(20, Seq, NetlinkMessages.InetDiagMsg(1, 5, 6, 7, 8))
            .ToArray();
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        Assert.Equal(DumpProgress.More, NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats));
        Assert.Equal(2, stats.Foreign);
        Assert.Equal(7UL, Assert.Single(table.Records.ToArray()).Inode);
    }

    [Fact]
    public void The_interrupted_flag_is_noticed()
    {
        var datagram = new NetlinkMessages().Message(20, Seq, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, 4), flags: 0x2 | 0x10).ToArray();
        var stats = default(NetlinkDumpStats);
        NetlinkDiagParser.ParseDatagram(datagram, Seq, new SocketTable(), ref stats);
        Assert.True(stats.Interrupted);
    }

    [Fact]
    public void The_request_is_byte_for_byte_the_reference_example()
    {
        Span<byte> request = stackalloc byte[72];
        NetlinkCollector.BuildRequest(request, 2, 0xFFE, 0x02, 1);
        byte[] expected =
        [
            0x48, 0, 0, 0, 0x14, 0, 0x01, 0x03, 1, 0, 0, 0, 0, 0, 0, 0,
            2, 6, 2, 0, 0xfe, 0x0f, 0, 0,
            .. new byte[40],
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        Assert.Equal(expected, request.ToArray());
    }

    [Fact]
    public void The_legacy_request_is_the_60_byte_inet_diag_req_for_both_families()
    {
        Span<byte> request = stackalloc byte[76];
        request.Fill(0xAA); // every byte must be written
        NetlinkCollector.BuildLegacyRequest(request, 0xFFE, 0x02, 7);
        byte[] expected =
        [
            0x4c, 0, 0, 0, 0x12, 0, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0, // len 76, type 18, REQUEST|DUMP
            0, 0, 0, 0x02,                                              // AF_UNSPEC, src_len, dst_len, ext INFO
            .. new byte[40],                                            // ports, addresses, interface
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,             // cookie NOCOOKIE
            0xfe, 0x0f, 0, 0,                                           // idiag_states
            0, 0, 0, 0,                                                 // idiag_dbs
        ];
        Assert.Equal(expected, request.ToArray());
    }

    [Fact]
    public void Replies_to_the_legacy_request_parse_and_keep_tcp_info_only_where_asked()
    {
        const uint seq = 5;
        var info = new byte[104];
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(56), 4321); // last_ack_recv
        var datagram = new NetlinkMessages()
            .Message(18, seq, NetlinkMessages.InetDiagMsg(8, 80, 5000, 11, 101, NetlinkMessages.Attribute(2, info)))  // close_wait
            .Message(18, seq, NetlinkMessages.InetDiagMsg(1, 80, 5001, 12, 102, NetlinkMessages.Attribute(2, info)))  // established
            .Message(3, seq, new byte[4])
            .ToArray();
        var table = new SocketTable();
        var stats = default(NetlinkDumpStats);

        var progress = NetlinkDiagParser.ParseDatagram(datagram, seq, table, ref stats, seen: null, keepInfoStates: TcpStateMask.Of(TcpState.CloseWait));

        Assert.Equal(DumpProgress.Done, progress);
        Assert.Equal(2, table.Count);
        Assert.Equal(0, stats.Malformed);
        Assert.True(table.Records[0].TcpInfo.IsPresent);
        Assert.Equal(4321u, table.Records[0].TcpInfo.LastAckReceivedMs);
        Assert.False(table.Records[1].TcpInfo.IsPresent);
        Assert.Equal(TcpState.Established, table.Records[1].State);
    }

    [Fact]
    public void Only_asking_for_close_by_name_walks_the_bind_hash()
    {
        Assert.Equal(0x2080u, NetlinkCollector.KernelStateMask(TcpStateMask.Of(TcpState.Close)));
        Assert.Equal(0x2000u, NetlinkCollector.KernelStateMask(TcpStateMask.Of(TcpState.BoundInactive)));
        Assert.Equal(0x0FFEu, NetlinkCollector.KernelStateMask(TcpStateMask.All)); // as `ss -tan` asks, less bit 0
        Assert.Equal(0x0120u, NetlinkCollector.KernelStateMask(TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2])));
        Assert.Equal(0x0008u, NetlinkCollector.KernelStateMask(TcpStateMask.Of([TcpState.SynRecv, TcpState.NewSynRecv])));
    }
}

public class NetlinkDuplicateTests
{
    [Fact]
    public void A_socket_reported_twice_is_kept_once_and_counted()
    {
        const uint seq = 9;
        var datagram = new NetlinkMessages()
            .Message(20, seq, NetlinkMessages.InetDiagMsg(1, 1, 2, 3, cookie: 42))
            .Message(20, seq, NetlinkMessages.InetDiagMsg(6, 1, 2, 0, cookie: 42)) // moved to time_wait mid-dump
            .Message(20, seq, NetlinkMessages.InetDiagMsg(1, 5, 6, 7, cookie: 43))
            .Done(seq)
            .ToArray();
        var seen = new CookieSet();
        seen.Reset(16);
        var stats = default(NetlinkDumpStats);
        var table = new SocketTable();
        Assert.Equal(DumpProgress.Done, NetlinkDiagParser.ParseDatagram(datagram, seq, table, ref stats, seen));
        Assert.Equal(2, table.Count);
        Assert.Equal(1, stats.Duplicates);
        Assert.Equal(TcpState.Established, table[0].State); // the first report wins
        Assert.Equal(43UL, table[1].Cookie);
    }
}
