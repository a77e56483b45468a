using SockWatch.Core;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>Inputs the fuzzing campaigns found, kept as regression tests.</summary>
public class FuzzRegressionTests
{
    private const uint Seq = 7;

    /// <summary>
    /// Found by the netlink campaign (seed 20251123, index 568): an NLMSG_ERROR whose error is 1,
    /// not a negative errno, gave a CollectorException with Errno -1 and the reason label "e-1";
    /// every such value made a new label value. Now it is EPROTO.
    /// </summary>
    [Fact]
    public void Recorded_input_with_a_positive_nlmsgerr_is_refused_with_eproto()
    {
        var datagram = Convert.FromHexString(
            "600000000200028007000000340E000001000000CA4D9CEE7F0000010000000000000000000000007F0000010000000000000000"
            + "00000000000000000700000000000000880100000000000000000000000000000000000008000F0000000000");
        var e = Parse(datagram);
        Assert.Equal(CollectorErrorKind.DumpRefused, e.Kind);
        Assert.Equal(71, e.Errno);
        Assert.Equal("eproto", e.Reason);
    }

    [Theory]
    [InlineData(2, 71)]                      // positive: not what the kernel sends
    [InlineData(int.MaxValue, 71)]
    [InlineData(int.MinValue, 71)]           // -int.MinValue overflows to itself
    [InlineData(-4096, 71)]                  // beyond MAX_ERRNO
    [InlineData(-4095, 4095)]
    [InlineData(-2, 2)]                      // a real errno is kept
    public void Nlmsgerr_values_that_are_no_errno_become_eproto(int error, int errno)
    {
        var e = Parse(new NetlinkMessages().Error(Seq, error).ToArray());
        Assert.Equal(CollectorErrorKind.DumpRefused, e.Kind);
        Assert.Equal(errno, e.Errno);
    }

    [Theory]
    [InlineData(int.MinValue, 71)]
    [InlineData(-5000, 71)]
    [InlineData(-105, 105)]
    public void Done_statuses_that_are_no_errno_become_eproto(int status, int errno)
    {
        var e = Parse(new NetlinkMessages().Done(Seq, status).ToArray());
        Assert.Equal(CollectorErrorKind.DumpFailed, e.Kind);
        Assert.Equal(errno, e.Errno);
    }

    private static CollectorException Parse(byte[] datagram)
    {
        var table = new SocketTable();
        var stats = default(NetlinkDumpStats);
        return Assert.Throws<CollectorException>(() => NetlinkDiagParser.ParseDatagram(datagram, Seq, table, ref stats));
    }
}
