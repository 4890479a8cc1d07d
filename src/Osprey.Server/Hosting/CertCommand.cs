using System.Net;

namespace Osprey.Server.Hosting;

/// <summary><c>osprey cert [DIR]</c>: a self-signed certificate and key for a first try of <c>--tls-cert</c>/<c>--tls-key</c>.</summary>
internal static class CertCommand
{
    public const string CertFileName = "osprey-cert.pem";

    public const string KeyFileName = "osprey-key.pem";

    public static int Run(string? directory, TextWriter output, TextWriter errors)
    {
        var folder = Path.GetFullPath(string.IsNullOrEmpty(directory) ? "." : directory);
        var certPath = Path.Combine(folder, CertFileName);
        var keyPath = Path.Combine(folder, KeyFileName);
        try
        {
            Directory.CreateDirectory(folder);
            using var certificate = TlsCertificates.CreateSelfSigned(Dns.GetHostName());
            var (certPem, keyPem) = TlsCertificates.ExportPem(certificate);
            // The key is created owner-only before a byte is written, so it is never readable by others, even briefly.
            var keyOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                keyOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var key = new FileStream(keyPath, keyOptions))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a file that existed keeps its mode otherwise
                }

                key.Write(System.Text.Encoding.ASCII.GetBytes(keyPem));
            }

            File.WriteAllText(certPath, certPem);
            output.WriteLine($"Wrote {certPath} and {keyPath} (owner-only): a self-signed certificate for {certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false)}, localhost, 127.0.0.1 and ::1.");
            output.WriteLine($"  {TlsCertificates.Describe(certificate)}");
            output.WriteLine($"Serve HTTPS and WSS with: osprey --tls-cert {certPath} --tls-key {keyPath}");
            output.WriteLine($"Browsers warn about it until trusted: compare the SHA-256 above, or trust it, e.g. curl --cacert {certPath} https://localhost:8888/healthz");
            output.WriteLine("For a deployment use a certificate from a CA (e.g. certbot's fullchain.pem and privkey.pem); Osprey reloads it when renewed.");
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.WriteLine($"osprey: cannot write the certificate into {folder}: {ex.Message}");
            return 2;
        }
    }
}
