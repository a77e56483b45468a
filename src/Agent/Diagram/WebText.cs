namespace SockWatch.Agent.Diagram;

/// <summary>
/// Text that a process or the kernel chose (the findings' subjects and sentences, which quote
/// process names), made safe to hand to an encoder: lone surrogates and control characters become
/// U+FFFD, as in metric labels, but not cut short. Encoding for HTML, SVG and JSON is the
/// encoders' job; this only makes sure they get valid text, since a JSON writer refuses a lone
/// surrogate.
/// </summary>
internal static class WebText
{
    /// <summary>Longer text is cut (with "…"); no sentence of a detector comes near it.</summary>
    public const int MaxLength = 64 * 1024;

    public static string Clean(string? value) => string.IsNullOrEmpty(value) ? "" : Metrics.PollMetrics.Label(value, MaxLength);
}
