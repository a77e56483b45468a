using System.Text;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// Text that a process or the kernel chose (process and unit names, and the findings' sentences
/// that quote them), made safe to hand to an encoder: lone surrogates and control characters
/// become U+FFFD. Encoding for HTML, SVG and JSON is the encoders' job; this only makes sure they
/// get valid text, since a JSON writer refuses a lone surrogate.
/// </summary>
internal static class WebText
{
    public static string Clean(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return value ?? "";
        }

        var clean = true;
        for (var i = 0; i < value.Length && clean; i++)
        {
            clean = !char.IsControl(value[i]) && !char.IsSurrogate(value[i]);
        }

        if (clean)
        {
            return value;
        }

        var sb = new StringBuilder(value.Length);
        var at = 0;
        while (at < value.Length)
        {
            if (Rune.DecodeFromUtf16(value.AsSpan(at), out var rune, out var used) != System.Buffers.OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
                used = Math.Max(used, 1);
            }

            sb.Append(Rune.IsControl(rune) ? "\uFFFD" : rune.ToString());
            at += used;
        }

        return sb.ToString();
    }
}
