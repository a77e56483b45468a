using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SockWatch.Agent.Interop;

namespace SockWatch.Agent.Tests.Web;

/// <summary>
/// What the web tests make for themselves in a temporary directory: certificates (a server's, a CA
/// and a client certificate it signed, a stranger's) as PEM files, bcrypt hashes made by libcrypt,
/// web configuration files.
/// </summary>
internal sealed class WebFixtures : IDisposable
{
    private const string ClientAuthEku = "1.3.6.1.5.5.7.3.2";

    public WebFixtures()
    {
        Directory.CreateDirectory(Dir);
        Server = SelfSigned("CN=localhost", server: true);
        Ca = SelfSigned("CN=SockWatch test CA", server: false, ca: true);
        Client = Issued(Ca, "CN=prometheus");
        Stranger = SelfSigned("CN=stranger", server: false);
        WritePem(Server, "server");
        WritePem(Ca, "ca");
    }

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "sockwatch-web-" + Guid.NewGuid().ToString("N"));

    public X509Certificate2 Server { get; }

    public X509Certificate2 Ca { get; }

    public X509Certificate2 Client { get; }

    public X509Certificate2 Stranger { get; }

    /// <summary>A bcrypt hash of <paramref name="password"/> made by the system's libcrypt (cost 4: the tests pay it on every compare).</summary>
    public static string Hash(string password, string prefix = "$2b$", int cost = 4)
    {
        var setting = SystemCrypt.NewSetting(prefix, cost) ?? throw new InvalidOperationException("libcrypt made no " + prefix + " setting");
        return Encoding.ASCII.GetString(SystemCrypt.Crypt(Encoding.UTF8.GetBytes(password), setting) ?? throw new InvalidOperationException("libcrypt refused " + setting));
    }

    public string Write(string name, string text)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A client that trusts only <see cref="Server"/> and sends <paramref name="clientCertificate"/> when asked.</summary>
    public HttpClient HttpsClient(X509Certificate2? clientCertificate = null, string? user = null, string? password = null)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == Server.GetCertHashString();
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        return WithCredentials(new HttpClient(handler), user, password);
    }

    public static HttpClient WithCredentials(HttpClient http, string? user, string? password)
    {
        if (user is not null)
        {
            http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));
        }

        return http;
    }

    public void Dispose()
    {
        Directory.Delete(Dir, recursive: true);
        foreach (var c in new[] { Server, Ca, Client, Stranger })
        {
            c.Dispose();
        }
    }

    private void WritePem(X509Certificate2 certificate, string name)
    {
        File.WriteAllText(Path.Combine(Dir, name + ".crt"), certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(Path.Combine(Dir, name + ".key"), key.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 SelfSigned(string subject, bool server, bool ca = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        if (ca)
        {
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        }

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 Issued(X509Certificate2 issuer, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthEku)], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("prometheus.example");
        names.AddUri(new Uri("spiffe://example/prometheus"));
        names.AddEmailAddress("ops@example.org");
        names.AddIpAddress(IPAddress.Parse("192.0.2.7"));
        request.CertificateExtensions.Add(names.Build());
        // Never past the issuer's own end (it was made a moment earlier, from an earlier "now").
        var notAfter = new DateTimeOffset(issuer.NotAfter.ToUniversalTime());
        using var signed = request.Create(issuer, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, [1, 2, 3, 4]);
        return signed.CopyWithPrivateKey(key);
    }
}
