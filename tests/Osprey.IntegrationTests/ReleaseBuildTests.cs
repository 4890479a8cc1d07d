using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using Osprey.Codecs.Jpeg;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// The executables users run, made by scripts/publish.sh (test.sh makes them once before the tests): the Native AOT
/// build for this machine, and the Raspberry Pi's linux-arm64 build, which runs here under Debian's qemu-user.
/// Each is started as a process and asked for what depends on code that trimming or AOT could break: the test
/// pattern, JPEG through libturbojpeg (loaded at run time), the embedded page and jsmpeg, the OpenAPI document and
/// its reference page, metrics, the YAML config file and JWTs checked against a JWKS.
/// </summary>
public class ReleaseBuildTests
{
    private const int FrameBytes = 640 * 480 * 2;
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private static string HostRid => ReleaseBuild.IsArm64Host ? "linux-arm64" : "linux-x64";

    [Fact]
    public async Task TheNativeExecutable_ServesTestPatternFrames_AndDecodableJpegs()
    {
        var osprey = await ReleaseBuild.GetAsync(HostRid);
        await using var server = await OspreyProcess.StartCommandAsync([osprey]);
        await AssertServesFramesAndJpegsAsync(server, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task TheArm64Executable_UnderQemu_ServesATestPatternFrame_AndADecodableJpeg()
    {
        var osprey = await ReleaseBuild.GetAsync("linux-arm64");
        var runner = await ReleaseBuild.Arm64RunnerAsync();
        Assert.Equal([0x7F, (byte)'E', (byte)'L', (byte)'F'], File.ReadAllBytes(osprey)[..4]);
        Assert.Equal(0xB7, BitConverter.ToUInt16(File.ReadAllBytes(osprey), 18)); // e_machine: EM_AARCH64
        await using var server = await OspreyProcess.StartCommandAsync([.. runner, osprey]);
        await AssertServesFramesAndJpegsAsync(server, TimeSpan.FromSeconds(60));
        Assert.Contains("Osprey listening on", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheNativeExecutable_ServesItsEmbeddedPage_Jsmpeg_TheApiDocument_TheReferencePage_AndMetrics()
    {
        var osprey = await ReleaseBuild.GetAsync(HostRid);
        await using var server = await OspreyProcess.StartCommandAsync([osprey]);

        using (var first = await s_http.GetAsync(server.Http("")))
        {
            Assert.Contains("<html", await first.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
            Assert.StartsWith("default-src 'self'", first.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            // The ETag (computed when the page is first served) revalidates: 304 with no body.
            var etag = first.Headers.ETag!;
            using var again = new HttpRequestMessage(HttpMethod.Get, server.Http(""));
            again.Headers.IfNoneMatch.Add(etag);
            using var revalidated = await s_http.SendAsync(again);
            Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
            Assert.Empty(await revalidated.Content.ReadAsByteArrayAsync());
        }

        // The article's page keeps its inline script, allowed by its hash in the policy.
        using (var eyetoy = await s_http.GetAsync(server.Http("eyetoy.html")))
        {
            Assert.Contains("'sha256-", eyetoy.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        }

        var jsmpeg = await s_http.GetStringAsync(server.Http("vendor/jsmpeg/jsmpeg.min.js"));
        Assert.Contains("JSMpeg", jsmpeg, StringComparison.Ordinal);
        Assert.True(jsmpeg.Length > 50_000, $"jsmpeg.min.js is {jsmpeg.Length} characters");
        Assert.Contains("MIT", await s_http.GetStringAsync(server.Http("vendor/jsmpeg/LICENSE")), StringComparison.Ordinal);

        using (var document = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("openapi/v1.json"))))
        {
            var paths = document.RootElement.GetProperty("paths");
            Assert.True(paths.TryGetProperty("/snapshot/{file}", out _), "the OpenAPI document lists the snapshot");
            Assert.True(paths.TryGetProperty("/metrics", out _), "the OpenAPI document lists the metrics");
            Assert.True(paths.EnumerateObject().Count() > 30, "the OpenAPI document lists the API");
        }

        var reference = await s_http.GetStringAsync(server.Http("docs/"));
        Assert.Contains("scalar", reference, StringComparison.OrdinalIgnoreCase);
        using (var script = await s_http.GetAsync(server.Http("docs/scalar.js")))
        {
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000);
        }

        using (var schema = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/config/schema"))))
        {
            Assert.Equal(JsonValueKind.Object, schema.RootElement.GetProperty("properties").ValueKind);
        }

        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw"));
        await viewer.ReceiveFramesAsync(2, TimeSpan.FromSeconds(20));
        var metrics = await s_http.GetStringAsync(server.Http("metrics"));
        var frames = metrics.Split('\n').Single(line => line.StartsWith("osprey_feed_frames_total{", StringComparison.Ordinal) && line.Contains("feed=\"test\"", StringComparison.Ordinal));
        Assert.True(double.Parse(frames[(frames.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture) >= 2, frames);
    }

    [Fact]
    public async Task TheNativeExecutable_ReadsItsYamlConfig_AndChecksJwtsAgainstAJwks()
    {
        var osprey = await ReleaseBuild.GetAsync(HostRid);
        var dir = Directory.CreateTempSubdirectory("osprey-release-").FullName;
        try
        {
            var config = Path.Combine(dir, "osprey.yaml");
            await File.WriteAllTextAsync(config, "# one camera\nsources:\n  cam: \"testpattern:?width=320&height=240&fps=15\"\n");
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            await using var jwks = new LoopbackHttpServer((_, _) => (200, ExternalAuthTests.Jwks(key, "k1")));
            await using var server = await OspreyProcess.StartCommandAsync([osprey], "--config", config, "--jwt-jwks", new Uri(jwks.BaseUri, "jwks.json").ToString());

            var token = ExternalAuthTests.Sign(key, "k1", """[{"action":"read","path":"cam"}]""");
            using var viewer = await RawFrameClient.ConnectAsync(server.Ws($"ws/cam/raw?jwt={token}"));
            await viewer.ReceiveFramesAsync(2, TimeSpan.FromSeconds(20));
            Assert.All(viewer.Sizes, size => Assert.Equal(320 * 240 * 2, size));
            Assert.Equal(HttpStatusCode.Unauthorized, await ExternalAuthTests.UpgradeStatusAsync(server.Ws("ws/cam/raw")));
            Assert.Equal(HttpStatusCode.Unauthorized, await ExternalAuthTests.UpgradeStatusAsync(server.Ws($"ws/cam/raw?jwt={token[..^6]}")));
            Assert.Contains("Config " + config, server.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Raw frames with intact probe headers and rising counters, a snapshot and a WebSocket JPEG that decode.</summary>
    private static async Task AssertServesFramesAndJpegsAsync(OspreyProcess server, TimeSpan timeout)
    {
        using (var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/raw")))
        {
            await viewer.ReceiveFramesAsync(3, timeout);
            Assert.All(viewer.Sizes, size => Assert.Equal(FrameBytes, size));
            Assert.Equal(3, viewer.Headers.Count);
            Assert.Equal(0, viewer.TornFrames);
            Assert.All(viewer.Headers, header => Assert.Equal((640, 480), ((int)header.Width, (int)header.Height)));
            Assert.True(viewer.Headers[0].Counter < viewer.Headers[1].Counter && viewer.Headers[1].Counter < viewer.Headers[2].Counter);
        }

        using var decoder = new JpegDecoder();
        var yuyv = new byte[FrameBytes];
        using (var response = await s_http.GetAsync(server.Http("snapshot/test.jpg")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("image/jpeg", response.Content.Headers.ContentType!.MediaType);
            var jpeg = await response.Content.ReadAsByteArrayAsync();
            Assert.True(JpegProbe.TryRead(jpeg, out var probe), "the snapshot carries the probe header");
            Assert.Equal((uint)jpeg.Length, probe.PayloadSize);
            Assert.True(decoder.TryDecodeToYuyv(jpeg, yuyv, out var width, out var height, out var error), error);
            Assert.Equal((640, 480), (width, height));
        }

        using var jpegViewer = await RawFrameClient.ConnectAsync(server.Ws("ws/test/jpeg"));
        await jpegViewer.ReceiveFramesAsync(1, timeout);
        var image = jpegViewer.LastFrame.ToArray();
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, image[..2]);
        Assert.True(decoder.TryDecodeToYuyv(image, yuyv, out var w, out var h, out var message), message);
        Assert.Equal((640, 480), (w, h));
        Assert.Equal(WebSocketState.Open, jpegViewer.Socket.State);
    }
}
