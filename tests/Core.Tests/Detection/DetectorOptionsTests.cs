using SockWatch.Core.Detection;

namespace SockWatch.Core.Tests.Detection;

public class DetectorOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_match_the_constants()
    {
        var o = new DetectorOptions();
        Assert.Empty(o.Validate());
        Assert.Equal(TimeSpan.FromMinutes(2), o.CloseWaitLeakAfter);
        Assert.Equal(TimeSpan.FromMinutes(1), o.LastAckStuckAfter);
        Assert.Equal(0.8, o.EphemeralPortUtilization);
        Assert.Equal(0.8, o.AcceptQueueUtilization);
        Assert.Equal(0.8, o.TimeWaitBucketUtilization);
        Assert.Equal(3, o.SynSentRetries);
        Assert.Equal(10, o.GrowthWindowPolls);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    public void A_duration_not_above_zero_is_rejected_by_name(int seconds)
    {
        // Core once took 0 here while the Agent refused it; DetectorLimits is now the one rule.
        var errors = new DetectorOptions { CloseWaitLeakAfter = TimeSpan.FromSeconds(seconds) }.Validate();
        var error = Assert.Single(errors);
        Assert.Equal(nameof(DetectorOptions.CloseWaitLeakAfter), error.Key);
        Assert.Equal("must be more than 0s", error.Reason);
        Assert.Equal(nameof(DetectorOptions.LastAckStuckAfter), Assert.Single(new DetectorOptions { LastAckStuckAfter = TimeSpan.Zero }.Validate()).Key);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(100, true)]
    [InlineData(101, false)]
    public void Syn_sent_retries_are_from_1_to_100(int retries, bool valid)
    {
        // Core once took any count from 1 up while the Agent stopped at 100.
        var errors = new DetectorOptions { SynSentRetries = retries }.Validate();
        Assert.Equal(valid, errors.Count == 0);
        if (!valid)
        {
            Assert.Equal((nameof(DetectorOptions.SynSentRetries), "must be from 1 to 100"), Assert.Single(errors));
        }
    }

    [Fact]
    public void Bounds_describe_themselves_and_refuse_nan()
    {
        Assert.Equal("in (0, 1]", DetectorLimits.Ratio.Describe());
        Assert.Equal("at least 1", DetectorLimits.CloseWaitCriticalCount.Describe());
        Assert.False(DetectorLimits.Ratio.Allows(double.NaN));
        Assert.True(DetectorLimits.Ratio.Allows(1.0));
        Assert.False(DetectorLimits.Ratio.Allows(0.0));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void A_ratio_outside_zero_to_one_is_rejected(double ratio)
    {
        var errors = new DetectorOptions { AcceptQueueUtilization = ratio }.Validate();
        var error = Assert.Single(errors);
        Assert.Equal(nameof(DetectorOptions.AcceptQueueUtilization), error.Key);
    }

    [Fact]
    public void A_ratio_of_exactly_one_is_accepted()
    {
        Assert.Empty(new DetectorOptions { TimeWaitBucketUtilization = 1.0, EphemeralPortUtilization = 0.95 }.Validate());
    }

    [Fact]
    public void Every_error_is_reported_not_only_the_first()
    {
        var errors = new DetectorOptions
        {
            LastAckStuckAfter = TimeSpan.FromSeconds(-5),
            TimeWaitBucketUtilization = 2,
            SynSentRetries = 0,
            GrowthWindowPolls = 0,
        }.Validate();

        Assert.Equal(
            ["GrowthWindowPolls", "LastAckStuckAfter", "SynSentRetries", "TimeWaitBucketUtilization"],
            errors.Select(e => e.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_critical_port_ratio_may_not_be_below_the_warning_ratio()
    {
        var errors = new DetectorOptions { EphemeralPortUtilization = 0.9, EphemeralPortCriticalUtilization = 0.85 }.Validate();
        Assert.Equal(nameof(DetectorOptions.EphemeralPortCriticalUtilization), Assert.Single(errors).Key);
    }

    [Fact]
    public void Detectors_refuse_invalid_options_naming_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() => new Detectors(new DetectorOptions { SynSentRetries = -1 }));
        Assert.StartsWith("SynSentRetries:", e.Message, StringComparison.Ordinal);
    }
}
