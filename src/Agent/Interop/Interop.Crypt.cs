using System.Runtime.InteropServices;

namespace SockWatch.Agent.Interop;

/// <summary>
/// libcrypt's reentrant entry points (crypt(3), crypt_gensalt(3)). On Debian 12 and every current
/// distribution libcrypt.so.1 is libxcrypt, which implements bcrypt ($2b$, $2y$, $2a$). Plain
/// crypt() is not thread-safe (one static buffer); crypt_r keeps all its state in the caller's
/// struct crypt_data. Callers go through <see cref="SystemCrypt"/>.
/// </summary>
internal static unsafe partial class LibCrypt
{
    private const string LibraryName = "libcrypt.so.1";

    /// <summary>
    /// Bytes allocated for struct crypt_data. libxcrypt's (crypt.h) is 32768: output[384],
    /// setting[384], input[512], reserved[767], initialized, internal[30720]. The older libcrypt of
    /// glibc (before 2.38, which has no bcrypt but the same soname) has a 131232-byte struct:
    /// keysched[128], sb0..sb3[32768 each], crypt_3_buf[14], current_salt[2], current_saltbits,
    /// direction, initialized. The larger size is used so that neither can write past the buffer.
    /// It must be zeroed before the first call ("initialized" = 0).
    /// </summary>
    internal const int CryptDataSize = 131232;

    /// <summary>CRYPT_OUTPUT_SIZE in libxcrypt: the longest hash or setting string, NUL included.</summary>
    internal const int CryptOutputSize = 384;

    /// <summary>CRYPT_MAX_PASSPHRASE_SIZE in libxcrypt: longer phrases fail with ERANGE.</summary>
    internal const int CryptMaxPassphraseSize = 512;

    /// <summary>
    /// char *crypt_r(const char *phrase, const char *setting, struct crypt_data *data). On failure
    /// it returns NULL or, when libxcrypt was built with failure tokens (Debian's is), a string
    /// starting with '*' ("*0" or "*1") that can never match a hash.
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "crypt_r", SetLastError = true)]
    internal static partial byte* CryptR(byte* phrase, byte* setting, void* data);

    /// <summary>
    /// char *crypt_gensalt_rn(const char *prefix, unsigned long count, const char *rbytes, int
    /// nrbytes, char *output, int output_size): a new setting string; with rbytes NULL libxcrypt
    /// draws the random bytes itself (getentropy). NULL on failure.
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "crypt_gensalt_rn", SetLastError = true)]
    internal static partial byte* CryptGensaltRn(byte* prefix, nuint count, byte* randomBytes, int randomByteCount, byte* output, int outputSize);
}
