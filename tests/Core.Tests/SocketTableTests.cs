using System.Net;
using SockWatch.Core;

namespace SockWatch.Core.Tests;

public class SocketTableTests
{
    [Fact]
    public void Append_grows_and_reuse_keeps_capacity()
    {
        var table = new SocketTable(256);
        for (var i = 0; i < 1000; i++)
        {
            ref var r = ref table.Append();
            r.State = TcpState.Established;
            r.LocalPort = (ushort)i;
        }

        Assert.Equal(1000, table.Count);
        var capacity = table.Capacity;
        table.Clear();
        Assert.Equal(0, table.Count);
        for (var i = 0; i < 1000; i++)
        {
            table.Append();
        }

        Assert.Equal(capacity, table.Capacity);
    }

    [Fact]
    public void EnsureCapacity_grows_geometrically_so_segment_by_segment_fills_copy_little()
    {
        // NamespaceCollector appends namespace after namespace, making room for each: 200
        // segments of 500 records must not regrow (and copy) the table 200 times.
        var table = new SocketTable(256);
        var growths = 0;
        for (var segment = 0; segment < 200; segment++)
        {
            var before = table.Capacity;
            table.EnsureCapacity(table.Count + 500);
            if (table.Capacity != before)
            {
                growths++;
                Assert.True(table.Capacity >= 2 * before, $"grew from {before} to {table.Capacity}");
            }

            Assert.True(table.Capacity >= table.Count + 500);
            for (var i = 0; i < 500; i++)
            {
                table.Append().Inode = (ulong)((segment * 500) + i);
            }
        }

        Assert.InRange(growths, 1, 10); // 256 to 100,000 by doubling: 9
        Assert.Equal(100_000, table.Count);
        Assert.Equal(99_999UL, table[99_999].Inode); // the copies kept every record
        Assert.Equal(12_345UL, table[12_345].Inode);

        var sized = new SocketTable(256);
        sized.EnsureCapacity(10_000); // far beyond twice: exactly what was asked
        Assert.Equal(10_000, sized.Capacity);
        sized.EnsureCapacity(9_000); // already there: unchanged
        Assert.Equal(10_000, sized.Capacity);
    }

    [Fact]
    public void Append_returns_a_zeroed_slot_after_reuse()
    {
        var table = new SocketTable();
        table.Append().Inode = 42;
        table.Clear();
        Assert.Equal(0UL, table.Append().Inode);
    }

    [Fact]
    public void Counts_by_state()
    {
        var table = new SocketTable();
        table.Append().State = TcpState.CloseWait;
        table.Append().State = TcpState.CloseWait;
        table.Append().State = TcpState.Listen;
        var counts = table.CountByState();
        Assert.Equal(2, counts[(int)TcpState.CloseWait]);
        Assert.Equal(1, counts[(int)TcpState.Listen]);
        Assert.Equal(3, counts.Sum());
    }

    [Fact]
    public void Truncate_rejects_growth()
    {
        var table = new SocketTable();
        table.Append();
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Truncate(2));
        table.Truncate(0);
        Assert.Equal(0, table.Count);
    }

    [Theory]
    [InlineData("127.0.0.1", SocketFamily.Inet, "127.0.0.1")]
    [InlineData("10.1.2.3", SocketFamily.Inet, "10.1.2.3")]
    [InlineData("::1", SocketFamily.Inet6, "::1")]
    [InlineData("::ffff:127.0.0.1", SocketFamily.Inet6, "::ffff:127.0.0.1")]
    [InlineData("2001:db8::1", SocketFamily.Inet6, "2001:db8::1")]
    public void Addresses_format_as_the_kernel_has_them(string text, SocketFamily family, string expected)
    {
        var address = IpAddressBytes.FromIPAddress(IPAddress.Parse(text));
        Assert.Equal(expected, address.Format(family));
        Assert.Equal(IPAddress.Parse(text), address.ToIPAddress(family));
    }
}

public class SocketRecordLayoutTests
{
    [Fact]
    public void A_record_stays_small() =>
        Assert.Equal(120, System.Runtime.CompilerServices.Unsafe.SizeOf<SocketRecord>());
}
