using System.Runtime.InteropServices;
using System.Text;
using SockWatch.Collectors.Interop;

namespace SockWatch.Collectors.Ownership;

/// <summary>What reading a /proc/PID file came to.</summary>
internal enum ProcRead
{
    Ok,

    /// <summary>ENOENT or ESRCH: the process is gone (expected, never an error).</summary>
    Gone,

    /// <summary>EACCES or EPERM: not ours to read without CAP_SYS_PTRACE / CAP_DAC_READ_SEARCH.</summary>
    Denied,

    /// <summary>Any other errno.</summary>
    Failed,
}

/// <summary>
/// NUL-terminated /proc/PID/NAME paths built in a caller's buffer, and small files read through
/// libc into a caller's buffer: a poll over 1,000 processes allocates no path or handle objects.
/// </summary>
internal static unsafe class ProcPath
{
    public const int MaxPath = 512;

    /// <summary>Writes "ROOT/PID/NAME\0" into <paramref name="buffer"/>; returns the length without the NUL.</summary>
    public static int Build(Span<byte> buffer, ReadOnlySpan<byte> root, int pid, ReadOnlySpan<byte> name)
    {
        var n = 0;
        root.CopyTo(buffer);
        n += root.Length;
        buffer[n++] = (byte)'/';
        if (pid > 0)
        {
            pid.TryFormat(buffer[n..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
            n += digits;
            if (!name.IsEmpty)
            {
                buffer[n++] = (byte)'/';
            }
        }

        name.CopyTo(buffer[n..]);
        n += name.Length;
        buffer[n] = 0;
        return n;
    }

    public static byte[] RootBytes(string root) => Encoding.UTF8.GetBytes(root.TrimEnd('/'));

    /// <summary>Reads up to buffer.Length bytes of a small file.</summary>
    public static ProcRead ReadFile(ReadOnlySpan<byte> nulTerminatedPath, Span<byte> buffer, out int length)
    {
        length = 0;
        int fd;
        fixed (byte* p = nulTerminatedPath)
        {
            fd = Libc.Open(p, Libc.O_RDONLY | Libc.O_CLOEXEC);
        }

        if (fd < 0)
        {
            return Classify(Marshal.GetLastPInvokeError());
        }

        try
        {
            fixed (byte* b = buffer)
            {
                while (length < buffer.Length)
                {
                    var n = Libc.Read(fd, b + length, (nuint)(buffer.Length - length));
                    if (n == 0)
                    {
                        break;
                    }

                    if (n < 0)
                    {
                        var errno = Marshal.GetLastPInvokeError();
                        if (errno == Libc.Errno.EINTR)
                        {
                            continue;
                        }

                        return Classify(errno);
                    }

                    length += (int)n;
                }
            }

            return ProcRead.Ok;
        }
        finally
        {
            _ = Libc.Close(fd);
        }
    }

    public static ProcRead Classify(int errno) => errno switch
    {
        Libc.Errno.ENOENT or 3 /* ESRCH */ => ProcRead.Gone,
        13 /* EACCES */ or Libc.Errno.EPERM => ProcRead.Denied,
        _ => ProcRead.Failed,
    };
}
