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
