using System.Net.Security;
using System.Security.Authentication;

namespace SockWatch.Agent.Web;

/// <summary>A web configuration file that cannot be used: one line, naming the setting and the problem.</summary>
internal sealed class WebConfigException(string message) : Exception(message);

/// <summary>client_auth_type: Go's tls.ClientAuthType names, as the exporter-toolkit takes them.</summary>
internal enum ClientAuthType
{
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// <summary>
/// The web configuration file of Prometheus's exporter-toolkit (--web.config.file), parsed and
/// with relative paths resolved against the file's directory. Parsed only: the certificates are
/// loaded by <see cref="WebConfigLoader"/>.
/// </summary>
internal sealed record WebConfig
{
    /// <summary>tls_server_config; null when it configures nothing (plain HTTP).</summary>
    public TlsServerConfig? Tls { get; init; }

    /// <summary>http_server_config.http2: offered over TLS through ALPN; fixed at start.</summary>
    public bool Http2 { get; init; } = true;

    /// <summary>http_server_config.headers, set on every response; blank values are left out.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>basic_auth_users: user name to bcrypt hash (ordinal); empty: no authentication.</summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>rate_limit; null when interval is 0 or absent.</summary>
    public RateLimit? RateLimit { get; init; }

    /// <summary>Settings that are valid but have no effect here, each with the reason (logged at start).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The files the configuration reads besides itself (certificate, key, client CA).</summary>
    public IEnumerable<string> ReferencedFiles =>
        Tls is null ? [] : new[] { Tls.CertFile, Tls.KeyFile, Tls.ClientCaFile }.OfType<string>();
}

/// <summary>tls_server_config. Exactly one of each file/inline pair is set (the loader checks).</summary>
internal sealed record TlsServerConfig
{
    public string? CertFile { get; init; }

    public string? CertPem { get; init; }

    public string? KeyFile { get; init; }

    public string? KeyPem { get; init; }

    public ClientAuthType ClientAuth { get; init; }

    public string? ClientCaFile { get; init; }

    public string? ClientCaPem { get; init; }

    /// <summary>min_version to max_version: TLS 1.2 and 1.3 by default, as in the toolkit.</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>cipher_suites for TLS 1.2 (TLS 1.3's are always on, as in Go); empty: OpenSSL's defaults.</summary>
    public IReadOnlyList<TlsCipherSuite> CipherSuites { get; init; } = [];

    /// <summary>client_allowed_sans: a client certificate must carry one of these as a DNS, IP, e-mail or URI SAN.</summary>
    public IReadOnlyList<string> ClientAllowedSans { get; init; } = [];

    /// <summary>Whether client certificates are checked against the client CA.</summary>
    public bool VerifiesClients => ClientAuth is ClientAuthType.VerifyClientCertIfGiven or ClientAuthType.RequireAndVerifyClientCert;
}

/// <summary>rate_limit: a token bucket of <see cref="Burst"/> tokens, one more every <see cref="Interval"/>.</summary>
internal sealed record RateLimit(TimeSpan Interval, int Burst);
