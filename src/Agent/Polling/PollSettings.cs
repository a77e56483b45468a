using SockWatch.Agent.Configuration;
using SockWatch.Collectors;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Polling;

/// <summary>
/// What a <see cref="PollPipeline"/> reads and which of its stages run. The commands differ only
/// here: <c>snapshot</c> asks for the states it prints and no tracking, <c>check</c> for the
/// detectors, <c>run</c> for everything and carries quiet namespaces.
/// </summary>
internal sealed record PollSettings
{
    /// <summary>tcp_info only for close_wait and fin_wait2, whose ages it bounds (the tracker's request).</summary>
    public static readonly CollectRequest TrackingRequest = new() { TcpInfoStateMask = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]) };

    public CollectorKind Collector { get; init; } = CollectorKind.Auto;

    /// <summary>Where proc is mounted.</summary>
    public string ProcRoot { get; init; } = "/proc";

    public NamespaceSelection Namespaces { get; init; } = NamespaceSelection.Self;

    /// <summary>
    /// How long another namespace whose TCP counters stand still may be carried from its last
    /// dump (see <see cref="CarriedSockets"/>); zero dumps every namespace every poll, as the
    /// one-shot commands do.
    /// </summary>
    public TimeSpan RedumpAfter { get; init; }

    /// <summary>What to ask the kernel for.</summary>
    public CollectRequest Request { get; init; } = TrackingRequest;

    /// <summary>Whether to name the owners (the owners stage): a walk of /proc that counting states does not need.</summary>
    public bool Owners { get; init; } = true;

    /// <summary>Whether to read each namespace's sysctls and counters (the facts stage).</summary>
    public bool Facts { get; init; } = true;

    /// <summary>The detectors' thresholds; null: neither the track nor the detect stage runs.</summary>
    public DetectorOptions? Detect { get; init; }

    /// <summary>Whether to ask systemd over the system bus about the units owning close_wait leaks (with the detectors only).</summary>
    public bool AskSystemd { get; init; }

    /// <summary>Every stage, as <c>check</c> runs them, from validated options (the daemon adds <see cref="RedumpAfter"/>).</summary>
    public static PollSettings For(SockWatchOptions options, NamespaceSelection namespaces)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new PollSettings
        {
            Collector = options.CollectorKind,
            ProcRoot = options.ProcRoot,
            Namespaces = namespaces,
            Detect = options.ToDetectorOptions(),
            AskSystemd = true,
        };
    }
}
