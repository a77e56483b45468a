using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace SockWatch.Agent.Interop;

/// <summary>
/// The system's crypt(3) through libcrypt.so.1 (libxcrypt): password hashes such as bcrypt are
/// computed by the library every distribution audits, not by a bcrypt of our own. Thread-safe:
/// every call has its own struct crypt_data.
/// </summary>
internal static unsafe class SystemCrypt
{
    /// <summary>
    /// crypt_r(<paramref name="phrase"/>, <paramref name="setting"/>): the hash as ASCII bytes, or
    /// null when libcrypt refuses (a method it does not know, a malformed setting, a phrase of 512
    /// bytes or more). A phrase holding a NUL byte is refused too: crypt(3) would stop reading at
    /// it, so "secret\0anything" would match "secret".
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">libcrypt.so.1, or crypt_r in it, is missing.</exception>
    public static byte[]? Crypt(ReadOnlySpan<byte> phrase, string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        if (phrase.Length >= LibCrypt.CryptMaxPassphraseSize || phrase.Contains((byte)0)
            || setting.Length is 0 or >= LibCrypt.CryptOutputSize || !Ascii.IsValid(setting) || setting.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        Span<byte> phraseZ = stackalloc byte[LibCrypt.CryptMaxPassphraseSize];
        Span<byte> settingZ = stackalloc byte[LibCrypt.CryptOutputSize];
        phrase.CopyTo(phraseZ);
        phraseZ[phrase.Length] = 0;
        Encoding.ASCII.GetBytes(setting, settingZ);
        settingZ[setting.Length] = 0;

        var data = NativeMemory.AllocZeroed(LibCrypt.CryptDataSize);
        try
        {
            fixed (byte* p = phraseZ)
            fixed (byte* s = settingZ)
            {
                var result = LibCrypt.CryptR(p, s, data);
                if (result is null || *result == (byte)'*')
                {
                    return null;
                }

                return MemoryMarshal.CreateReadOnlySpanFromNullTerminated(result).ToArray();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw Unavailable(e);
        }
        finally
        {
            // The struct holds the key schedule derived from the phrase.
            NativeMemory.Clear(data, LibCrypt.CryptDataSize);
            NativeMemory.Free(data);
            CryptographicOperations.ZeroMemory(phraseZ);
        }
    }

    /// <summary>A new setting for <paramref name="prefix"/> (such as "$2b$") at <paramref name="cost"/>, with a random salt from libcrypt; null when refused.</summary>
    /// <exception cref="PlatformNotSupportedException">libcrypt.so.1, or crypt_gensalt_rn in it, is missing.</exception>
    public static string? NewSetting(string prefix, int cost)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(cost);
        if (prefix.Length is 0 or > 16 || !Ascii.IsValid(prefix))
        {
            return null;
        }

        Span<byte> prefixZ = stackalloc byte[17];
        Encoding.ASCII.GetBytes(prefix, prefixZ);
        prefixZ[prefix.Length] = 0;
        Span<byte> output = stackalloc byte[LibCrypt.CryptOutputSize];
        try
        {
            fixed (byte* p = prefixZ)
            fixed (byte* o = output)
            {
                var result = LibCrypt.CryptGensaltRn(p, (nuint)cost, null, 0, o, LibCrypt.CryptOutputSize);
                return result is null || *result == (byte)'*' ? null : Encoding.ASCII.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(result));
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw Unavailable(e);
        }
    }

    private static PlatformNotSupportedException Unavailable(Exception e) =>
        new("libcrypt.so.1 (libxcrypt) is needed for password hashes: " + e.Message, e);
}
