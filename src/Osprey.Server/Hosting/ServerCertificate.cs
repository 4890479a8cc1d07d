using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Osprey.Runtime;

namespace Osprey.Server.Hosting;

/// <summary>
/// The certificate every TLS listener presents: loaded from PEM files and reloaded when they change (certbot,
/// an editor, a Kubernetes secret's symlink swap), or self-signed at start. A file that fails to load keeps the
/// certificate in use.
/// </summary>
/// <remarks>
/// Handshakes take the current <see cref="SslStreamCertificateContext"/> through Kestrel's per-connection callback
/// rather than a <c>ServerCertificateSelector</c>: the context carries the intermediates of a full-chain file, which
/// a selector's bare certificate would not send, and it is built once per load, not per handshake.
/// </remarks>
internal sealed partial class ServerCertificate : IDisposable
{
    /// <summary>How long file events must pause before a reload: certbot and editors write, rename and relink in bursts.</summary>
    public static readonly TimeSpan ReloadDelay = TimeSpan.FromMilliseconds(500);

    private readonly string? _certFile;
    private readonly string? _keyFile;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _reloadLock = new();
    private Timer? _debounce;
    private ILogger? _logger;
    private volatile Loaded _current;

    private ServerCertificate(Loaded current, string? certFile, string? keyFile, string origin)
    {
        _current = current;
        _certFile = certFile;
        _keyFile = keyFile;
        Origin = origin;
    }

    /// <summary>The certificate handshakes present now.</summary>
    public X509Certificate2 Certificate => _current.Certificate;

    /// <summary>Where the certificate comes from, for the start-up line.</summary>
    public string Origin { get; }

    /// <summary>True for a certificate made at start, which no client trusts until told its fingerprint.</summary>
    public bool IsSelfSigned => _certFile is null;

    /// <summary>Loads <paramref name="certFile"/> and <paramref name="keyFile"/>; a file that is missing or unreadable is an <see cref="ArgumentException"/> naming it.</summary>
    public static ServerCertificate FromFiles(string certFile, string keyFile)
    {
        try
        {
            return new ServerCertificate(Load(certFile, keyFile), Path.GetFullPath(certFile), Path.GetFullPath(keyFile), $"from {certFile} and {keyFile}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"--tls-cert/--tls-key: cannot load the certificate from '{certFile}' and the key from '{keyFile}': {ex.Message}");
        }
    }

    /// <summary>A new self-signed certificate for this machine (<see cref="TlsCertificates.CreateSelfSigned"/>).</summary>
    public static ServerCertificate SelfSigned()
    {
        var certificate = TlsCertificates.CreateSelfSigned(System.Net.Dns.GetHostName());
        return new ServerCertificate(new Loaded(certificate, SslStreamCertificateContext.Create(certificate, null, offline: true)), null, null, "self-signed at start");
    }

    /// <summary>Kestrel's per-handshake callback: the current certificate, HTTP/2 and HTTP/1.1 offered by ALPN.</summary>
    public ValueTask<SslServerAuthenticationOptions> OnConnection(TlsHandshakeCallbackContext context) =>
        new(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _current.Context,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        });

    /// <summary>Watches the files' folders (their names can be symlinks swapped under them) and reloads after changes.</summary>
    public void StartWatching(ILogger logger)
    {
        _logger = logger;
        if (_certFile is null || _keyFile is null)
        {
            return;
        }

        _debounce = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
        foreach (var folder in new[] { Path.GetDirectoryName(_certFile)!, Path.GetDirectoryName(_keyFile)! }.Distinct(StringComparer.Ordinal))
        {
            // The whole folder, not a filter on the names: a renamed-over file, a relinked ..data directory or a
            // certbot live/ symlink change shows up as events on other names.
            var watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Deleted += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.Error += (_, _) => OnFileEvent(null, null!);
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    /// <summary>Loads the files again now; false (and the old certificate kept) when they do not load.</summary>
    public bool Reload()
    {
        if (_certFile is null || _keyFile is null)
        {
            return false;
        }

        lock (_reloadLock)
        {
            Loaded next;
            try
            {
                next = Load(_certFile, _keyFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                if (_logger is not null)
                {
                    Log.ReloadFailed(_logger, _certFile, _keyFile, ex.Message, TlsCertificates.Describe(_current.Certificate));
                }

                return false;
            }

            if (next.Certificate.Thumbprint == _current.Certificate.Thumbprint)
            {
                return true; // another file in the folder changed, or the same certificate was written again
            }

            // The old certificate is not disposed: a handshake in progress may still be using it.
            _current = next;
            if (_logger is not null)
            {
                Log.Reloaded(_logger, TlsCertificates.Describe(next.Certificate));
            }

            return true;
        }
    }

    public void Dispose()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _debounce?.Dispose();
    }

    private void OnFileEvent(object? sender, FileSystemEventArgs e)
    {
        try
        {
            _debounce?.Change(ReloadDelay, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    private static Loaded Load(string certFile, string keyFile)
    {
        var (certificate, chain) = TlsCertificates.LoadPem(certFile, keyFile);
        if (!certificate.HasPrivateKey)
        {
            throw new CryptographicException("the key file holds no private key for the certificate");
        }

        // offline: intermediates come from the file (or the system store), never fetched from the network.
        return new Loaded(certificate, SslStreamCertificateContext.Create(certificate, chain, offline: true));
    }

    private sealed record Loaded(X509Certificate2 Certificate, SslStreamCertificateContext Context);

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ServerTlsReloaded, LogLevel.Information, "TLS certificate reloaded: {Certificate}")]
        public static partial void Reloaded(ILogger logger, string certificate);

        [LoggerMessage(LogEvents.ServerTlsReloadFailed, LogLevel.Warning, "TLS certificate {CertFile} with key {KeyFile} did not load ({Error}); still serving {Certificate}")]
        public static partial void ReloadFailed(ILogger logger, string certFile, string keyFile, string error, string certificate);
    }
}
