using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// A throwaway ECDSA P-256 server certificate for localhost and 127.0.0.1, written as PEM files into its own temp
/// folder (deleted on dispose). Clients trust exactly this certificate: curl and ffmpeg by its file as their CA,
/// .NET by its thumbprint, Chromium by the hash of its public key.
/// </summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(string folder, X509Certificate2 certificate)
    {
        Folder = folder;
        Certificate = certificate;
    }

    public string Folder { get; }

    public X509Certificate2 Certificate { get; private set; }

    public string CertFile => Path.Combine(Folder, "cert.pem");

    public string KeyFile => Path.Combine(Folder, "key.pem");

    /// <summary>The CA that signed the certificate (<see cref="CreateSignedByCa"/>), as PEM; null for a self-signed one.</summary>
    public string? CaFile { get; private set; }

    /// <summary>SHA-256 of the certificate as Osprey prints and pins it: upper-case hex pairs with colons.</summary>
    public string Sha256 => string.Join(':', Certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>SHA-1 thumbprint, as <see cref="X509Certificate2.Thumbprint"/> gives it.</summary>
    public string Thumbprint => Certificate.Thumbprint;

    /// <summary>Base64 SHA-256 of the SubjectPublicKeyInfo: Chromium's <c>--ignore-certificate-errors-spki-list</c> entry.</summary>
    public string SpkiSha256 => Convert.ToBase64String(SHA256.HashData(Certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    public static TestCertificate Create(string commonName = "osprey test")
    {
        var folder = Path.Combine(Path.GetTempPath(), "osprey-tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var test = new TestCertificate(folder, Make(commonName));
        test.Write();
        return test;
    }

    /// <summary>A certificate for localhost and 127.0.0.1 signed by a throwaway CA, whose certificate is written to <see cref="CaFile"/>.</summary>
    public static TestCertificate CreateSignedByCa(string commonName = "osprey test relay")
    {
        var folder = Path.Combine(Path.GetTempPath(), "osprey-tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=osprey test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-10), now.AddDays(3));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = LeafRequest(commonName, key);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var signed = request.Create(ca, now.AddMinutes(-5), now.AddDays(2), RandomNumberGenerator.GetBytes(12));
        var test = new TestCertificate(folder, signed.CopyWithPrivateKey(key)) { CaFile = Path.Combine(folder, "ca.pem") };
        File.WriteAllText(test.CaFile, ca.ExportCertificatePem());
        test.Write();
        return test;
    }

    /// <summary>Replaces the files with a new certificate and key (as certbot renewing would), returning the new one.</summary>
    public X509Certificate2 Renew(string commonName)
    {
        Certificate = Make(commonName);
        Write();
        return Certificate;
    }

    /// <summary>Checks a server certificate against this one only (a pinned test CA).</summary>
    public bool Validate(X509Certificate? presented) =>
        presented is not null && new X509Certificate2(presented).Thumbprint == Thumbprint;

    /// <summary>Opens a TLS connection to <paramref name="port"/> and returns the thumbprint of the certificate presented.</summary>
    public static async Task<string> PresentedThumbprintAsync(int port) => (await PresentedCertificateAsync(port)).Thumbprint;

    /// <summary>The certificate a TLS handshake with <paramref name="port"/> presents, whoever signed it.</summary>
    public static async Task<X509Certificate2> PresentedCertificateAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        X509Certificate? seen = null;
        // Any certificate is taken here: the test asks which one the server presents, not whether to trust it.
        await using var tls = new SslStream(tcp.GetStream(), false, (_, presented, _, _) => (seen = presented) is not null);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        return new X509Certificate2(seen!);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // a server still holding the folder open; the temp folder is cleaned eventually
        }
    }

    private void Write()
    {
        using var key = Certificate.GetECDsaPrivateKey()!;
        // Written beside and renamed over, as certbot and editors do, so the server never reads half a file.
        File.WriteAllText(KeyFile + ".new", key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(CertFile + ".new", Certificate.ExportCertificatePem());
        File.Move(KeyFile + ".new", KeyFile, overwrite: true);
        File.Move(CertFile + ".new", CertFile, overwrite: true);
    }

    private static X509Certificate2 Make(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.UtcNow;
        return LeafRequest(commonName, key).CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
    }

    private static CertificateRequest LeafRequest(string commonName, ECDsa key)
    {
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request;
    }
}
