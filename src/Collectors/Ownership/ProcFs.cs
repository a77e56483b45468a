using System.Text;

namespace SockWatch.Collectors.Ownership;

/// <summary>
/// Pure parsers for the /proc/PID files ownership reads (fs/proc/array.c, fs/proc/fd.c).
/// Bytes in, values out; the reading lives in <see cref="ProcessScanner"/>.
/// </summary>
public static class ProcFs
{
    /// <summary>
    /// /proc/PID/stat: "pid (comm) state ppid ...". comm can hold spaces and parentheses, so it
    /// runs from the first '(' to the LAST ')'. starttime is field 22, counted from the pid as 1,
    /// i.e. field 20 after the closing parenthesis (state is field 3).
    /// </summary>
    public static bool TryParseStat(ReadOnlySpan<byte> stat, out string comm, out ulong startTime)
    {
        comm = string.Empty;
        startTime = 0;
        var open = stat.IndexOf((byte)'(');
        var close = stat.LastIndexOf((byte)')');
        if (open < 0 || close <= open)
        {
            return false;
        }

        // comm is at most 15 bytes of whatever the process set: decode as UTF-8, replacing what is not.
        comm = Encoding.UTF8.GetString(stat[(open + 1)..close]);
        // Fields after the ')' start with field 3 (state): starttime, field 22, is the 20th of them.
        var rest = stat[(close + 1)..];
        Span<Range> fields = stackalloc Range[20];
        return ProcNetTcpParser.SplitFields(rest, fields) == fields.Length && TryParseDecimal(rest[fields[^1]], out startTime);
    }

    /// <summary>/proc/PID/status: the real uid, the first number of the "Uid:" line.</summary>
    public static bool TryParseStatusUid(ReadOnlySpan<byte> status, out uint uid)
    {
        uid = 0;
        var at = status.IndexOf("\nUid:"u8);
        if (at < 0)
        {
            return false;
        }

        var rest = status[(at + 5)..];
        var i = 0;
        while (i < rest.Length && (rest[i] == (byte)' ' || rest[i] == (byte)'\t'))
        {
            i++;
        }

        var start = i;
        while (i < rest.Length && rest[i] is >= (byte)'0' and <= (byte)'9')
        {
            i++;
        }

        if (!TryParseDecimal(rest[start..i], out var value) || value > uint.MaxValue)
        {
            return false;
        }

        uid = (uint)value;
        return true;
    }

    /// <summary>A descriptor's link target "socket:[12345]" gives the socket inode; anything else is not a socket.</summary>
    public static bool TryParseSocketLink(ReadOnlySpan<byte> target, out ulong inode)
    {
        inode = 0;
        if (target.Length > 9 && target.StartsWith("socket:["u8) && target[^1] == (byte)']'
            && TryParseDecimal(target[8..^1], out var value))
        {
            inode = value;
            return true;
        }

        return false;
    }

    /// <summary>A /proc entry name that is a pid (all digits).</summary>
    public static bool TryParsePid(ReadOnlySpan<byte> name, out int pid)
    {
        pid = 0;
        if (name.IsEmpty || name.Length > 10 || !TryParseDecimal(name, out var value) || value is 0 or > int.MaxValue)
        {
            return false;
        }

        pid = (int)value;
        return true;
    }

    /// <summary>An unsigned decimal, digits only; <paramref name="value"/> is 0 when it is not one.</summary>
    internal static bool TryParseDecimal(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 20)
        {
            return false;
        }

        ulong v = 0;
        foreach (var c in text)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            var next = (v * 10) + (ulong)(c - '0');
            if (next < v)
            {
                return false;
            }

            v = next;
        }

        value = v;
        return true;
    }
}
