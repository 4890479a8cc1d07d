using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using Osprey.Protocols.Srtp;
using HashAlgorithm = Org.BouncyCastle.Tls.HashAlgorithm;

namespace Osprey.Server.Outputs.WebRtc;

/// <summary>The SRTP keys a DTLS-SRTP handshake produced (RFC 5764 §4.2), ours to send and the browser's to read.</summary>
/// <param name="Profile">The protection profile agreed.</param>
/// <param name="ServerKey">Our master key.</param>
/// <param name="ServerSalt">Our master salt.</param>
/// <param name="ClientKey">The browser's master key.</param>
/// <param name="ClientSalt">The browser's master salt.</param>
internal sealed record SrtpKeys(SrtpProfile Profile, byte[] ServerKey, byte[] ServerSalt, byte[] ClientKey, byte[] ClientSalt);

/// <summary>
/// The DTLS 1.2 server of one WebRTC session, on BouncyCastle: ECDSA certificate, ECDHE-ECDSA suites, the
/// use_srtp extension (AEAD_AES_128_GCM preferred, AES_CM_128_HMAC_SHA1_80 otherwise, no MKI), extended master
/// secret required, the browser's certificate asked for and checked against the fingerprint in its offer, and the
/// SRTP keys exported inside <see cref="NotifyHandshakeComplete"/> (Accept clears the security parameters when it
/// returns).
/// </summary>
internal sealed class DtlsSrtpServer : DefaultTlsServer
{
    private readonly WebRtcCertificate _certificate;
    private readonly string? _expectedFingerprint;
    private int _profile = -1;

    public DtlsSrtpServer(WebRtcCertificate certificate, string? offeredFingerprint)
        : base(certificate.Crypto)
    {
        _certificate = certificate;
        // "sha-256 AB:CD:..." from the offer; other hashes are not checked (browsers all send sha-256).
        _expectedFingerprint = offeredFingerprint is { } f && f.StartsWith("sha-256 ", StringComparison.OrdinalIgnoreCase) ? f[8..].Trim() : null;
    }

    /// <summary>The keys, once the handshake completed.</summary>
    public SrtpKeys? Keys { get; private set; }

    /// <summary>The cipher suite agreed, once the handshake completed.</summary>
    public int SelectedCipherSuite { get; private set; }

    /// <summary>Why the handshake was refused by us (a fingerprint mismatch, no common SRTP profile), if it was.</summary>
    public string? RefusalReason { get; private set; }

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    public override bool RequiresExtendedMasterSecret() => true;

    // Bounded: a handshake that has not finished in 10 s is given up (the session's own deadline agrees).
    public override int GetHandshakeTimeoutMillis() => 10_000;

    protected override int[] GetSupportedCipherSuites() =>
    [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
    ];

    protected override TlsCredentialedSigner GetECDsaSignerCredentials() =>
        new BcDefaultTlsCredentialedSigner(
            new TlsCryptoParameters(m_context),
            _certificate.Crypto,
            _certificate.PrivateKey,
            _certificate.Certificate,
            new SignatureAndHashAlgorithm(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa));

    public override CertificateRequest GetCertificateRequest()
    {
        // The browser's certificate proves it is the peer whose offer we answered (its fingerprint is in it).
        var algorithms = new List<SignatureAndHashAlgorithm>
        {
            new(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
            new(HashAlgorithm.sha256, SignatureAlgorithm.rsa),
            new(HashAlgorithm.sha384, SignatureAlgorithm.ecdsa),
            new(HashAlgorithm.sha512, SignatureAlgorithm.ecdsa),
            SignatureAndHashAlgorithm.rsa_pss_rsae_sha256,
        };
        return new CertificateRequest([ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign], algorithms, null);
    }

    public override void NotifyClientCertificate(Certificate clientCertificate)
    {
        if (clientCertificate is null || clientCertificate.IsEmpty)
        {
            RefusalReason = "the browser sent no certificate";
            throw new TlsFatalAlert(AlertDescription.bad_certificate);
        }

        if (_expectedFingerprint is not null)
        {
            var actual = WebRtcCertificate.FormatFingerprint(SHA256.HashData(clientCertificate.GetCertificateAt(0).GetEncoded()));
            if (!actual.Equals(_expectedFingerprint, StringComparison.OrdinalIgnoreCase))
            {
                RefusalReason = "the browser's certificate does not match the fingerprint in its offer";
                throw new TlsFatalAlert(AlertDescription.bad_certificate);
            }
        }
    }

    public override void ProcessClientExtensions(IDictionary<int, byte[]> clientExtensions)
    {
        base.ProcessClientExtensions(clientExtensions);
        var offered = TlsSrtpUtilities.GetUseSrtpExtension(clientExtensions);
        if (offered is null)
        {
            RefusalReason = "the browser did not offer use_srtp";
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }

        var profiles = offered.ProtectionProfiles;
        _profile = Array.IndexOf(profiles, (int)SrtpProfile.AeadAes128Gcm) >= 0 ? (int)SrtpProfile.AeadAes128Gcm
            : Array.IndexOf(profiles, (int)SrtpProfile.AesCm128HmacSha1_80) >= 0 ? (int)SrtpProfile.AesCm128HmacSha1_80
            : -1;
        if (_profile < 0)
        {
            RefusalReason = $"no SRTP profile in common (the browser offered {string.Join(", ", profiles)})";
            throw new TlsFatalAlert(AlertDescription.handshake_failure);
        }
    }

    public override IDictionary<int, byte[]> GetServerExtensions()
    {
        var extensions = base.GetServerExtensions();
        TlsSrtpUtilities.AddUseSrtpExtension(extensions, new UseSrtpData([_profile], TlsUtilities.EmptyBytes));
        return extensions;
    }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        SelectedCipherSuite = m_context.SecurityParameters.CipherSuite;
        var profile = (SrtpProfile)_profile;
        var saltLength = SrtpContext.MasterSaltLength(profile);
        const int KeyLength = 16;
        // RFC 5764 §4.2: client key, server key, client salt, server salt.
        var material = m_context.ExportKeyingMaterial(ExporterLabel.dtls_srtp, null, 2 * (KeyLength + saltLength));
        Keys = new SrtpKeys(
            profile,
            material[KeyLength..(2 * KeyLength)],
            material[((2 * KeyLength) + saltLength)..],
            material[..KeyLength],
            material[(2 * KeyLength)..((2 * KeyLength) + saltLength)]);
        CryptographicOperations.ZeroMemory(material);
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
        RefusalReason ??= $"{AlertDescription.GetText(alertDescription)}{(message is null ? "" : ": " + message)}{(cause is null ? "" : " (" + cause.Message + ")")}";
    }

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
    {
        RefusalReason ??= $"the browser sent alert {AlertDescription.GetText(alertDescription)}";
    }
}

/// <summary>
/// The datagrams of one DTLS session, between the shared UDP socket and BouncyCastle's blocking handshake: the
/// receive loop queues what arrives from the session's address (bounded: 64 datagrams, further ones dropped and
/// retransmitted by the browser), the handshake thread takes them with a timeout, and sends go straight to the
/// socket.
/// </summary>
internal sealed class DtlsDatagramChannel(Action<ReadOnlySpan<byte>> send) : DatagramTransport
{
    private const int MaxQueued = 64;
    private readonly Queue<byte[]> _queue = new();
    private readonly object _gate = new();
    private volatile bool _closed;

    /// <summary>Datagrams dropped because the queue was full.</summary>
    public long Dropped { get; private set; }

    /// <summary>Queues a datagram from the peer (called by the receive loop).</summary>
    public void Enqueue(ReadOnlySpan<byte> datagram)
    {
        lock (_gate)
        {
            if (_closed || _queue.Count >= MaxQueued)
            {
                Dropped++;
                return;
            }

            _queue.Enqueue(datagram.ToArray());
            Monitor.PulseAll(_gate);
        }
    }

    public int GetReceiveLimit() => 1500;

    public int GetSendLimit() => 1200;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        byte[]? datagram;
        lock (_gate)
        {
            if (_queue.Count == 0 && !_closed)
            {
                Monitor.Wait(_gate, Math.Max(waitMillis, 1));
            }

            if (_closed || !_queue.TryDequeue(out datagram))
            {
                return -1;
            }
        }

        var length = Math.Min(datagram.Length, buffer.Length);
        datagram.AsSpan(0, length).CopyTo(buffer);
        return length;
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (!_closed)
        {
            send(buffer);
        }
    }

    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            Monitor.PulseAll(_gate);
        }
    }
}
