using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Facts;

/// <summary>
/// How near a process is to EMFILE: its open descriptors (entries of /proc/PID/fd) against the
/// soft RLIMIT_NOFILE in /proc/PID/limits ("Max open files  1024  524288  files").
/// </summary>
public sealed class DescriptorUsageReader(string procRoot = "/proc")
{
    public DescriptorUsage? Read(int pid)
    {
        var dir = Path.Join(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        long open;
        try
        {
            open = Directory.EnumerateFileSystemEntries(Path.Join(dir, "fd")).LongCount();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // gone, or not ours to read
        }

        string? limits = null;
        try
        {
            limits = File.ReadAllText(Path.Join(dir, "limits"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the count alone is still worth reporting
        }

        return new DescriptorUsage(open, ParseOpenFilesLimit(limits));
    }

    /// <summary>The soft limit of "Max open files"; null when absent or "unlimited".</summary>
    public static long? ParseOpenFilesLimit(string? limits)
    {
        if (limits is null)
        {
            return null;
        }

        foreach (var line in limits.Split('\n'))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                continue;
            }

            var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
        }

        return null;
    }
}
