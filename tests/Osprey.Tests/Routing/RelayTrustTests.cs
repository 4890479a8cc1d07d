using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Osprey.Routing;

namespace Osprey.Tests.Routing;

/// <summary>How a wss:// relay's certificate is judged: the system's verdict, extra CAs, and SHA-256 pins.</summary>
public class RelayTrustTests
{
    private static readonly DestinationRule s_rule = new("0", "s", "wss://relay.example/in/x", "");

    [Theory]
    [InlineData("ab:CD:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89")]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")]
    [InlineData("sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    public void Pins_AreNormalizedToColonSeparatedUpperCaseHex(string pin) =>
        Assert.Equal("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89", RelayTrust.NormalizePin(pin));

    [Theory]
    [InlineData("")]
    [InlineData("AB:CD")]
    [InlineData("zz cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")]
    [InlineData("abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890")]
    public void MalformedPins_AreRefused(string pin)
    {
        Assert.Null(RelayTrust.NormalizePin(pin));
        Assert.Throws<FormatException>(() => RelayTrust.Create([], [pin]));
    }

    [Fact]
    public void WithoutPins_TheSystemsVerdictStands_AndARefusalNamesTheCertificate()
    {
        using var certificate = SelfSigned();
        var fingerprint = RelayTrust.Fingerprint(certificate);
        Assert.Null(RelayTrust.System.Check(s_rule, certificate, null, SslPolicyErrors.None));
        Assert.Equal(
            $"the relay's certificate is not trusted (SHA-256 {fingerprint}): trust its CA with --destination-ca FILE or pin it with --destination-pin",
            RelayTrust.System.Check(s_rule, certificate, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("does not name the host", RelayTrust.System.Check(s_rule, certificate, null, SslPolicyErrors.RemoteCertificateNameMismatch), StringComparison.Ordinal);
        Assert.Equal("the relay sent no TLS certificate", RelayTrust.System.Check(s_rule, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void APin_AcceptsExactlyItsCertificate_WhateverSignedIt_AndARulesOwnPinWins()
    {
        using var relay = SelfSigned();
        using var other = SelfSigned();
        var trust = RelayTrust.Create([], [RelayTrust.Fingerprint(relay)]);
        Assert.Null(trust.Check(s_rule, relay, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.Equal(
            $"the relay's certificate (SHA-256 {RelayTrust.Fingerprint(other)}) is not the pinned one",
            trust.Check(s_rule, other, null, SslPolicyErrors.None)); // even one the system trusts: the pin decides

        var ownPin = s_rule with { Pin = RelayTrust.Fingerprint(other) };
        Assert.Null(trust.Check(ownPin, other, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.NotNull(trust.Check(ownPin, relay, null, SslPolicyErrors.None));
    }

    [Fact]
    public void AnExtraCa_TrustsTheCertificatesItSigned_AndNoOthers()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(2));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=relay.example", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = leafRequest.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, ca.ExportCertificatePem());
            var trust = RelayTrust.Create([file], []);
            Assert.Equal(1, trust.ExtraRoots);
            Assert.Null(trust.Check(s_rule, leaf, null, SslPolicyErrors.RemoteCertificateChainErrors));
            using var stranger = SelfSigned();
            Assert.Contains("is not trusted", trust.Check(s_rule, stranger, null, SslPolicyErrors.RemoteCertificateChainErrors), StringComparison.Ordinal);
            // The CA vouches for the chain, not for the name: a mismatch is still refused.
            Assert.Contains("does not name the host", trust.Check(s_rule, leaf, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch), StringComparison.Ordinal);

            File.WriteAllText(file, "not a certificate");
            Assert.Contains("holds no PEM certificate", Assert.Throws<FormatException>(() => RelayTrust.Create([file], [])).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest("CN=relay.example", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
