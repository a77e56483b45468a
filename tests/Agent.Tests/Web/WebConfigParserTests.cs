using System.Net.Security;
using System.Security.Authentication;
using SockWatch.Agent.Web;

namespace SockWatch.Agent.Tests.Web;

/// <summary>The exporter-toolkit web configuration format: what is read, and the one-line error for each mistake.</summary>
public sealed class WebConfigParserTests : IDisposable
{
    private const string Hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    private readonly WebFixtures _files = new();

    [Fact]
    public void A_full_file_is_read_with_relative_paths_against_its_directory()
    {
        var config = WebConfigParser.Parse($"""
            # comments are fine
            tls_server_config:
              cert_file: server.crt
              key_file: /etc/sockwatch/server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
              client_allowed_sans: [prometheus.example]
              min_version: TLS13
              cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
              prefer_server_cipher_suites: true
              curve_preferences: [X25519]
            http_server_config:
              http2: false
              headers:
                X-Frame-Options: deny
                X-Content-Type-Options: nosniff
                Content-Security-Policy: ""
            basic_auth_users:
              prometheus: {Hash}
              "grafana": '{Hash}'
            rate_limit:
              interval: 100ms
              burst: 20
            """, "/srv/web");

        var tls = Assert.IsType<TlsServerConfig>(config.Tls);
        Assert.Equal("/srv/web/server.crt", tls.CertFile);
        Assert.Equal("/etc/sockwatch/server.key", tls.KeyFile);
        Assert.Equal("/srv/web/ca.crt", tls.ClientCaFile);
        Assert.Equal(ClientAuthType.RequireAndVerifyClientCert, tls.ClientAuth);
        Assert.Equal(SslProtocols.Tls13, tls.Protocols);
        Assert.Equal([TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256], tls.CipherSuites); // TLS 1.3's are always on
        Assert.Equal(["prometheus.example"], tls.ClientAllowedSans);
        Assert.False(config.Http2);
        Assert.Equal([new("X-Frame-Options", "deny"), new("X-Content-Type-Options", "nosniff")], config.Headers); // blank: unset
        Assert.Equal(["grafana", "prometheus"], config.Users.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new RateLimit(TimeSpan.FromMilliseconds(100), 20), config.RateLimit);
        Assert.Contains(config.Notes, n => n.Contains("curve_preferences is ignored", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing\n")]
    [InlineData("tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n")]
    [InlineData("tls_server_config:\n  min_version: TLS12\nrate_limit:\n  interval: 0\n")]
    public void An_empty_file_or_empty_sections_mean_plain_http_and_no_auth(string yaml)
    {
        var config = WebConfigParser.Parse(yaml, "/");
        Assert.Null(config.Tls);
        Assert.Empty(config.Users);
        Assert.Null(config.RateLimit);
        Assert.True(config.Http2);
    }

    [Fact]
    public void The_old_RequireClientCert_name_is_RequireAnyClientCert()
    {
        var config = WebConfigParser.Parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireClientCert\n", "/");
        Assert.Equal(ClientAuthType.RequireAnyClientCert, config.Tls!.ClientAuth);
    }

    [Theory]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_user:\n  x: y\n", "line 4: basic_auth_user: unknown key")]
    [InlineData("tls_server_config:\n  cert_file: a\n  keyfile: b\n", "line 3: tls_server_config.keyfile: unknown key")]
    [InlineData("http_server_config:\n  http3: true\n", "http_server_config.http3: unknown key")]
    [InlineData("rate_limit:\n  every: 1s\n", "rate_limit.every: unknown key")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: [b\n", "not valid YAML")]
    [InlineData("basic_auth_users:\n  a: x\n  a: y\n", "Duplicate key")]
    [InlineData("- a\n- b\n", "the file: must be a mapping")]
    [InlineData("tls_server_config: yes\n", "tls_server_config: must be a mapping")]
    [InlineData("a: 1\n---\nb: 2\n", "more than one YAML document")]
    [InlineData("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file: missing; TLS needs one of key_file or key")]
    [InlineData("tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file: missing")]
    [InlineData("tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: c\n", "give cert_file or cert, not both")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerify\n", "line 4: tls_server_config.client_auth_type: 'RequireAndVerify' is not a client auth type; accepted: NoClientCert, RequestClientCert")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: 3\n", "'3' is not a client auth type")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n", "client CA is configured but client_auth_type is NoClientCert")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: c\n  client_allowed_sans: [x]\n", "client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", "'TLS10' is not supported")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS1.3\n", "'TLS1.3' is not a TLS version")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n", "min_version: above max_version")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "not a cipher suite Go's crypto/tls offers")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: TLS_AES_128_GCM_SHA256\n", "cipher_suites: must be a list")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP999]\n", "'CurveP999' is not a curve")]
    [InlineData("http_server_config:\n  http2: maybe\n", "'maybe' is not true or false")]
    [InlineData("http_server_config:\n  headers:\n    Server: sockwatch\n", "the header Server cannot be set")]
    [InlineData("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "X-Frame-Options: 'allow' is not accepted; accepted: deny, sameorigin")]
    [InlineData("http_server_config:\n  headers:\n    X-Content-Type-Options: NOSNIFF\n", "accepted: nosniff")]
    [InlineData("basic_auth_users:\n  prometheus: secret\n", "line 2: basic_auth_users.prometheus: not a bcrypt hash")]
    [InlineData("basic_auth_users:\n  prometheus: $1$abcdefgh$abcdefghijklmnopqrstuv\n", "not a bcrypt hash")]
    [InlineData("basic_auth_users:\n  prometheus: $2x$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", "not a bcrypt hash")]
    [InlineData("basic_auth_users:\n  prometheus: $2y$03$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", "not a bcrypt hash")]
    [InlineData("basic_auth_users:\n  prometheus:\n", "not a bcrypt hash")]
    [InlineData("basic_auth_users:\n  \"a:b\": $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", "holds a ':'")]
    [InlineData("basic_auth_users: [a, b]\n", "basic_auth_users: must be a mapping")]
    [InlineData("rate_limit:\n  interval: 1s\n", "rate_limit.burst: must be at least 1")]
    [InlineData("rate_limit:\n  interval: often\n  burst: 2\n", "'often' is not a duration")]
    public void A_mistake_is_one_line_naming_the_setting(string yaml, string expected)
    {
        var e = Assert.Throws<WebConfigException>(() => WebConfigParser.Parse(yaml, "/"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain("QOauhQNbBCuQDKes6eFzPe", e.Message, StringComparison.Ordinal); // hashes are secrets: never echoed
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var path = Path.Combine(_files.Dir, "absent.yml");
        var e = Assert.Throws<WebConfigException>(() => WebConfigLoader.Load(path));
        Assert.StartsWith(path + ": cannot read it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_loader_loads_the_certificate_key_and_client_ca()
    {
        var path = _files.Write("web.yml", $"""
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            basic_auth_users:
              prometheus: {WebFixtures.Hash("secret")}
            """);
        var loaded = WebConfigLoader.Load(path);
        Assert.Equal(_files.Server.Thumbprint, loaded.ServerCertificate!.TargetCertificate.Thumbprint);
        Assert.Equal(_files.Ca.Thumbprint, Assert.Single(loaded.ClientCas!).Thumbprint);
    }

    [Theory]
    [InlineData("cert_file: server.crt\n  key_file: nothere.key", "tls_server_config.key_file: cannot read")]
    [InlineData("cert_file: ca.crt\n  key_file: server.key", "tls_server_config.cert_file: cannot load the certificate and its key")]
    [InlineData("cert_file: server.key\n  key_file: server.key", "cannot load the certificate and its key")]
    [InlineData("cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key", "tls_server_config.client_ca_file: holds no PEM certificate")]
    public void The_loader_names_the_file_that_cannot_be_used(string tls, string expected)
    {
        var path = _files.Write("web.yml", "tls_server_config:\n  " + tls + "\n");
        var e = Assert.Throws<WebConfigException>(() => WebConfigLoader.Load(path));
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    public void Dispose() => _files.Dispose();
}
