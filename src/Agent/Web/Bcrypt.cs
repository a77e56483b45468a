using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using SockWatch.Agent.Interop;

namespace SockWatch.Agent.Web;

/// <summary>
/// bcrypt hashes as basic_auth_users holds them, verified by the system's libcrypt (crypt_r),
/// never by a bcrypt of our own.
/// </summary>
internal static partial class Bcrypt
{
    /// <summary>
    /// A salt for the compare run for unknown users (the toolkit's decoy hash, of "fakepassword"):
    /// the answer is thrown away; only the time it takes matters.
    /// </summary>
    private const string DecoySalt = "QOauhQNbBCuQDKes6eFzPe";

    /// <summary>Which prefixes ($2b$, $2y$, ...) this system's libcrypt was seen to compute.</summary>
    private static readonly ConcurrentDictionary<string, bool> Supported = new(StringComparer.Ordinal);

    /// <summary>$2a$, $2b$ or $2y$, a cost of 04 to 31, a 22-character salt and a 31-character checksum.</summary>
    public static bool IsHash(string text) => HashPattern().IsMatch(text);

    public static int CostOf(string hash) => int.Parse(hash.AsSpan(4, 2), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>A setting of the same kind and cost as <paramref name="hash"/> with a fixed salt, for the decoy compare.</summary>
    public static string DecoyFor(string hash) => string.Concat(hash.AsSpan(0, 7), DecoySalt);

    /// <summary>Whether <paramref name="password"/> hashes to <paramref name="hash"/>; compared in constant time.</summary>
    /// <exception cref="PlatformNotSupportedException">libcrypt.so.1 is missing.</exception>
    public static bool Verify(string hash, ReadOnlySpan<byte> password)
    {
        var computed = SystemCrypt.Crypt(password, hash);
        return computed is not null && CryptographicOperations.FixedTimeEquals(computed, Encoding.ASCII.GetBytes(hash));
    }

    /// <summary>
    /// Checks, once per prefix, that libcrypt computes this kind of hash at all (a glibc libcrypt,
    /// or one built without bcrypt, answers with a failure token), with a cost-4 hash that takes
    /// about a millisecond. Null when it does, else the problem.
    /// </summary>
    public static string? CheckSupported(string hash)
    {
        var prefix = hash[..4];
        try
        {
            var ok = Supported.GetOrAdd(prefix, p => SystemCrypt.Crypt("x"u8, p + "04$" + DecoySalt) is { } h && h.AsSpan().StartsWith(Encoding.ASCII.GetBytes(p)));
            return ok ? null : $"libcrypt.so.1 on this system cannot compute {prefix} (bcrypt) hashes; it needs libxcrypt";
        }
        catch (PlatformNotSupportedException e)
        {
            return e.Message.ReplaceLineEndings(" ");
        }
    }

    [GeneratedRegex(@"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}\z", RegexOptions.CultureInvariant)]
    private static partial Regex HashPattern();
}
