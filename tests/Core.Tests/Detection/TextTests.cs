using SockWatch.Core.Detection;

namespace SockWatch.Core.Tests.Detection;

public class TextTests
{
    [Theory]
    [InlineData(0, "0 s")]
    [InlineData(40, "40 s")]
    [InlineData(59.9, "59 s")]
    [InlineData(60, "1 min")]
    [InlineData(47 * 60 + 59, "47 min")]
    [InlineData(3 * 3600, "3 h")]
    [InlineData(3 * 3600 + 5 * 60 + 30, "3 h 5 min")]
    [InlineData(2 * 86400 + 4 * 3600 + 120, "2 d 4 h")]
    [InlineData(-5, "0 s")]
    public void Ages_are_truncated_to_two_units_at_most(double seconds, string expected) =>
        Assert.Equal(expected, Text.Age(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1023, "1023 B")]
    [InlineData(1536, "1.5 KiB")]
    [InlineData(4 * 1024 * 1024, "4 MiB")]
    [InlineData(15L * 1024 * 1024 + 100, "15 MiB")]
    [InlineData(3L * 1024 * 1024 * 1024, "3 GiB")]
    public void Bytes_use_binary_units(long bytes, string expected) => Assert.Equal(expected, Text.Bytes(bytes));

    [Fact]
    public void Inet6_endpoints_are_bracketed_and_mapped_addresses_kept()
    {
        var r = Sock.Make(TcpState.Established, "[::ffff:127.0.0.1]:80", "[2001:db8::1]:5432");
        Assert.Equal("[::ffff:127.0.0.1]:80", Text.Endpoint(r.Family, r.LocalAddress, r.LocalPort));
        Assert.Equal("[2001:db8::1]:5432", Text.Endpoint(r.Family, r.RemoteAddress, r.RemotePort));
    }

    [Fact]
    public void Percent_is_truncated_not_rounded_up() => Assert.Equal("89%", Text.Percent(0.899));
}
