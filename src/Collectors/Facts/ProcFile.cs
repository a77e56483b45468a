using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace SockWatch.Collectors.Facts;

/// <summary>
/// One small procfs file (a sysctl, netstat, sockstat), read whole on every poll. With
/// <c>keepOpen</c> the handle of the first read is kept and every later read starts again at
/// offset 0: procfs makes the text afresh for a read at offset 0 (a seq file starts over, a
/// sysctl formats its current value), so the kept handle shows what an open now would, without
/// the path walk an open costs. A handle stays bound to the network namespace it was opened in,
/// whichever thread reads it later; its owner must let it go when that namespace is gone.
/// A kept handle whose read fails is closed, and the next read opens the file again.
/// </summary>
public sealed class ProcFile(string path, bool keepOpen) : IDisposable
{
    private SafeFileHandle? _handle;

    public string Path => path;

    /// <summary>Whether a handle is held now (for tests).</summary>
    internal bool HoldsHandle => _handle is not null;

    /// <summary>
    /// Reads the whole file into <paramref name="buffer"/>, a buffer of <see cref="ArrayPool{T}.Shared"/>
    /// that is swapped for a bigger one from the pool when the text does not fit. Returns the
    /// length read, or -1 when the file cannot be opened or read.
    /// </summary>
    public int Read(ref byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var handle = _handle;
        var kept = handle is not null;
        try
        {
            handle ??= File.OpenHandle(path);
            var length = ReadAll(handle, ref buffer);
            if (keepOpen && !kept)
            {
                _handle = handle;
                kept = true;
            }

            return length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (kept)
            {
                _handle = null;
                kept = false;
            }

            return -1;
        }
        finally
        {
            if (!kept)
            {
                handle?.Dispose();
            }
        }
    }

    /// <summary>The whole file as text, or null when it cannot be read.</summary>
    public string? ReadText()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var length = Read(ref buffer);
            return length < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    /// <summary>procfs reports a size of 0, so read from offset 0 until a read returns nothing.</summary>
    private static int ReadAll(SafeFileHandle handle, ref byte[] buffer)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = bigger;
            }

            var n = RandomAccess.Read(handle, buffer.AsSpan(length), length);
            if (n == 0)
            {
                return length;
            }

            length += n;
        }
    }
}
