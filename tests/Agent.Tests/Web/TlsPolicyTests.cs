using System.Security.Cryptography.X509Certificates;
using SockWatch.Agent.Web;

namespace SockWatch.Agent.Tests.Web;

/// <summary>client_auth_type and client_allowed_sans as Go's crypto/tls applies them, decided per client.</summary>
public sealed class TlsPolicyTests : IDisposable
{
    private readonly WebFixtures _files = new();

    public enum Sent
    {
        None,
        SignedByCa,
        SelfSigned,
    }

    [Theory]
    [InlineData("NoClientCert", Sent.None, true)]
    [InlineData("RequestClientCert", Sent.None, true)]
    [InlineData("RequestClientCert", Sent.SelfSigned, true)]
    [InlineData("RequireAnyClientCert", Sent.None, false)]
    [InlineData("RequireAnyClientCert", Sent.SelfSigned, true)]
    [InlineData("VerifyClientCertIfGiven", Sent.None, true)]
    [InlineData("VerifyClientCertIfGiven", Sent.SelfSigned, false)]
    [InlineData("VerifyClientCertIfGiven", Sent.SignedByCa, true)]
    [InlineData("RequireAndVerifyClientCert", Sent.None, false)]
    [InlineData("RequireAndVerifyClientCert", Sent.SelfSigned, false)]
    [InlineData("RequireAndVerifyClientCert", Sent.SignedByCa, true)]
    public void Each_client_auth_type_admits_what_go_admits(string mode, Sent sent, bool admitted)
    {
        var tls = new TlsServerConfig { ClientAuth = Enum.Parse<ClientAuthType>(mode) };
        Assert.Equal(admitted, TlsPolicy.AcceptsClient(tls, new X509Certificate2Collection(_files.Ca), Certificate(sent), sentChain: null));
    }

    [Fact]
    public void The_ca_itself_is_not_a_client_certificate_chain_for_another_ca()
    {
        using var other = new WebFixtures();
        var tls = new TlsServerConfig { ClientAuth = ClientAuthType.RequireAndVerifyClientCert };
        Assert.False(TlsPolicy.AcceptsClient(tls, new X509Certificate2Collection(other.Ca), _files.Client, sentChain: null));
    }

    [Fact]
    public void Subject_alternative_names_are_read_as_go_writes_them()
    {
        Assert.Equal(["prometheus.example", "spiffe://example/prometheus", "ops@example.org", "192.0.2.7"], TlsPolicy.SubjectAltNames(_files.Client));
    }

    [Theory]
    [InlineData("prometheus.example", true)]
    [InlineData("192.0.2.7", true)]
    [InlineData("ops@example.org", true)]
    [InlineData("spiffe://example/prometheus", true)]
    [InlineData("grafana.example", false)]
    [InlineData("prometheus", false)]
    public void Client_allowed_sans_needs_one_exact_match(string allowed, bool admitted)
    {
        var tls = new TlsServerConfig { ClientAuth = ClientAuthType.RequireAndVerifyClientCert, ClientAllowedSans = [allowed, "unrelated.example"] };
        Assert.Equal(admitted, TlsPolicy.AcceptsClient(tls, new X509Certificate2Collection(_files.Ca), _files.Client, sentChain: null));
    }

    public void Dispose() => _files.Dispose();

    private X509Certificate2? Certificate(Sent sent) => sent switch
    {
        Sent.SignedByCa => _files.Client,
        Sent.SelfSigned => _files.Stranger,
        _ => null,
    };
}
