using System.Globalization;

namespace SockWatch.Core;

/// <summary>Durations as Prometheus and Go write them: 500ms, 90s, 2m, 1h30m, 1d.</summary>
public static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var s = text.Trim();
        if (s == "0")
        {
            return true;
        }

        var i = 0;
        var total = 0.0;
        var any = false;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == start || !long.TryParse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return false;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }

            double ms = s[unitStart..i] switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => double.NaN,
            };
            if (double.IsNaN(ms))
            {
                return false;
            }

            total += n * ms;
            any = true;
        }

        if (!any || total > TimeSpan.MaxValue.TotalMilliseconds)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(total);
        return true;
    }

    public static string Format(TimeSpan d) =>
        d == TimeSpan.Zero ? "0"
        : d.TotalMilliseconds < 1000 ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalMilliseconds:0}ms")
        : d.TotalSeconds < 60 || d.TotalSeconds % 60 != 0 ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalSeconds:0.###}s")
        : d.TotalMinutes < 60 || d.TotalMinutes % 60 != 0 ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalMinutes:0}m")
        : string.Create(CultureInfo.InvariantCulture, $"{d.TotalHours:0}h");
}
