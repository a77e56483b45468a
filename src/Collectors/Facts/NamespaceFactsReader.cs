using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Facts;

/// <summary>
/// Reads the facts the detectors weigh sockets against from /proc/sys/net/ipv4 and
/// /proc/net/netstat. Both are per network namespace: they describe the namespace of the
/// reading thread (use a thread that entered the namespace, and thread-self/net for netstat).
/// A file that cannot be read leaves its fact null: no data is not a failure.
/// </summary>
public sealed class NamespaceFactsReader(string procRoot = "/proc", string netDirectory = "net")
{
    private readonly string _ipv4 = Path.Join(procRoot, "sys", "net", "ipv4");
    private readonly string _netstat = Path.Join(procRoot, netDirectory, "netstat");

    public NamespaceFacts Read() => new()
    {
        EphemeralPorts = ParsePortRange(ReadText(Path.Join(_ipv4, "ip_local_port_range"))),
        ReservedPorts = ParseReservedPorts(ReadText(Path.Join(_ipv4, "ip_local_reserved_ports"))),
        MaxTimeWaitBuckets = ParseLong(ReadText(Path.Join(_ipv4, "tcp_max_tw_buckets"))),
        FinTimeoutSeconds = (int?)ParseLong(ReadText(Path.Join(_ipv4, "tcp_fin_timeout"))),
        Counters = ParseNetstat(ReadText(_netstat), "TcpExt:"),
    };

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

    private static string? ReadText(string path)
    {
        // Read whole by handle into one pooled buffer: a poll reads these five small files in
        // every namespace, and File.ReadAllText's stream and reader cost more than the read.
        // procfs reports a size of 0, so read until a read returns nothing.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            using var handle = File.OpenHandle(path);
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var n = RandomAccess.Read(handle, buffer.AsSpan(length), length);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }

            return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
