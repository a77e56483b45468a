using System.Globalization;

namespace SockWatch.Core.Detection;

/// <summary>
/// The words and numbers of findings, formatted the same way everywhere and independently of
/// the host's locale.
/// </summary>
public static class Text
{
    /// <summary>An address as the kernel has it (IPv4-mapped IPv6 stays <c>::ffff:a.b.c.d</c>).</summary>
    public static string Address(SocketFamily family, IpAddressBytes address) => address.Format(family);

    /// <summary><c>10.0.0.5:5432</c>, or <c>[::1]:5432</c> for inet6.</summary>
    public static string Endpoint(SocketFamily family, IpAddressBytes address, int port)
    {
        var text = address.Format(family);
        return family == SocketFamily.Inet6
            ? string.Create(CultureInfo.InvariantCulture, $"[{text}]:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"{text}:{port}");
    }

    /// <summary>
    /// A duration for a person: <c>40 s</c>, <c>47 min</c>, <c>3 h 5 min</c>, <c>2 d 4 h</c>.
    /// Truncated, never rounded up: ages here are lower bounds, and the text must not claim more.
    /// </summary>
    public static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero;
        }

        var c = CultureInfo.InvariantCulture;
        if (age < TimeSpan.FromMinutes(1))
        {
            return string.Create(c, $"{(long)age.TotalSeconds} s");
        }

        if (age < TimeSpan.FromHours(1))
        {
            return string.Create(c, $"{(long)age.TotalMinutes} min");
        }

        if (age < TimeSpan.FromDays(1))
        {
            return age.Minutes == 0
                ? string.Create(c, $"{(long)age.TotalHours} h")
                : string.Create(c, $"{(long)age.TotalHours} h {age.Minutes} min");
        }

        return age.Hours == 0
            ? string.Create(c, $"{(long)age.TotalDays} d")
            : string.Create(c, $"{(long)age.TotalDays} d {age.Hours} h");
    }

    /// <summary>A byte count in B, KiB, MiB or GiB: <c>900 B</c>, <c>1.5 KiB</c>, <c>4 MiB</c>.</summary>
    public static string Bytes(long bytes)
    {
        var c = CultureInfo.InvariantCulture;
        if (bytes < 1024)
        {
            return string.Create(c, $"{Math.Max(bytes, 0)} B");
        }

        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        // One decimal below ten units, where it still says something; whole numbers above.
        var format = value < 10 ? "0.#" : "0";
        return value.ToString(format, c) + " " + units[unit];
    }

    /// <summary>A ratio as a whole percentage, truncated: 0.899 is <c>89%</c>, never a rounded-up 90%.</summary>
    public static string Percent(double ratio) =>
        string.Create(CultureInfo.InvariantCulture, $"{Math.Floor(ratio * 100):0}%");

    /// <summary><c>1 socket</c>, <c>2 sockets</c>.</summary>
    public static string Count(long n, string singular, string plural) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? singular : plural)}");
}
