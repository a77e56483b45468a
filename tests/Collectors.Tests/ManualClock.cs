namespace SockWatch.Collectors.Tests;

/// <summary>A clock that moves only when told: timestamps in ticks, starting at an arbitrary point.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks = 1_000_000;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _ticks;

    public void Advance(TimeSpan by) => _ticks += by.Ticks;
}
