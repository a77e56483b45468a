using System.Formats.Asn1;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SockWatch.Agent.Web;

/// <summary>
/// What one TLS handshake uses, made from the configuration in force when the client says hello:
/// the certificate, the protocol versions, the cipher suites, and the client certificate policy
/// of client_auth_type (Go's crypto/tls semantics).
/// </summary>
internal static class TlsPolicy
{
    /// <summary>id-kp-clientAuth: like Go, a verified client certificate must allow client authentication (one without EKU allows everything).</summary>
    private const string ClientAuthEku = "1.3.6.1.5.5.7.3.2";

    private const string SubjectAltNameOid = "2.5.29.17";

    public static SslServerAuthenticationOptions ServerOptions(LoadedWebConfig loaded)
    {
        var tls = loaded.Config.Tls!;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = loaded.ServerCertificate,
            EnabledSslProtocols = tls.Protocols,
            CipherSuitesPolicy = loaded.CipherSuites,
            // Asks for a certificate; whether one is required is decided below, per client_auth_type.
            ClientCertificateRequired = tls.ClientAuth != ClientAuthType.NoClientCert,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                AcceptsClient(tls, loaded.ClientCas, certificate as X509Certificate2, chain),
        };
    }

    /// <summary>Whether a client that sent <paramref name="certificate"/> (null: none) may go on.</summary>
    public static bool AcceptsClient(TlsServerConfig tls, X509Certificate2Collection? clientCas, X509Certificate2? certificate, X509Chain? sentChain)
    {
        if (certificate is null)
        {
            return tls.ClientAuth is ClientAuthType.NoClientCert or ClientAuthType.RequestClientCert or ClientAuthType.VerifyClientCertIfGiven;
        }

        if (tls.VerifiesClients && !ChainsTo(certificate, clientCas!, sentChain))
        {
            return false;
        }

        return tls.ClientAllowedSans.Count == 0 || SubjectAltNames(certificate).Any(tls.ClientAllowedSans.Contains);
    }

    /// <summary>
    /// Builds the chain with the client CAs as the only roots (the system's are not trusted for
    /// clients), with the intermediates the client sent, and without revocation checks (Go does none).
    /// </summary>
    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection clientCas, X509Chain? sentChain)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(clientCas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthEku));
        if (sentChain is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(sentChain.ChainPolicy.ExtraStore);
            foreach (var element in sentChain.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate);
    }

    /// <summary>
    /// The DNS, IP, e-mail and URI names of the subjectAltName extension (RFC 5280 4.2.1.6), written
    /// as Go writes them (an IPv4 address in dotted form even when stored as IPv4-mapped IPv6).
    /// </summary>
    public static IEnumerable<string> SubjectAltNames(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAltNameOid)
            {
                continue;
            }

            try
            {
                var sequence = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (sequence.HasData)
                {
                    var tag = sequence.PeekTag();
                    if (tag.TagClass != TagClass.ContextSpecific || tag.IsConstructed)
                    {
                        sequence.ReadEncodedValue();
                        continue;
                    }

                    switch (tag.TagValue)
                    {
                        case 1 or 2 or 6: // rfc822Name, dNSName, uniformResourceIdentifier: IA5String
                            names.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, tag));
                            break;
                        case 7: // iPAddress: 4 or 16 bytes
                            var ip = new IPAddress(sequence.ReadOctetString(tag));
                            names.Add((ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString());
                            break;
                        default:
                            sequence.ReadEncodedValue();
                            break;
                    }
                }
            }
            catch (Exception e) when (e is AsnContentException or ArgumentException)
            {
                // A malformed extension matches nothing.
                return [];
            }
        }

        return names;
    }
}
