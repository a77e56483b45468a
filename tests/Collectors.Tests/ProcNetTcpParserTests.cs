using System.Net;
using System.Text;
using SockWatch.Collectors;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

public class ProcNetTcpParserTests
{
    private static (SocketTable Table, CollectionStats Stats) Collect(string fixture, CollectRequest? request = null)
    {
        using var collector = new ProcNetTcpCollector(Repo.Fixture(fixture));
        var table = new SocketTable();
        var stats = collector.Collect(table, request ?? CollectRequest.All);
        return (table, stats);
    }

    [Fact]
    public void Every_state_0x01_to_0x0C_parses_with_all_fields()
    {
        var (table, stats) = Collect("proc-every-state");
        Assert.Equal(0, stats.Malformed);
        var v4 = table.Records.ToArray().Where(r => r.Family == SocketFamily.Inet).ToArray();
        Assert.Equal(Enumerable.Range(1, 12), v4.Select(r => (int)r.State));
        foreach (var r in v4)
        {
            Assert.Equal(8000 + (int)r.State, r.LocalPort);
            Assert.Equal(0xD431, r.RemotePort);
            Assert.Equal("127.0.0.1", r.LocalAddress.Format(r.Family));
            Assert.False(r.HasCookie);
        }

        // A full socket: every column.
        var established = v4[0];
        Assert.Equal(10u, established.TxQueue);
        Assert.Equal(5u, established.RxQueue);
        Assert.Equal(SocketTimer.Keepalive, established.Timer);
        Assert.Equal(10_000u, established.TimerExpiresMs); // 0x3E8 = 1000 ticks at USER_HZ 100
        Assert.Equal(1u, established.Retransmits);
        Assert.Equal(1000u, established.Uid);
        Assert.Equal(40001UL, established.Inode);

        // A time_wait minisocket: 12 fields, timer 3, inode 0.
        var timeWait = v4[5];
        Assert.Equal(TcpState.TimeWait, timeWait.State);
        Assert.Equal(SocketTimer.TimeWait, timeWait.Timer);
        Assert.Equal(60_000u, timeWait.TimerExpiresMs); // 0x1770 = 6000 ticks
        Assert.Equal(0UL, timeWait.Inode);

        // A request socket: the listener's uid, retransmit timer.
        var request = v4[2];
        Assert.Equal(TcpState.SynRecv, request.State);
        Assert.Equal(SocketTimer.Retransmit, request.Timer);
        Assert.Equal(690u, request.TimerExpiresMs);
        Assert.Equal(2u, request.Retransmits);
        Assert.Equal(1000u, request.Uid);
    }

    [Fact]
    public void Ipv6_and_ipv4_mapped_addresses_decode()
    {
        var (table, _) = Collect("proc-every-state");
        var v6 = table.Records.ToArray().Where(r => r.Family == SocketFamily.Inet6).ToArray();
        Assert.Equal(3, v6.Length);

        Assert.Equal(TcpState.Listen, v6[0].State);
        Assert.Equal("::1", v6[0].LocalAddress.Format(SocketFamily.Inet6));
        Assert.Equal(8080, v6[0].LocalPort);
        Assert.Equal("::", v6[0].RemoteAddress.Format(SocketFamily.Inet6));
        Assert.Equal(3u, v6[0].RxQueue); // a listener's accept queue
        Assert.Equal(997u, v6[0].Uid);

        Assert.Equal(TcpState.CloseWait, v6[1].State);
        Assert.Equal("::ffff:127.0.0.1", v6[1].LocalAddress.Format(SocketFamily.Inet6));
        Assert.Equal(50000, v6[1].RemotePort);
        Assert.Equal(1u, v6[1].RxQueue); // the FIN counts as a byte

        Assert.Equal(IPAddress.Parse("2001:db8::1"), v6[2].LocalAddress.ToIPAddress(SocketFamily.Inet6));
        Assert.Equal(IPAddress.Parse("2001:db8::2"), v6[2].RemoteAddress.ToIPAddress(SocketFamily.Inet6));
        Assert.Equal(443, v6[2].LocalPort);
        Assert.Equal(200u, v6[2].TimerExpiresMs);
    }

    [Fact]
    public void Big_endian_text_decodes_with_the_producers_byte_order()
    {
        var path = Repo.Fixture("proc-bigendian", "net");
        var records = ParseFile(Path.Combine(path, "tcp"), SocketFamily.Inet, littleEndian: false);
        Assert.Equal(2, records.Count);
        Assert.Equal("127.0.0.1", records[0].LocalAddress.Format(SocketFamily.Inet));
        Assert.Equal(8080, records[0].LocalPort);
        Assert.Equal("10.1.2.3", records[1].LocalAddress.Format(SocketFamily.Inet));
        Assert.Equal(443, records[1].LocalPort);

        var v6 = ParseFile(Path.Combine(path, "tcp6"), SocketFamily.Inet6, littleEndian: false);
        Assert.Equal("2001:db8::1", v6[0].LocalAddress.Format(SocketFamily.Inet6));
        Assert.Equal("::ffff:127.0.0.1", v6[0].RemoteAddress.Format(SocketFamily.Inet6));

        // The same text read as little-endian gives the flipped (wrong) address: the flag matters.
        var wrong = ParseFile(Path.Combine(path, "tcp"), SocketFamily.Inet, littleEndian: true);
        Assert.Equal("1.0.0.127", wrong[0].LocalAddress.Format(SocketFamily.Inet));
    }

    [Fact]
    public void Little_endian_worked_example_from_the_kernel()
    {
        var line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 211436 2 0000000087172b40 100 0 0 10 0"u8;
        var r = default(SocketRecord);
        Assert.True(ProcNetTcpParser.TryParseLine(line, SocketFamily.Inet, littleEndianHost: true, 100, ref r));
        Assert.Equal("127.0.0.1", r.LocalAddress.Format(SocketFamily.Inet));
        Assert.Equal(8080, r.LocalPort);
        Assert.Equal(TcpState.Listen, r.State);
        Assert.Equal(1u, r.RxQueue);
        Assert.Equal(211436UL, r.Inode);
    }

    [Fact]
    public void Empty_files_give_no_sockets_and_no_errors()
    {
        var (table, stats) = Collect("proc-empty");
        Assert.Equal(0, table.Count);
        Assert.Equal(0, stats.Malformed);
        Assert.Empty(stats.MissingFamilies);
    }

    [Fact]
    public void Malformed_lines_are_counted_and_skipped_and_good_lines_kept()
    {
        var (table, stats) = Collect("proc-malformed");
        // truncated, garbage, over-long, state 0x0E, 10-digit address, non-hex port, cut-off last line
        Assert.Equal(7, stats.Malformed);
        Assert.Equal([9001UL, 9002UL], table.Records.ToArray().Select(r => r.Inode));
        Assert.Contains(SocketFamily.Inet6, stats.MissingFamilies);
    }

    [Fact]
    public void A_missing_tcp6_is_normal()
    {
        var (table, stats) = Collect("proc-no-ipv6");
        Assert.Equal(1, table.Count);
        Assert.Equal([SocketFamily.Inet6], stats.MissingFamilies);
    }

    [Fact]
    public void A_root_without_tables_is_an_unreadable_error()
    {
        using var collector = new ProcNetTcpCollector(Repo.Fixture("does-not-exist"));
        var e = Assert.Throws<CollectorException>(() => collector.Collect(new SocketTable(), CollectRequest.All));
        Assert.Equal(CollectorErrorKind.Unreadable, e.Kind);
        Assert.Equal("proc", e.Collector);
    }

    [Fact]
    public void Garbage_files_are_counted_never_thrown()
    {
        var dir = Directory.CreateTempSubdirectory("sockwatch-garbage-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "net"));
            var random = new Random(1234);
            var bytes = new byte[200_000];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(dir.FullName, "net", "tcp"), bytes);
            File.WriteAllText(Path.Combine(dir.FullName, "net", "tcp6"), "sl\n\n\n   \nnot: a line\n");
            using var collector = new ProcNetTcpCollector(dir.FullName);
            var table = new SocketTable();
            var stats = collector.Collect(table, CollectRequest.All);
            Assert.Equal(0, table.Count);
            Assert.True(stats.Malformed > 0);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_line_longer_than_the_buffer_is_one_malformed_record()
    {
        var good = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9001 1 0 100 0 0 10 0\n";
        var text = "  sl  local_address\n" + good + "   1: " + new string('F', 200_000) + "\n" + good.Replace("9001", "9002", StringComparison.Ordinal);
        var records = ParseText(text, SocketFamily.Inet, out var malformed);
        Assert.Equal(1, malformed);
        Assert.Equal([9001UL, 9002UL], records.Select(r => r.Inode));
    }

    [Fact]
    public void The_state_mask_filters_after_the_fact()
    {
        var (table, _) = Collect("proc-every-state", new CollectRequest { StateMask = TcpStateMask.Of([TcpState.CloseWait, TcpState.Listen]) });
        Assert.All(table.Records.ToArray(), r => Assert.Contains(r.State, new[] { TcpState.CloseWait, TcpState.Listen }));
        Assert.Equal(4, table.Count); // v4 listen + close_wait, v6 listen + close_wait
    }

    [Fact]
    public void Families_can_be_left_out()
    {
        var (table, _) = Collect("proc-every-state", new CollectRequest { IncludeIpv4 = false });
        Assert.All(table.Records.ToArray(), r => Assert.Equal(SocketFamily.Inet6, r.Family));
    }

    [Fact]
    public void The_recorded_live_files_match_what_the_recorder_made()
    {
        var (table, stats) = Collect(Path.Combine("live-6.18", "proc"));
        Assert.Equal(0, stats.Malformed);
        var expected = RecordedSockets.Load();
        foreach (var e in expected)
        {
            var match = table.Records.ToArray().Where(e.Matches).ToArray();
            Assert.True(match.Length == 1, $"{e.What}: {match.Length} matches");
            Assert.Equal(e.Inode, match[0].Inode);
        }
    }

    private static List<SocketRecord> ParseFile(string path, SocketFamily family, bool littleEndian)
    {
        var list = new List<SocketRecord>();
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var r = default(SocketRecord);
            Assert.True(ProcNetTcpParser.TryParseLine(Encoding.ASCII.GetBytes(line), family, littleEndian, 100, ref r), line);
            list.Add(r);
        }

        return list;
    }

    private static List<SocketRecord> ParseText(string text, SocketFamily family, out int malformed)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, text);
            using var handle = File.OpenHandle(path);
            var table = new SocketTable();
            (malformed, _) = ProcNetTcpCollector.Parse(handle, new byte[64 * 1024], family, TcpStateMask.All, 100, table);
            return table.Records.ToArray().ToList();
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public class SocketCountHintTests
{
    [Fact]
    public void Sums_ipv4_ipv6_and_time_wait()
    {
        var dir = Directory.CreateTempSubdirectory("sockwatch-sockstat-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "net"));
            File.WriteAllText(Path.Combine(dir.FullName, "net", "sockstat"),
                "sockets: used 60000\nTCP: inuse 41996 orphan 3 tw 40000 alloc 60001 mem 15289\nUDP: inuse 7 mem 0\n");
            File.WriteAllText(Path.Combine(dir.FullName, "net", "sockstat6"), "TCP6: inuse 18004\nUDP6: inuse 0\n");
            Assert.Equal(41996 + 40000 + 18004, SocketCountHint.Read(dir.FullName));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Missing_files_give_zero() => Assert.Equal(0, SocketCountHint.Read(Repo.Fixture("does-not-exist")));

    /// <param name="sockstat">The sockstat file, or null for none.</param>
    /// <param name="sockstat6">The sockstat6 file, or null for none (a host without IPv6).</param>
    [Theory]
    [InlineData("TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", "TCP6: inuse 0\n", true)]
    [InlineData("TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", null, true)]
    [InlineData("TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n", "TCP6: inuse 0\n", false)]      // a listener
    [InlineData("TCP: inuse 0 orphan 0 tw 2 alloc 0 mem 0\n", "TCP6: inuse 0\n", false)]      // time_wait
    [InlineData("TCP: inuse 0 orphan 0 tw 0 alloc 1 mem 0\n", "TCP6: inuse 1\n", false)]      // IPv6 only
    [InlineData(null, "TCP6: inuse 0\n", false)]                                               // unreadable: dump
    [InlineData("TCP: inuse zero tw 0\n", "TCP6: inuse 0\n", false)]                          // unparsable: dump
    [InlineData("TCP: orphan 0 tw 0\n", "TCP6: inuse 0\n", false)]                            // no inuse field
    [InlineData("TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\n", "TCP6: nothing\n", false)]
    public void A_namespace_is_empty_only_when_every_counter_says_so(string? sockstat, string? sockstat6, bool empty)
    {
        var dir = Directory.CreateTempSubdirectory("sockwatch-sockstat-");
        try
        {
            var net = Directory.CreateDirectory(Path.Combine(dir.FullName, "net")).FullName;
            if (sockstat is not null)
            {
                File.WriteAllText(Path.Combine(net, "sockstat"), "sockets: used 3\n" + sockstat + "UDP: inuse 0 mem 0\n");
            }

            if (sockstat6 is not null)
            {
                File.WriteAllText(Path.Combine(net, "sockstat6"), sockstat6);
            }

            Assert.Equal(empty, SocketCountHint.ShowsNoSockets(dir.FullName));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

public class ProcDuplicateTests
{
    [Fact]
    public void An_entry_printed_twice_during_a_read_is_kept_once_and_counted()
    {
        var dir = Directory.CreateTempSubdirectory("sockwatch-dup-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "net"));
            const string Tw = "   3: 0100007F:B2AA 0100007F:AE43 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0";
            File.WriteAllText(Path.Combine(dir.FullName, "net", "tcp"),
                "  sl  local_address\n" +
                "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 501 1 0 100 0 0 10 0\n" +
                "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 502 1 0 100 0 0 10 0\n" + // SO_REUSEPORT twin: another inode
                Tw + "\n" + Tw.Replace("   3:", "   9:", StringComparison.Ordinal) + "\n");
            using var collector = new ProcNetTcpCollector(dir.FullName);
            var table = new SocketTable();
            var stats = collector.Collect(table, CollectRequest.All);
            Assert.Equal(3, table.Count);
            Assert.Equal(1, stats.Duplicates);
            Assert.Equal(2, table.Records.ToArray().Count(r => r.State == TcpState.Listen));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
