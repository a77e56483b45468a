using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace SockWatch.Agent.Web;

/// <summary>
/// Checks basic-auth credentials against basic_auth_users, as the exporter-toolkit does: one
/// bcrypt compare at a time (each costs tens of milliseconds of CPU at cost 10; a flood of
/// guesses then takes one core, not all), a decoy compare of the same cost for an unknown user
/// so that timing does not tell which users exist, and a cache of successful checks so that a
/// scrape every few seconds does not pay bcrypt each time.
/// </summary>
internal sealed class BasicAuthenticator : IDisposable
{
    /// <summary>
    /// Successful (user, hash, password) checks remembered. Prometheus servers and people are few;
    /// when full the cache is emptied rather than grown, so that nobody can grow it without bound
    /// (every entry needs a correct password anyway).
    /// </summary>
    private const int CacheCapacity = 256;

    private readonly SemaphoreSlim _compare = new(1, 1);

    /// <summary>A key known only to this process: the cache holds HMACs, never passwords or their plain digests.</summary>
    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);

    private readonly HashSet<UInt128> _verified = [];

    /// <summary>Whether <paramref name="user"/> is in <paramref name="users"/> and <paramref name="password"/> matches its hash.</summary>
    public async ValueTask<bool> VerifyAsync(IReadOnlyDictionary<string, string> users, string user, byte[] password)
    {
        var known = users.TryGetValue(user, out var hash);
        hash ??= Bcrypt.DecoyFor(users.Values.MaxBy(Bcrypt.CostOf)!);
        var key = CacheKey(user, hash, password);
        lock (_verified)
        {
            if (known && _verified.Contains(key))
            {
                return true;
            }
        }

        bool matches;
        await _compare.WaitAsync().ConfigureAwait(false);
        try
        {
            matches = Bcrypt.Verify(hash, password);
        }
        finally
        {
            _compare.Release();
        }

        if (!known || !matches)
        {
            return false;
        }

        lock (_verified)
        {
            if (_verified.Count >= CacheCapacity)
            {
                _verified.Clear();
            }

            _verified.Add(key);
        }

        return true;
    }

    public void Dispose() => _compare.Dispose();

    /// <summary>The first 128 bits of HMAC-SHA256 over the three fields, each length-prefixed so that no two triples collide.</summary>
    private UInt128 CacheKey(string user, string hash, byte[] password)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _cacheKey);
        Span<byte> length = stackalloc byte[4];
        foreach (var field in (ReadOnlySpan<byte[]>)[Encoding.UTF8.GetBytes(user), Encoding.ASCII.GetBytes(hash), password])
        {
            BinaryPrimitives.WriteInt32LittleEndian(length, field.Length);
            hmac.AppendData(length);
            hmac.AppendData(field);
        }

        Span<byte> mac = stackalloc byte[32];
        hmac.GetHashAndReset(mac);
        return BinaryPrimitives.ReadUInt128LittleEndian(mac);
    }
}
