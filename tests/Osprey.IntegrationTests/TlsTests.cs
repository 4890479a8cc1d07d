using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// HTTPS and WSS through real clients on loopback (issue 13, TLS): curl, ffmpeg, .NET's WebSocket over HTTP/1.1
/// and HTTP/2, the certificate reload, <c>--tls-self-signed</c> and <c>osprey cert</c>. Each client trusts only
/// the test's own certificate.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly TestCertificate _cert = TestCertificate.Create();

    public void Dispose() => _cert.Dispose();

    [Fact]
    public async Task Curl_TrustingOnlyTheTestCertificate_GetsHttp2AndHttp11_OnThePortAndTheExtraPort()
    {
        await using var server = await StartAsync("--extra-port", "0");
        var ports = await ListeningPortsAsync(server, 2);
        foreach (var port in ports)
        {
            Assert.Equal("2 200", await CurlAsync("--cacert", _cert.CertFile, $"https://127.0.0.1:{port}/healthz"));
            Assert.Equal("1.1 200", await CurlAsync("--http1.1", "--cacert", _cert.CertFile, $"https://localhost:{port}/healthz"));
        }

        // Without the certificate as its CA, curl refuses the server (exit 60: peer certificate cannot be authenticated).
        var (code, _) = await RunAsync("curl", "-sS", "-o", "/dev/null", $"https://127.0.0.1:{ports[0]}/healthz");
        Assert.Equal(60, code);
    }

    [Fact]
    public async Task HttpsConfiguredTheAspNetWay_ThroughKestrelEndpointVariables_IsServed_InsteadOfAbortingStartUp()
    {
        // Issue 13, finding 2: a Kestrel__Endpoints__* HTTPS endpoint aborted start-up (no UseKestrelHttpsConfiguration).
        using var free = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        free.Start();
        var port = ((IPEndPoint)free.LocalEndpoint).Port;
        free.Stop();
        await using var server = await OspreyProcess.StartWithEnvironmentAsync(
            new Dictionary<string, string>
            {
                ["Kestrel__Endpoints__Https__Url"] = $"https://127.0.0.1:{port}",
                ["Kestrel__Endpoints__Https__Certificate__Path"] = _cert.CertFile,
                ["Kestrel__Endpoints__Https__Certificate__KeyPath"] = _cert.KeyFile,
            });
        // Each listener's line is printed as it starts; the server counts as started at the first.
        var listening = $"Osprey listening on https://127.0.0.1:{port}";
        for (var waited = 0; waited < 100 && !server.Output.Contains(listening, StringComparison.Ordinal); waited++)
        {
            await Task.Delay(100);
        }

        Assert.Contains(listening, server.Output, StringComparison.Ordinal);
        Assert.Equal(_cert.Thumbprint, await TestCertificate.PresentedThumbprintAsync(port));
        Assert.Equal("1.1 200", await CurlAsync("--http1.1", "--cacert", _cert.CertFile, $"https://127.0.0.1:{port}/healthz"));
        Assert.False(server.HasExited);
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task ClientWebSocket_OverWss_ReceivesWholeRawFrames_OnHttp11AndOnHttp2ExtendedConnect(string version)
    {
        await using var server = await StartAsync("--source", "test=testpattern:?width=64&height=48&fps=20");
        using var socket = await ConnectAsync(server.Ws("ws/test/raw"), version);
        var buffer = new byte[64 * 48 * 2 * 2];
        for (var frame = 0; frame < 3; frame++)
        {
            var length = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(length), new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
                length += result.Count;
            }
            while (!result.EndOfMessage);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            Assert.Equal(64 * 48 * 2, length);
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task RelayTopic_OverHttp2ExtendedConnect_IsAWebSocketRequest_AndCarriesMessagesBothWays()
    {
        // Topics are chosen by context.WebSockets.IsWebSocketRequest: an HTTP/2 CONNECT must count as one.
        await using var server = await StartAsync("relay");
        using var first = await ConnectAsync(server.Ws("chat/room"), "2.0");
        using var second = await ConnectAsync(server.Ws("chat/room"), "1.1");
        await Task.Delay(300);
        await first.SendAsync("hello over h2"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var received = await second.ReceiveAsync(buffer, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal("hello over h2", System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
        await second.SendAsync("and back"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        received = await first.ReceiveAsync(buffer, new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        Assert.Equal("and back", System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count));
    }

    [Fact]
    [Trait("Needs", "Ffmpeg")]
    public async Task Ffmpeg_PublishingMpegTsOverHttps_VerifyingTheCertificate_ReachesAViewerOverWss()
    {
        await using var server = await StartAsync("stream");
        await using var ffmpeg = Ffmpeg.Start(
            "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "mpegts", "-codec:v", "mpeg1video", "-b:v", "1000k", "-bf", "0", "-g", "12",
            "-tls_verify", "1", "-ca_file", _cert.CertFile, server.Http("ts/cam").ToString());
        using var socket = await ConnectWhenPublishedAsync(server.Ws("ws/cam/ts"), ffmpeg);
        var buffer = new byte[64 * 1024];
        long bytes = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var first = true;
        while (bytes < 50_000)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            if (first)
            {
                Assert.Equal(0x47, buffer[0]); // MPEG-TS sync byte: whole packets
                first = false;
            }

            bytes += result.Count;
        }

        Assert.False(ffmpeg.HasExited, $"ffmpeg stopped: {ffmpeg.Errors}");
    }

    [Fact]
    public async Task ReplacedCertificateFiles_AreReloaded_TheNextHandshakePresentsTheNewCertificate_AndABrokenFileKeepsTheOld()
    {
        await using var server = await StartAsync();
        var port = server.BaseUri.Port;
        Assert.Equal(_cert.Thumbprint, await TestCertificate.PresentedThumbprintAsync(port));

        var renewed = _cert.Renew("osprey renewed");
        Assert.True(await EventuallyAsync(async () => await TestCertificate.PresentedThumbprintAsync(port) == renewed.Thumbprint),
            $"the server still presents the old certificate. Output:\n{server.Output}");
        Assert.Contains("CN=osprey renewed", server.Output, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexString(renewed.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256))[..8], server.Output.Replace(":", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // A truncated certificate (an editor's half-saved file) is refused with a clear line; the last good one stays.
        await File.WriteAllTextAsync(_cert.CertFile, "-----BEGIN CERTIFICATE-----\nMIIB\n");
        Assert.True(await EventuallyAsync(() => Task.FromResult(server.Output.Contains("did not load", StringComparison.Ordinal))), server.Output);
        Assert.Equal(renewed.Thumbprint, await TestCertificate.PresentedThumbprintAsync(port));
        var renewedFile = Path.Combine(_cert.Folder, "renewed.pem");
        await File.WriteAllTextAsync(renewedFile, renewed.ExportCertificatePem());
        Assert.Equal("2 200", await CurlAsync("--cacert", renewedFile, $"https://127.0.0.1:{port}/healthz"));
    }

    [Fact]
    public async Task AMissingCertificate_StopsStartUpWithOneLineAndExitCode2()
    {
        var (code, output) = await RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "--bind", "127.0.0.1", "--port", "0",
            "--tls-cert", Path.Combine(_cert.Folder, "nosuch.pem"), "--tls-key", _cert.KeyFile);
        Assert.Equal(2, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = Assert.Single(lines, l => l.StartsWith("osprey:", StringComparison.Ordinal));
        Assert.Contains("nosuch.pem", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SelfSigned_StartsServingHttps_AndPrintsTheFingerprintOfTheCertificateItPresents()
    {
        await using var server = await OspreyProcess.StartAsync("--tls-self-signed");
        Assert.Equal("https", server.BaseUri.Scheme);
        var presented = await TestCertificate.PresentedCertificateAsync(server.BaseUri.Port);
        var fingerprint = string.Join(':', presented.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(await EventuallyAsync(() => Task.FromResult(server.Output.Contains(fingerprint, StringComparison.Ordinal))), server.Output);
        using (var key = presented.GetECDsaPublicKey())
        {
            Assert.Equal(256, key?.KeySize); // P-256
        }

        var names = presented.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("localhost", names.EnumerateDnsNames());
        Assert.Contains(IPAddress.Loopback, names.EnumerateIPAddresses());
        Assert.Contains(IPAddress.IPv6Loopback, names.EnumerateIPAddresses());
        Assert.InRange(presented.NotAfter.ToUniversalTime(), DateTime.UtcNow.AddDays(89), DateTime.UtcNow.AddDays(91));
    }

    [Fact]
    public async Task CertCommand_WritesAnOwnerOnlyKeyAndACertificate_ThatCurlTrustsWhenOspreyServesThem()
    {
        var folder = Path.Combine(_cert.Folder, "made");
        var (code, output) = await RunAsync("dotnet", Path.Combine(AppContext.BaseDirectory, "osprey.dll"), "cert", folder);
        Assert.Equal(0, code);
        var certFile = Path.Combine(folder, "osprey-cert.pem");
        var keyFile = Path.Combine(folder, "osprey-key.pem");
        Assert.Contains($"--tls-cert {certFile} --tls-key {keyFile}", output, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        }

        await using var server = await OspreyProcess.StartAsync("--tls-cert", certFile, "--tls-key", keyFile);
        Assert.Equal("2 200", await CurlAsync("--cacert", certFile, $"https://localhost:{server.BaseUri.Port}/healthz"));
    }

    private Task<OspreyProcess> StartAsync(params string[] arguments) =>
        OspreyProcess.StartAsync([.. arguments, "--tls-cert", _cert.CertFile, "--tls-key", _cert.KeyFile]);

    /// <summary>A WebSocket over wss that trusts only the test certificate, on HTTP/1.1 or on HTTP/2 (RFC 8441).</summary>
    private async Task<ClientWebSocket> ConnectAsync(Uri uri, string version)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        if (version == "2.0")
        {
            socket.Options.HttpVersion = HttpVersion.Version20;
            socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => _cert.Validate(presented);
            await socket.ConnectAsync(uri, new HttpMessageInvoker(handler), timeout.Token);
        }
        else
        {
            socket.Options.RemoteCertificateValidationCallback = (_, presented, _, _) => _cert.Validate(presented);
            await socket.ConnectAsync(uri, timeout.Token);
        }

        return socket;
    }

    private async Task<ClientWebSocket> ConnectWhenPublishedAsync(Uri uri, Ffmpeg ffmpeg)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                return await ConnectAsync(uri, "1.1");
            }
            catch (WebSocketException) when (DateTime.UtcNow < deadline && !ffmpeg.HasExited)
            {
                await Task.Delay(200); // 404 until ffmpeg's first bytes made the feed
            }
            catch (WebSocketException ex)
            {
                throw new InvalidOperationException($"no feed: ffmpeg said {ffmpeg.Errors}", ex);
            }
        }
    }

    private static async Task<int[]> ListeningPortsAsync(OspreyProcess server, int count)
    {
        Assert.True(await EventuallyAsync(() => Task.FromResult(server.ListeningUris.Count >= count)), server.Output);
        return [.. server.ListeningUris.Select(u => u.Port)];
    }

    /// <summary>curl's "HTTP-version status", e.g. "2 200".</summary>
    private static async Task<string> CurlAsync(params string[] arguments)
    {
        var (code, output) = await RunAsync("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "--max-time", "10", .. arguments]);
        Assert.True(code == 0, $"curl exited {code}: {output}");
        return output.Trim();
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (process.ExitCode, await stdout + stderr);
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return await condition();
    }
}
