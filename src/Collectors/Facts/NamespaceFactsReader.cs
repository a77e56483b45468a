using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Facts;

/// <summary>
/// Reads the facts the detectors weigh sockets against from /proc/sys/net/ipv4 and
/// /proc/net/netstat. Both are per network namespace: they describe the namespace of the
/// reading thread (use a thread that entered the namespace, and thread-self/net for netstat).
/// A file that cannot be read leaves its fact null: no data is not a failure.
/// With <paramref name="keepOpen"/>, the five files stay open from poll to poll (see
/// <see cref="ProcFile"/>): a poll of 200 namespaces then reads 1,000 files without opening one,
/// and the facts keep describing the namespace of the first read, from any thread.
/// </summary>
public sealed class NamespaceFactsReader(string procRoot = "/proc", string netDirectory = "net", bool keepOpen = false) : IDisposable
{
    private readonly ProcFile _portRange = Sysctl(procRoot, "ip_local_port_range", keepOpen);
    private readonly ProcFile _reservedPorts = Sysctl(procRoot, "ip_local_reserved_ports", keepOpen);
    private readonly ProcFile _maxTimeWait = Sysctl(procRoot, "tcp_max_tw_buckets", keepOpen);
    private readonly ProcFile _finTimeout = Sysctl(procRoot, "tcp_fin_timeout", keepOpen);
    private readonly ProcFile _netstat = new(Path.Join(procRoot, netDirectory, "netstat"), keepOpen);

    public NamespaceFacts Read() => new()
    {
        EphemeralPorts = ParsePortRange(_portRange.ReadText()),
        ReservedPorts = ParseReservedPorts(_reservedPorts.ReadText()),
        MaxTimeWaitBuckets = ParseLong(_maxTimeWait.ReadText()),
        FinTimeoutSeconds = (int?)ParseLong(_finTimeout.ReadText()),
        Counters = ParseNetstat(_netstat.ReadText(), "TcpExt:"),
    };

    public void Dispose()
    {
        _portRange.Dispose();
        _reservedPorts.Dispose();
        _maxTimeWait.Dispose();
        _finTimeout.Dispose();
        _netstat.Dispose();
    }

    private static ProcFile Sysctl(string procRoot, string name, bool keepOpen) =>
        new(Path.Join(procRoot, "sys", "net", "ipv4", name), keepOpen);

    /// <summary>"32768\t60999" (two numbers separated by white space).</summary>
    public static PortRange? ParsePortRange(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 2
               && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var low)
               && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var high)
               && low <= high
            ? new PortRange(low, high)
            : null;
    }

    /// <summary>"8080,9000-9010" (comma-separated ports and ranges; empty when none).</summary>
    public static IReadOnlyList<PortRange> ParseReservedPorts(string? text)
    {
        var ranges = new List<PortRange>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return ranges;
        }

        foreach (var item in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = item.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0 && int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            {
                ranges.Add(new PortRange(port, port));
            }
            else if (dash > 0
                     && int.TryParse(item.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var low)
                     && int.TryParse(item.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var high)
                     && low <= high)
            {
                ranges.Add(new PortRange(low, high));
            }
        }

        return ranges;
    }

    /// <summary>
    /// Pairs of lines "Prefix: name1 name2 ..." / "Prefix: v1 v2 ...": values matched to names
    /// by position, because the set of columns changes from kernel to kernel.
    /// </summary>
    public static IReadOnlyDictionary<string, long> ParseNetstat(string? text, string prefix)
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        if (text is null)
        {
            return counters;
        }

        string[]? names = null;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(prefix, StringComparison.Ordinal))
            {
                names = null;
                continue;
            }

            var fields = line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names is null)
            {
                names = fields;
                continue;
            }

            for (var i = 0; i < Math.Min(names.Length, fields.Length); i++)
            {
                if (long.TryParse(fields[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
                {
                    counters[names[i]] = v;
                }
            }

            names = null;
        }

        return counters;
    }

    private static long? ParseLong(string? text) =>
        long.TryParse(text?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
}
