using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Osprey.Server.Hosting;

/// <summary>Loading PEM certificates, making self-signed ones, and describing them in log lines.</summary>
internal static class TlsCertificates
{
    /// <summary>How long a self-signed certificate lasts: long enough for a first try, short enough not to become the deployment.</summary>
    public static readonly TimeSpan SelfSignedLifetime = TimeSpan.FromDays(90);

    /// <summary>
    /// The certificate of <paramref name="certFile"/> with the private key of <paramref name="keyFile"/>, and the
    /// other certificates of <paramref name="certFile"/> (a certbot <c>fullchain.pem</c>'s intermediates), which
    /// are sent to clients with it. Throws <see cref="CryptographicException"/> or an <see cref="IOException"/>.
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadPem(string certFile, string keyFile)
    {
        // Read once each, so that the leaf and the chain come from the same version of a file being replaced.
        var certPem = File.ReadAllText(certFile);
        var keyPem = File.ReadAllText(keyFile);
        var certificate = X509Certificate2.CreateFromPem(certPem, keyPem);
        var all = new X509Certificate2Collection();
        all.ImportFromPem(certPem);
        var chain = new X509Certificate2Collection();
        foreach (var other in all)
        {
            if (other.Thumbprint != certificate.Thumbprint)
            {
                chain.Add(other);
            }
            else
            {
                other.Dispose();
            }
        }

        return (certificate, chain);
    }

    /// <summary>
    /// An ECDSA P-256 certificate for server authentication, signed by itself, naming localhost,
    /// <paramref name="hostName"/>, 127.0.0.1 and ::1, valid from a few minutes ago for <see cref="SelfSignedLifetime"/>.
    /// </summary>
    public static X509Certificate2 CreateSelfSigned(string hostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={(string.IsNullOrEmpty(hostName) ? "localhost" : hostName)}, O=Osprey self-signed", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        if (!string.IsNullOrEmpty(hostName) && hostName != "localhost")
        {
            names.AddDnsName(hostName);
        }

        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // A few minutes back: a client whose clock is a little behind still accepts it at once.
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.Add(SelfSignedLifetime));
    }

    /// <summary>The certificate and its private key as PEM text (PKCS#8 key).</summary>
    public static (string CertPem, string KeyPem) ExportPem(X509Certificate2 certificate)
    {
        var key = certificate.GetECDsaPrivateKey() ?? (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey()
            ?? throw new ArgumentException("The certificate has no ECDSA or RSA private key.");
        using (key)
        {
            return (certificate.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem() + "\n");
        }
    }

    /// <summary>SHA-256 of the certificate, as browsers show it: upper-case hex pairs separated by colons.</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Subject, expiry and fingerprint in one line.</summary>
    public static string Describe(X509Certificate2 certificate) =>
        $"{certificate.Subject}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC, SHA-256 {Fingerprint(certificate)}";
}
