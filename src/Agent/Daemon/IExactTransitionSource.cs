using SockWatch.Core;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// The seam for exact transition counts: a tracer of the kernel's TCP state changes (issue 17's
/// <c>sockwatch trace</c>) implements it and is registered as a service; the poll loop takes its
/// counts after every poll and the page's edges show them as <c>traced</c>. With no source, or
/// when <see cref="Take"/> returns null (the tracer is off or failed), the edges show the
/// transitions inferred from the polls and say so (docs/web.md, "Transitions").
/// </summary>
internal interface IExactTransitionSource
{
    /// <summary>The state changes counted since the previous call, up to <paramref name="until"/>, by namespace name; null when none were counted.</summary>
    ExactTransitions? Take(DateTimeOffset until);
}
