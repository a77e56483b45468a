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

    [Fact]
    public void A_negative_duration_is_rejected_by_name()
    {
        var errors = new DetectorOptions { CloseWaitLeakAfter = TimeSpan.FromSeconds(-1) }.Validate();
        var error = Assert.Single(errors);
        Assert.Equal(nameof(DetectorOptions.CloseWaitLeakAfter), error.Key);
        Assert.Contains("negative", error.Reason, StringComparison.Ordinal);
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
