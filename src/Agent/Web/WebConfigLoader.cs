using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SockWatch.Agent.Web;

/// <summary>A web configuration with everything it names loaded: the server certificate with its chain, the client CAs.</summary>
internal sealed record LoadedWebConfig(
    WebConfig Config,
    SslStreamCertificateContext? ServerCertificate,
    X509Certificate2Collection? ClientCas,
    CipherSuitesPolicy? CipherSuites);

/// <summary>
/// Reads a web configuration file and everything it names, or says in one line why it cannot be
/// used: at start (an error exits 2) and on every reload.
/// </summary>
internal static class WebConfigLoader
{
    /// <summary>TLS 1.3's suites, added to a cipher_suites policy: Go never lets them be turned off, and without them OpenSSL would refuse TLS 1.3.</summary>
    private static readonly TlsCipherSuite[] Tls13Suites =
        [TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256];

    /// <exception cref="WebConfigException">The message starts with the file's path.</exception>
    public static LoadedWebConfig Load(string path)
    {
        path = Path.GetFullPath(path);
        try
        {
            var config = WebConfigParser.Parse(Read(path, "the file"), Path.GetDirectoryName(path)!);
            foreach (var (user, hash) in config.Users)
            {
                if (Bcrypt.CheckSupported(hash) is { } problem)
                {
                    throw new WebConfigException($"basic_auth_users.{user}: {problem}");
                }
            }

            if (config.Tls is not { } tls)
            {
                return new LoadedWebConfig(config, null, null, null);
            }

            var clientCas = tls.ClientCaFile is null && tls.ClientCaPem is null ? null : LoadClientCas(tls);
            return new LoadedWebConfig(
                config,
                LoadServerCertificate(tls, clientCas),
                clientCas,
                // (SockWatch runs on Linux only; the check is for the platform analyzer.)
                tls.CipherSuites.Count == 0 || OperatingSystem.IsWindows() ? null : new CipherSuitesPolicy([.. tls.CipherSuites, .. Tls13Suites]));
        }
        catch (WebConfigException e)
        {
            throw new WebConfigException($"{path}: {e.Message}");
        }
    }

    /// <param name="clientCas">When set, their names go in the handshake's CertificateRequest (as Go sends its ClientCAs), so that a client holding several certificates picks the right one.</param>
    private static SslStreamCertificateContext LoadServerCertificate(TlsServerConfig tls, X509Certificate2Collection? clientCas)
    {
        var certPem = tls.CertFile is { } certFile ? Read(certFile, "tls_server_config.cert_file") : tls.CertPem!;
        var keyPem = tls.KeyFile is { } keyFile ? Read(keyFile, "tls_server_config.key_file") : tls.KeyPem!;
        var what = tls.CertFile is null ? "tls_server_config.cert" : "tls_server_config.cert_file";
        try
        {
            var leaf = X509Certificate2.CreateFromPem(certPem, keyPem);
            var all = new X509Certificate2Collection();
            all.ImportFromPem(certPem);
            var intermediates = new X509Certificate2Collection();
            intermediates.AddRange(all.Skip(1).ToArray());
            var trust = clientCas is null ? null : SslCertificateTrust.CreateForX509Collection(clientCas, sendTrustInHandshake: true);
            return SslStreamCertificateContext.Create(leaf, intermediates, offline: true, trust);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new WebConfigException($"{what}: cannot load the certificate and its key ({tls.CertFile ?? "inline"}, {tls.KeyFile ?? "inline"}): {OneLine(e.Message)}");
        }
    }

    private static X509Certificate2Collection LoadClientCas(TlsServerConfig tls)
    {
        var what = tls.ClientCaFile is null ? "tls_server_config.client_ca" : "tls_server_config.client_ca_file";
        var pem = tls.ClientCaFile is { } file ? Read(file, what) : tls.ClientCaPem!;
        var cas = new X509Certificate2Collection();
        try
        {
            cas.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new WebConfigException($"{what}: not a PEM certificate: {OneLine(e.Message)}");
        }

        return cas.Count > 0 ? cas : throw new WebConfigException($"{what}: holds no PEM certificate");
    }

    private static string Read(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WebConfigException(what == "the file" ? $"cannot read it: {OneLine(e.Message)}" : $"{what}: cannot read {path}: {OneLine(e.Message)}");
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
