using SockWatch.Core;
using System.Globalization;
using System.Net.Security;
using System.Security.Authentication;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SockWatch.Agent.Web;

/// <summary>
/// Parses the exporter-toolkit web configuration (docs/web-configuration.md of
/// prometheus/exporter-toolkit) from its YAML. Strict, like the toolkit's yaml.UnmarshalStrict:
/// an unknown or repeated key is an error. Reads YamlDotNet's representation model (nodes), not
/// its reflection-based deserializer, so that a trimmed publish keeps working.
/// </summary>
internal static class WebConfigParser
{
    /// <summary>The only headers http_server_config.headers may set, and the values they accept (null: any). The toolkit's extraHTTPHeaders.</summary>
    private static readonly (string Name, string[]? Values)[] AllowedHeaders =
    [
        ("Strict-Transport-Security", null),
        ("X-Content-Type-Options", ["nosniff"]),
        ("X-Frame-Options", ["deny", "sameorigin"]),
        ("X-XSS-Protection", null),
        ("Content-Security-Policy", null),
    ];

    /// <summary>crypto/tls's CipherSuites() names (IANA's) for TLS 1.0-1.2, and their values.</summary>
    private static readonly Dictionary<string, TlsCipherSuite> Tls12CipherSuites = new(StringComparer.Ordinal)
    {
        ["TLS_RSA_WITH_AES_128_CBC_SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA,
        ["TLS_RSA_WITH_AES_256_CBC_SHA"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA,
        ["TLS_RSA_WITH_AES_128_GCM_SHA256"] = TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
        ["TLS_RSA_WITH_AES_256_GCM_SHA384"] = TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
        ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        ["TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
        ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    };

    /// <summary>TLS 1.3's suites: Go accepts their names in cipher_suites and ignores them (they cannot be turned off).</summary>
    private static readonly string[] Tls13CipherSuites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

    private static readonly string[] Curves = ["CurveP256", "CurveP384", "CurveP521", "X25519"];

    private static readonly string[] ClientAuthNames = Enum.GetNames<ClientAuthType>();

    /// <param name="yaml">The file's text.</param>
    /// <param name="directory">The file's directory: relative cert_file, key_file and client_ca_file are resolved against it, as the toolkit does.</param>
    public static WebConfig Parse(string yaml, string directory)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new WebConfigException($"line {e.Start.Line}: not valid YAML: {OneLine(e.Message)}");
        }

        if (stream.Documents.Count > 1)
        {
            throw new WebConfigException($"line {stream.Documents[1].RootNode.Start.Line}: more than one YAML document; the file holds one");
        }

        var config = new WebConfig();
        var notes = new List<string>();
        var root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        foreach (var (key, at, value) in Entries(root, ""))
        {
            config = key switch
            {
                "tls_server_config" => config with { Tls = ParseTls(value, directory, notes) },
                "http_server_config" => ParseHttp(value, config),
                "basic_auth_users" => config with { Users = ParseUsers(value) },
                "rate_limit" => config with { RateLimit = ParseRateLimit(value) },
                _ => throw Unknown(at, key, "", "tls_server_config, http_server_config, basic_auth_users, rate_limit"),
            };
        }

        return config with { Notes = notes };
    }

    private static TlsServerConfig? ParseTls(YamlNode node, string directory, List<string> notes)
    {
        const string Section = "tls_server_config.";
        var tls = new TlsServerConfig();
        var enabled = false;
        SslProtocols min = SslProtocols.Tls12, max = SslProtocols.Tls13;
        var clientAuthGiven = false;
        foreach (var (key, at, value) in Entries(node, "tls_server_config"))
        {
            var path = Section + key;
            switch (key)
            {
                case "cert_file" or "key_file" or "client_ca_file":
                    var file = Text(value, path);
                    if (file.Length == 0)
                    {
                        break;
                    }

                    enabled = true;
                    file = Path.GetFullPath(file, directory);
                    tls = key switch
                    {
                        "cert_file" => tls with { CertFile = file },
                        "key_file" => tls with { KeyFile = file },
                        _ => tls with { ClientCaFile = file },
                    };
                    break;
                case "cert" or "key" or "client_ca":
                    var pem = Text(value, path);
                    if (pem.Length == 0)
                    {
                        break;
                    }

                    enabled = true;
                    tls = key switch
                    {
                        "cert" => tls with { CertPem = pem },
                        "key" => tls with { KeyPem = pem },
                        _ => tls with { ClientCaPem = pem },
                    };
                    break;
                case "client_auth_type":
                    var auth = Text(value, path);
                    if (auth.Length == 0)
                    {
                        break;
                    }

                    enabled = clientAuthGiven = true;
                    // RequireClientCert: the toolkit keeps this old name for RequireAnyClientCert.
                    tls = tls with
                    {
                        ClientAuth = auth == "RequireClientCert" ? ClientAuthType.RequireAnyClientCert
                            : ClientAuthNames.Contains(auth) ? Enum.Parse<ClientAuthType>(auth)
                            : throw Invalid(value, path, $"'{auth}' is not a client auth type; accepted: {string.Join(", ", ClientAuthNames)}"),
                    };
                    break;
                case "min_version":
                    min = TlsVersion(value, path);
                    break;
                case "max_version":
                    max = TlsVersion(value, path);
                    break;
                case "cipher_suites":
                    tls = tls with { CipherSuites = CipherSuites(value, path) };
                    break;
                case "curve_preferences":
                    foreach (var curve in Strings(value, path))
                    {
                        _ = Curves.Contains(curve) ? curve : throw Invalid(value, path, $"'{curve}' is not a curve; accepted: {string.Join(", ", Curves)}");
                    }

                    notes.Add("tls_server_config.curve_preferences is ignored: .NET does not let a server choose its curves; OpenSSL's defaults (X25519, P-256, P-384, P-521) apply");
                    break;
                case "prefer_server_cipher_suites":
                    // Go itself has ignored it since 1.18; checked for its type only.
                    _ = Boolean(value, path);
                    break;
                case "client_allowed_sans":
                    tls = tls with { ClientAllowedSans = Strings(value, path) };
                    break;
                default:
                    throw Unknown(at, key, Section, "cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, client_allowed_sans, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences");
            }
        }

        if (min > max)
        {
            throw new WebConfigException(Section + "min_version: above max_version");
        }

        tls = tls with { Protocols = min == max ? min : min | max };
        if (!enabled)
        {
            return null;
        }

        CheckPair(tls.CertFile, tls.CertPem, "cert_file", "cert");
        CheckPair(tls.KeyFile, tls.KeyPem, "key_file", "key");
        if (tls.ClientCaFile is not null && tls.ClientCaPem is not null)
        {
            throw new WebConfigException(Section + "client_ca_file: give client_ca_file or client_ca, not both");
        }

        var hasCa = tls.ClientCaFile is not null || tls.ClientCaPem is not null;
        if (hasCa && (!clientAuthGiven || tls.ClientAuth == ClientAuthType.NoClientCert))
        {
            throw new WebConfigException(Section + "client_ca_file: a client CA is configured but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert");
        }

        // Go would verify against the host's public roots without a client CA: any certificate any
        // public CA issued would pass. That is never what mTLS on a metrics endpoint means.
        if (tls.VerifiesClients && !hasCa)
        {
            throw new WebConfigException(Section + $"client_ca_file: client_auth_type {tls.ClientAuth} needs client_ca_file (or client_ca), the CA that signs the clients' certificates");
        }

        if (tls.ClientAllowedSans.Count > 0 && tls.ClientAuth is not (ClientAuthType.RequireAnyClientCert or ClientAuthType.RequireAndVerifyClientCert))
        {
            throw new WebConfigException(Section + "client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert; with the others a client may send no certificate");
        }

        return tls;

        static void CheckPair(string? file, string? inline, string fileKey, string inlineKey)
        {
            if (file is null && inline is null)
            {
                throw new WebConfigException(Section + $"{fileKey}: missing; TLS needs one of {fileKey} or {inlineKey}");
            }

            if (file is not null && inline is not null)
            {
                throw new WebConfigException(Section + $"{fileKey}: give {fileKey} or {inlineKey}, not both");
            }
        }
    }

    private static SslProtocols TlsVersion(YamlNode value, string path) => Text(value, path) switch
    {
        "TLS12" => SslProtocols.Tls12,
        "TLS13" => SslProtocols.Tls13,
        "TLS10" or "TLS11" => throw Invalid(value, path, $"'{Text(value, path)}' is not supported: SockWatch serves TLS 1.2 and 1.3 only (TLS 1.0 and 1.1 are deprecated by RFC 8996)"),
        var v => throw Invalid(value, path, $"'{v}' is not a TLS version; accepted: TLS12, TLS13"),
    };

    private static List<TlsCipherSuite> CipherSuites(YamlNode value, string path)
    {
        var suites = new List<TlsCipherSuite>();
        foreach (var name in Strings(value, path))
        {
            if (Tls12CipherSuites.TryGetValue(name, out var suite))
            {
                suites.Add(suite);
            }
            else if (!Tls13CipherSuites.Contains(name))
            {
                throw Invalid(value, path, $"'{name}' is not a cipher suite Go's crypto/tls offers; accepted: {string.Join(", ", Tls12CipherSuites.Keys.Concat(Tls13CipherSuites))}");
            }
        }

        return suites;
    }

    private static WebConfig ParseHttp(YamlNode node, WebConfig config)
    {
        foreach (var (key, at, value) in Entries(node, "http_server_config"))
        {
            var path = "http_server_config." + key;
            config = key switch
            {
                "http2" => config with { Http2 = Boolean(value, path) },
                "headers" => config with { Headers = ParseHeaders(value, path) },
                _ => throw Unknown(at, key, "http_server_config.", "http2, headers"),
            };
        }

        return config;
    }

    private static List<KeyValuePair<string, string>> ParseHeaders(YamlNode node, string path)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (name, _, value) in Entries(node, path))
        {
            var text = Text(value, path + "." + name);
            var allowed = Array.Find(AllowedHeaders, h => h.Name == name);
            if (allowed.Name is null)
            {
                throw Invalid(value, path, $"the header {name} cannot be set; accepted: {string.Join(", ", AllowedHeaders.Select(h => h.Name))}");
            }

            if (allowed.Values is { } values && !values.Contains(text))
            {
                throw Invalid(value, path + "." + name, $"'{text}' is not accepted; accepted: {string.Join(", ", values)}");
            }

            if (text.Any(char.IsControl))
            {
                throw Invalid(value, path + "." + name, "holds a control character");
            }

            if (text.Length > 0)
            {
                headers.Add(new(name, text));
            }
        }

        return headers;
    }

    private static Dictionary<string, string> ParseUsers(YamlNode node)
    {
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (user, _, value) in Entries(node, "basic_auth_users"))
        {
            var hash = Text(value, "basic_auth_users." + user);
            if (!Bcrypt.IsHash(hash))
            {
                throw Invalid(value, "basic_auth_users." + user, "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, 60 characters); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'");
            }

            if (user.Contains(':', StringComparison.Ordinal))
            {
                throw Invalid(value, "basic_auth_users", $"the user name '{user}' holds a ':', which basic auth cannot send");
            }

            users[user] = hash;
        }

        return users;
    }

    private static RateLimit? ParseRateLimit(YamlNode node)
    {
        TimeSpan interval = TimeSpan.Zero;
        var burst = 0;
        foreach (var (key, at, value) in Entries(node, "rate_limit"))
        {
            var path = "rate_limit." + key;
            switch (key)
            {
                case "interval":
                    interval = Durations.TryParse(Text(value, path), out var d) ? d : throw Invalid(value, path, $"'{Text(value, path)}' is not a duration (like 100ms, 1s)");
                    break;
                case "burst":
                    burst = int.TryParse(Text(value, path), NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b : throw Invalid(value, path, $"'{Text(value, path)}' is not a whole number");
                    break;
                default:
                    throw Unknown(at, key, "rate_limit.", "interval, burst");
            }
        }

        if (interval == TimeSpan.Zero)
        {
            return null;
        }

        return burst >= 1 ? new RateLimit(interval, burst)
            : throw new WebConfigException("rate_limit.burst: must be at least 1 when interval is set (with 0 every request would be refused)");
    }

    /// <summary>A mapping's entries with scalar keys; null (an empty value) is an empty mapping, as in Go's yaml.</summary>
    private static IEnumerable<(string Key, YamlNode At, YamlNode Value)> Entries(YamlNode? node, string path)
    {
        if (node is null || IsNull(node))
        {
            yield break;
        }

        if (node is not YamlMappingNode mapping)
        {
            throw Invalid(node, path.Length == 0 ? "the file" : path, "must be a mapping of keys to values");
        }

        foreach (var (key, value) in mapping.Children)
        {
            if (key is not YamlScalarNode { Value: { } name })
            {
                throw Invalid(key, path.Length == 0 ? "the file" : path, "a key must be a plain string");
            }

            yield return (name, key, value);
        }
    }

    private static string Text(YamlNode node, string path) => node switch
    {
        _ when IsNull(node) => "",
        YamlScalarNode { Value: { } v } => v,
        _ => throw Invalid(node, path, "must be a single value, not a list or a mapping"),
    };

    private static List<string> Strings(YamlNode node, string path) => node switch
    {
        _ when IsNull(node) => [],
        YamlSequenceNode sequence => [.. sequence.Children.Select(c => Text(c, path))],
        _ => throw Invalid(node, path, "must be a list"),
    };

    /// <summary>YAML 1.1 booleans, as Go's yaml.v2 reads them.</summary>
    private static bool Boolean(YamlNode node, string path) => Text(node, path) switch
    {
        "true" or "True" or "TRUE" or "yes" or "Yes" or "YES" or "on" or "On" or "ON" or "y" or "Y" => true,
        "false" or "False" or "FALSE" or "no" or "No" or "NO" or "off" or "Off" or "OFF" or "n" or "N" => false,
        var v => throw Invalid(node, path, $"'{v}' is not true or false"),
    };

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" } scalar
        && scalar.Tag.IsEmpty;

    private static WebConfigException Unknown(YamlNode at, string key, string section, string known) =>
        Invalid(at, section + key, $"unknown key; known keys{(section.Length == 0 ? "" : " of " + section.TrimEnd('.'))}: {known}");

    private static WebConfigException Invalid(YamlNode node, string path, string reason) =>
        new($"line {node.Start.Line}: {path}: {reason}");

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
