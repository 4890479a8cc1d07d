using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Osprey.Routing;

/// <summary>
/// How a <c>wss://</c> destination checks its relay's certificate. By default as any TLS client: a chain to one of
/// the system's CAs and a name that matches the URL's host. <c>--destination-ca FILE</c> adds CAs (a private CA that
/// signs the relays); a pin (<c>--destination-pin</c>, or a rule's own <see cref="DestinationRule.Pin"/>) replaces
/// the CA check with an exact match of the certificate's SHA-256, which is how a relay with a self-signed
/// certificate (<c>osprey --tls-self-signed</c>) is trusted. A certificate that passes none of these is refused, and
/// the destination's <c>lastError</c> says which check failed and the certificate's SHA-256, never what else the
/// relay sent.
/// </summary>
/// <remarks>Immutable and thread-safe: one instance serves every destination's dials.</remarks>
public sealed class RelayTrust
{
    private readonly X509Certificate2Collection _roots;
    private readonly HashSet<string> _pins;

    private RelayTrust(X509Certificate2Collection roots, HashSet<string> pins)
    {
        _roots = roots;
        _pins = pins;
    }

    /// <summary>The system's CAs only, no pins.</summary>
    public static RelayTrust System { get; } = new([], new HashSet<string>(StringComparer.Ordinal));

    /// <summary>Pins that apply to every destination without its own (normalized: upper-case hex pairs with colons).</summary>
    public IReadOnlyCollection<string> Pins => _pins;

    /// <summary>CAs trusted besides the system's.</summary>
    public int ExtraRoots => _roots.Count;

    /// <summary>Trust with the CAs of the PEM files <paramref name="caFiles"/> and the SHA-256 pins <paramref name="pins"/>.</summary>
    /// <exception cref="FormatException">A file does not load, holds no certificate, or a pin is not a SHA-256.</exception>
    public static RelayTrust Create(IEnumerable<string> caFiles, IEnumerable<string> pins)
    {
        ArgumentNullException.ThrowIfNull(caFiles);
        ArgumentNullException.ThrowIfNull(pins);
        var roots = new X509Certificate2Collection();
        foreach (var file in caFiles)
        {
            try
            {
                var before = roots.Count;
                roots.ImportFromPemFile(file);
                if (roots.Count == before)
                {
                    throw new FormatException($"--destination-ca '{file}' holds no PEM certificate.");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new FormatException($"--destination-ca '{file}' cannot be loaded: {ex.Message}", ex);
            }
        }

        var normalized = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pin in pins)
        {
            normalized.Add(NormalizePin(pin) ?? throw new FormatException($"--destination-pin '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)."));
        }

        return new RelayTrust(roots, normalized);
    }

    /// <summary>
    /// A SHA-256 fingerprint as upper-case hex pairs separated by colons (as <c>openssl x509 -fingerprint -sha256</c>
    /// and Osprey's own start-up line print it), from 64 hex digits with or without colons; null when it is not one.
    /// </summary>
    public static string? NormalizePin(string? pin)
    {
        if (pin is null)
        {
            return null;
        }

        var text = pin.Trim();
        if (text.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            text = text[7..];
        }

        var hex = text.Replace(":", "", StringComparison.Ordinal);
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            return null;
        }

        return string.Join(':', Enumerable.Range(0, 32).Select(i => hex.Substring(i * 2, 2).ToUpperInvariant()));
    }

    /// <summary>The SHA-256 fingerprint of <paramref name="certificate"/>, in <see cref="NormalizePin"/>'s form.</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));
    }

    /// <summary>Checks the certificate a relay presented for <paramref name="rule"/>.</summary>
    /// <returns>Null when it is trusted, otherwise why not, in words for the destination's <c>lastError</c>.</returns>
    public string? Check(DestinationRule rule, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (presented is null)
        {
            return "the relay sent no TLS certificate";
        }

        using var certificate = new X509Certificate2(presented);
        var fingerprint = Fingerprint(certificate);
        var pins = rule.Pin is { Length: > 0 } own ? [NormalizePin(own) ?? own] : _pins;
        if (pins.Count > 0)
        {
            // A pin names the one certificate to accept, whoever signed it (or not): nothing else is.
            return pins.Contains(fingerprint)
                ? null
                : $"the relay's certificate (SHA-256 {fingerprint}) is not the pinned one";
        }

        if (errors == SslPolicyErrors.None)
        {
            return null;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the relay's certificate does not name the host of {rule.Destination} (SHA-256 {fingerprint})";
        }

        if (errors == SslPolicyErrors.RemoteCertificateChainErrors && _roots.Count > 0 && ChainsToExtraRoot(certificate, chain))
        {
            return null;
        }

        return $"the relay's certificate is not trusted (SHA-256 {fingerprint}): trust its CA with --destination-ca FILE or pin it with --destination-pin";
    }

    private bool ChainsToExtraRoot(X509Certificate2 certificate, X509Chain? presentedChain)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        // A private CA seldom publishes revocation lists; the check is the chain to the operator's own CA.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1")); // server authentication
        if (presentedChain is not null)
        {
            // The intermediates the relay sent.
            foreach (var element in presentedChain.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }
}
