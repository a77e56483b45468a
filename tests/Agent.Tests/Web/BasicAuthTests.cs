using System.Text;
using SockWatch.Agent.Web;
using SockWatch.Agent.Interop;

namespace SockWatch.Agent.Tests.Web;

/// <summary>bcrypt through the system's libcrypt, the authenticator in front of it, the Authorization header and the rate limit.</summary>
public sealed class BasicAuthTests
{
    /// <summary>The exporter-toolkit's decoy hash, of "fakepassword", made by Go's bcrypt: libcrypt must agree with it.</summary>
    private const string GoHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    [Theory]
    [InlineData("$2b$")]
    [InlineData("$2y$")]
    [InlineData("$2a$")]
    public void A_hash_made_by_libcrypt_verifies_its_password_only(string prefix)
    {
        var hash = WebFixtures.Hash("correct horse", prefix);
        Assert.StartsWith(prefix + "04$", hash, StringComparison.Ordinal);
        Assert.True(Bcrypt.IsHash(hash));
        Assert.True(Bcrypt.Verify(hash, "correct horse"u8));
        Assert.False(Bcrypt.Verify(hash, "correct horsf"u8));
        Assert.False(Bcrypt.Verify(hash, "Correct horse"u8));
        Assert.False(Bcrypt.Verify(hash, ""u8));
    }

    [Fact]
    public void A_hash_made_by_go_verifies_through_libcrypt()
    {
        Assert.True(Bcrypt.Verify(GoHash, "fakepassword"u8));
        Assert.False(Bcrypt.Verify(GoHash, "fakepasswore"u8));
        Assert.Null(Bcrypt.CheckSupported(GoHash));
    }

    [Fact]
    public void A_password_with_a_nul_byte_never_matches_its_prefix()
    {
        var hash = WebFixtures.Hash("secret");
        Assert.False(Bcrypt.Verify(hash, "secret\0anything"u8));
        Assert.Null(SystemCrypt.Crypt("secret\0"u8, hash));
    }

    [Fact]
    public void A_setting_libcrypt_does_not_know_is_refused_not_matched()
    {
        Assert.Null(SystemCrypt.Crypt("x"u8, "$9$nothing"));
        Assert.Null(SystemCrypt.Crypt("x"u8, ""));
        Assert.False(Bcrypt.Verify("*0", "x"u8)); // a failure token never equals a hash
    }

    [Fact]
    public async Task The_authenticator_knows_users_passwords_and_nothing_else()
    {
        using var authenticator = new BasicAuthenticator();
        var users = new Dictionary<string, string>(StringComparer.Ordinal) { ["prometheus"] = WebFixtures.Hash("s3cret"), ["grafana"] = WebFixtures.Hash("other") };
        Assert.True(await authenticator.VerifyAsync(users, "prometheus", Encoding.UTF8.GetBytes("s3cret")));
        Assert.True(await authenticator.VerifyAsync(users, "prometheus", Encoding.UTF8.GetBytes("s3cret"))); // from the cache
        Assert.False(await authenticator.VerifyAsync(users, "prometheus", Encoding.UTF8.GetBytes("other")));
        Assert.False(await authenticator.VerifyAsync(users, "Prometheus", Encoding.UTF8.GetBytes("s3cret")));
        Assert.False(await authenticator.VerifyAsync(users, "nobody", Encoding.UTF8.GetBytes("s3cret"))); // the decoy compare
        Assert.False(await authenticator.VerifyAsync(users, "", []));

        // A changed hash is a different cache entry: the old password stops working at once.
        users["prometheus"] = WebFixtures.Hash("rotated");
        Assert.False(await authenticator.VerifyAsync(users, "prometheus", Encoding.UTF8.GetBytes("s3cret")));
        Assert.True(await authenticator.VerifyAsync(users, "prometheus", Encoding.UTF8.GetBytes("rotated")));
    }

    [Fact]
    public void The_decoy_has_the_cost_and_kind_of_the_hash_it_stands_for()
    {
        Assert.Equal("$2b$12$QOauhQNbBCuQDKes6eFzPe", Bcrypt.DecoyFor("$2b$12$" + new string('a', 53)));
        Assert.Equal(12, Bcrypt.CostOf("$2b$12$" + new string('a', 53)));
    }

    [Theory]
    [InlineData("Basic cHJvbWV0aGV1czpzM2NyZXQ=", true, "prometheus", "s3cret")]
    [InlineData("basic cHJvbWV0aGV1czpzM2NyZXQ=", true, "prometheus", "s3cret")]
    [InlineData("Basic dXNlcjpwYTpzczp3b3Jk", true, "user", "pa:ss:word")] // the password may hold ':'
    [InlineData("Basic OnB3", true, "", "pw")]
    [InlineData("Basic dXNlcg==", false, "", "")] // no ':'
    [InlineData("Basic !!!", false, "", "")]
    [InlineData("Bearer cHJvbWV0aGV1czpzM2NyZXQ=", false, "", "")]
    [InlineData("Basic", false, "", "")]
    [InlineData("", false, "", "")]
    public void The_authorization_header_is_read_as_rfc_7617_says(string header, bool ok, string user, string password)
    {
        Assert.Equal(ok, WebAccessMiddleware.TryReadBasic(header, out var u, out var p));
        Assert.Equal(user, u);
        Assert.Equal(password, Encoding.UTF8.GetString(p));
    }

    [Fact]
    public void The_rate_limit_starts_full_and_refills_one_token_per_interval()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(new RateLimit(TimeSpan.FromSeconds(1), 2), time);
        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.False(bucket.TryTake());
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(bucket.TryTake());
        time.Advance(TimeSpan.FromHours(1));
        Assert.True(bucket.TryTake());
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake()); // never more than the burst
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
