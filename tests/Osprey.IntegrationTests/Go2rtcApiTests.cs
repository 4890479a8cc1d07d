using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// Osprey in go2rtc's place under Frigate: the requests Frigate makes of go2rtc on port 1984, replayed against
/// <c>--go2rtc-port</c>. From blakeblackshear/frigate: frigate/api/camera.py (<c>GET /api/streams</c>, and
/// <c>?src=NAME&amp;video=all&amp;audio=all&amp;microphone=</c> for one camera's metadata), web/src/components/player/MsePlayer.tsx
/// (go2rtc's video-rtc.js MSE mode: WebSocket <c>/api/ws?src=NAME</c>, <c>{"type":"mse","value":codecs}</c>), its
/// WebRTC player (<c>webrtc/offer</c>), and the snapshot and MJPEG URLs go2rtc documents.
/// </summary>
public class Go2rtcApiTests
{
    /// <summary>The codec list video-rtc.js offers from a Chromium that plays H.264, H.265 and AAC.</summary>
    private const string VideoRtcCodecs = "avc1.640029,avc1.64002A,avc1.640033,hvc1.1.6.L153.B0,mp4a.40.2,mp4a.40.5,flac,opus";

    [Fact]
    public async Task FrigatesRequests_AreAnsweredInGo2rtcsShape_OnTheGo2rtcPortOnly()
    {
        var port = FreePort();
        await using var server = await OspreyProcess.StartAsync(
            "stream", "--go2rtc-port", port.ToString(CultureInfo.InvariantCulture),
            "--source", "front=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=15#output=h264&gop=15",
            "--source", "usb=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=15#output=mjpeg");
        var go2rtc = new Uri($"http://127.0.0.1:{port}/");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };

        // frigate/api/camera.py go2rtc_streams(): every stream, each producer's url.
        using (var all = JsonDocument.Parse(await http.GetStringAsync(new Uri(go2rtc, "api/streams"))))
        {
            Assert.Equal(JsonValueKind.Object, all.RootElement.ValueKind);
            foreach (var name in new[] { "front", "usb" })
            {
                var producer = all.RootElement.GetProperty(name).GetProperty("producers")[0];
                Assert.StartsWith("ffmpeg:", producer.GetProperty("url").GetString(), StringComparison.Ordinal);
                Assert.Equal(JsonValueKind.Array, all.RootElement.GetProperty(name).GetProperty("consumers").ValueKind);
            }
        }

        // go2rtc_camera_stream(): one stream with its medias, which Frigate's page reads for audio and codecs.
        using (var one = JsonDocument.Parse(await http.GetStringAsync(new Uri(go2rtc, "api/streams?src=front&video=all&audio=all&microphone="))))
        {
            var medias = one.RootElement.GetProperty("producers")[0].GetProperty("medias");
            Assert.Equal("video, recvonly, H264", medias[0].GetString());
        }

        using (var missing = await http.GetAsync(new Uri(go2rtc, "api/streams?src=nothing")))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // On Osprey's own port /api/streams is still vw's.
        using (var vw = await http.GetAsync(server.Http("api/streams/all")))
        {
            Assert.Equal(HttpStatusCode.OK, vw.StatusCode);
        }

        // go2rtc's snapshot of an H.264 camera (its decoder) and MJPEG of it, in the bars' colours.
        using (var frame = await http.GetAsync(new Uri(go2rtc, "api/frame.jpeg?src=front")))
        {
            Assert.Equal(HttpStatusCode.OK, frame.StatusCode);
            Assert.Equal("image/jpeg", frame.Content.Headers.ContentType?.MediaType);
            SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(await frame.Content.ReadAsByteArrayAsync(), 320, 240), 320, "frame.jpeg of the H.264 feed");
        }

        using (var mjpeg = await MjpegClient.ConnectAsync(new Uri(go2rtc, "api/stream.mjpeg?src=usb")))
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var (_, jpeg) = await mjpeg.ReadPartAsync(timeout.Token);
            SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(jpeg, 320, 240), 320, "stream.mjpeg of the MJPEG feed");
        }

        using (var unknown = await http.GetAsync(new Uri(go2rtc, "api/frame.jpeg?src=nothing")))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal("stream not found", (await unknown.Content.ReadAsStringAsync()).Trim());
        }

        // WebRTC is not there yet: said so, in go2rtc's error form and as a 501.
        using (var offer = await http.PostAsync(new Uri(go2rtc, "api/webrtc?src=front"), new StringContent("v=0\r\n", Encoding.UTF8, "application/sdp")))
        {
            Assert.Equal(HttpStatusCode.NotImplemented, offer.StatusCode);
            Assert.Contains("WebRTC", await offer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("front")] // an H.264 camera: its fragments as they are
    [InlineData("usb")]   // an MJPEG webcam: through the lazy JPEG decoder and H.264 encoder
    public async Task VideoRtcsMseConversation_PlaysDecodableFmp4_AndWebRtcOffersGetGo2rtcsError(string stream)
    {
        var port = FreePort();
        await using var server = await OspreyProcess.StartAsync(
            "stream", "--go2rtc-port", port.ToString(CultureInfo.InvariantCulture),
            "--source", "front=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=15#output=h264&gop=15",
            "--source", "usb=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=15#output=mjpeg");
        using var socket = new ClientWebSocket();
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/api/ws?src={stream}"), connect.Token);

        // video-rtc.js in mode "webrtc,mse" sends its offer too; without WebRTC that is answered with an error.
        await SendAsync(socket, "{\"type\":\"webrtc/offer\",\"value\":\"v=0\\r\\n\"}");
        var (type, error) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Text, type);
        using (var message = JsonDocument.Parse(error))
        {
            Assert.Equal("error", message.RootElement.GetProperty("type").GetString());
            Assert.StartsWith("webrtc/offer: ", message.RootElement.GetProperty("value").GetString(), StringComparison.Ordinal);
        }

        await SendAsync(socket, $"{{\"type\":\"mse\",\"value\":\"{VideoRtcCodecs}\"}}");
        var (mseType, mse) = await ReceiveAsync(socket, TimeSpan.FromSeconds(30));
        Assert.Equal(WebSocketMessageType.Text, mseType);
        using (var message = JsonDocument.Parse(mse))
        {
            Assert.Equal("mse", message.RootElement.GetProperty("type").GetString());
            Assert.StartsWith("video/mp4; codecs=\"avc1.", message.RootElement.GetProperty("value").GetString(), StringComparison.Ordinal);
        }

        var file = Path.Combine(Path.GetTempPath(), $"osprey-{Guid.NewGuid():N}.mp4");
        try
        {
            await using (var output = File.Create(file))
            {
                var (initType, init) = await ReceiveAsync(socket);
                Assert.Equal(WebSocketMessageType.Binary, initType);
                Assert.Equal("ftyp", Encoding.ASCII.GetString(init, 4, 4));
                await output.WriteAsync(init);
                for (var i = 0; i < 20; i++)
                {
                    var (_, segment) = await ReceiveAsync(socket);
                    Assert.Equal("moof", Encoding.ASCII.GetString(segment, 4, 4));
                    await output.WriteAsync(segment);
                }
            }

            var (code, frames, errors) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file);
            Assert.True(code == 0, errors);
            Assert.Equal("20", frames.Trim());
            SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(file, 320, 240), 320, $"mse of {stream}");
        }
        finally
        {
            File.Delete(file);
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }

    [Fact]
    public async Task TheGo2rtcSurface_KeepsOspreysAccessRules_ReadOnTheFeed()
    {
        var port = FreePort();
        await using var server = await OspreyProcess.StartAsync(
            "--go2rtc-port", port.ToString(CultureInfo.InvariantCulture),
            "--source", "cam=testpattern:?width=160&height=120&fps=10",
            "--source", "other=testpattern:?width=160&height=120&fps=10",
            "--user", "alice:alice-pass:read:cam");
        var go2rtc = new Uri($"http://127.0.0.1:{port}/");
        using var anonymous = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        using (var refused = await anonymous.GetAsync(new Uri(go2rtc, "api/frame.jpeg?src=cam")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using var alice = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        alice.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:alice-pass")));
        using (var frame = await alice.GetAsync(new Uri(go2rtc, "api/frame.jpeg?src=cam")))
        {
            Assert.Equal(HttpStatusCode.OK, frame.StatusCode);
        }

        using (var forbidden = await alice.GetAsync(new Uri(go2rtc, "api/frame.jpeg?src=other")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        // The list names only what alice may read.
        using var streams = JsonDocument.Parse(await alice.GetStringAsync(new Uri(go2rtc, "api/streams")));
        Assert.Equal(["cam"], streams.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
    }

    private static async Task SendAsync(ClientWebSocket socket, string text) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(ClientWebSocket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        using var data = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cts.Token);
            data.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, data.ToArray());
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
