namespace SockWatch.Agent.Polling;

/// <summary>The stages of one poll, in the order they run.</summary>
internal enum PollStage
{
    Discover,
    Dump,
    Owners,
    Facts,
    Track,
    Detect,
}

/// <summary>How one stage of a poll went: how long it took and whether it succeeded.</summary>
internal readonly record struct StageReport(PollStage Stage, TimeSpan Duration, bool Success);
