using System.Security.Cryptography;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using Org.BouncyCastle.X509;

namespace Osprey.Server.Outputs.WebRtc;

/// <summary>
/// The DTLS certificate of this process: an ECDSA P-256 key and a self-signed certificate made at start (what
/// browsers make for themselves too), whose SHA-256 fingerprint goes in every answer (RFC 8122). Browsers check
/// the certificate only against that fingerprint, so it needs no name and no CA.
/// </summary>
internal sealed class WebRtcCertificate
{
    private WebRtcCertificate(BcTlsCrypto crypto, Certificate certificate, AsymmetricKeyParameter privateKey, string fingerprint)
    {
        Crypto = crypto;
        Certificate = certificate;
        PrivateKey = privateKey;
        Fingerprint = fingerprint;
    }

    /// <summary>The BouncyCastle crypto provider handshakes use.</summary>
    public BcTlsCrypto Crypto { get; }

    /// <summary>The certificate chain (one self-signed certificate).</summary>
    public Certificate Certificate { get; }

    /// <summary>The private key.</summary>
    public AsymmetricKeyParameter PrivateKey { get; }

    /// <summary>SHA-256 of the DER certificate as <c>AB:CD:...</c>, for a=fingerprint.</summary>
    public string Fingerprint { get; }

    /// <summary>Makes a key and certificate valid from a day ago for 30 days (the process's life is what matters).</summary>
    public static WebRtcCertificate Create()
    {
        var random = new SecureRandom();
        var crypto = new BcTlsCrypto(random);
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(Org.BouncyCastle.Asn1.Sec.SecObjectIdentifiers.SecP256r1, random));
        var keys = generator.GenerateKeyPair();
        var certificateGenerator = new X509V3CertificateGenerator();
        var name = new X509Name("CN=osprey");
        certificateGenerator.SetSerialNumber(BigInteger.ProbablePrime(64, random));
        certificateGenerator.SetIssuerDN(name);
        certificateGenerator.SetSubjectDN(name);
        certificateGenerator.SetNotBefore(DateTime.UtcNow.AddDays(-1));
        certificateGenerator.SetNotAfter(DateTime.UtcNow.AddDays(30));
        certificateGenerator.SetPublicKey(keys.Public);
        var x509 = certificateGenerator.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", keys.Private, random));
        var der = x509.GetEncoded();
        var certificate = new Certificate([crypto.CreateCertificate(der)]);
        return new WebRtcCertificate(crypto, certificate, keys.Private, FormatFingerprint(SHA256.HashData(der)));
    }

    /// <summary>A hash as colon-separated upper-case hex, as SDP writes fingerprints.</summary>
    public static string FormatFingerprint(ReadOnlySpan<byte> hash) => string.Join(':', Convert.ToHexString(hash).Chunk(2).Select(c => new string(c)));
}
