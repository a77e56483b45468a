using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Facts;

/// <summary>
/// How near a process is to EMFILE: its open descriptors (entries of /proc/PID/fd) against the
/// soft RLIMIT_NOFILE in /proc/PID/limits ("Max open files  1024  524288  files").
/// </summary>
/// <remarks>
/// On a real proc file system (Linux 6.2+) the size of /proc/PID/fd is the number of open
/// descriptors: one stat, where listing a process holding 20,000 sockets would cost tens of
/// milliseconds every poll. Elsewhere (older kernels report 0; a fixture tree is a plain
/// directory) the entries are counted.
/// </remarks>
public sealed class DescriptorUsageReader(string procRoot = "/proc")
{
    private readonly bool _isProcFs = IsProcFs(procRoot);

    public DescriptorUsage? Read(int pid)
    {
        var dir = Path.Join(procRoot, pid.ToString(CultureInfo.InvariantCulture));
        long open;
        try
        {
            open = (_isProcFs ? SizeOf(Path.Join(dir, "fd")) : 0) is var size and > 0
                ? size
                : Directory.EnumerateFileSystemEntries(Path.Join(dir, "fd")).LongCount();
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

    /// <summary>Whether <paramref name="path"/> is on a proc file system (statfs f_type PROC_SUPER_MAGIC).</summary>
    internal static unsafe bool IsProcFs(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var buffer = stackalloc byte[Interop.Libc.StatFsSize];
        fixed (byte* p = bytes)
        {
            return Interop.Libc.StatFs(p, buffer) == 0 && *(long*)buffer == Interop.Libc.ProcSuperMagic;
        }
    }

    /// <summary>st_size of a path; 0 when it cannot be read.</summary>
    private static unsafe long SizeOf(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var stat = stackalloc byte[Interop.Libc.StatLayout.Size];
        fixed (byte* p = bytes)
        {
            return Interop.Libc.FStatAt(Interop.Libc.AT_FDCWD, p, stat, 0) == 0 ? *(long*)(stat + Interop.Libc.StatLayout.StSizeOffset) : 0;
        }
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
