using System.Globalization;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// Whether stdout is systemd's journal. systemd sets JOURNAL_STREAM=DEVICE:INODE to the stream
/// it connected a service's stdout and stderr to (StandardOutput=journal, the default); the
/// variable is inherited by children and survives a redirect, so it counts only while fd 1 is
/// still that socket. Then every line goes out with its syslog priority in front (`<4>` for a
/// warning), and the journal files it at that priority: `journalctl -p warning` shows warnings.
/// </summary>
internal static class JournalStream
{
    /// <summary>True when JOURNAL_STREAM names the socket that fd 1 is.</summary>
    public static bool IsStdout(string? journalStream, Func<string?> stdoutLink)
    {
        ArgumentNullException.ThrowIfNull(stdoutLink);
        var colon = journalStream?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon < 0 || !ulong.TryParse(journalStream.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
        {
            return false;
        }

        // /proc/self/fd/1 of a socket reads "socket:[INODE]": the same inode as in the variable.
        return stdoutLink() == string.Create(CultureInfo.InvariantCulture, $"socket:[{inode}]");
    }

    /// <summary>Where /proc/self/fd/1 points; null when it cannot be read.</summary>
    public static string? ReadStdoutLink()
    {
        try
        {
            return new FileInfo("/proc/self/fd/1").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
