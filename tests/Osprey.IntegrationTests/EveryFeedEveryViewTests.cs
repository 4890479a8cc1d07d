using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// A JPEG feed (a USB webcam's MJPEG) watched as H.264, and an H.264 feed (an IP camera) watched as JPEG, through the
/// lazy transforms: decoded once, encoded once, only while watched, with the source's colours.
/// </summary>
public class EveryFeedEveryViewTests
{
    private const string Bars = "smptebars=size=320x240:rate=15";
    private const string MjpegSource = $"cam=ffmpeg:-re -f lavfi -i {Bars}#output=mjpeg";
    private const string H264Source = $"cam=ffmpeg:-re -f lavfi -i {Bars}#output=h264&gop=15";

    [Fact]
    public async Task AnMjpegFeed_PlaysOverFmp4_ThroughOneJpegDecoderAndOneH264Encoder_WithTheBarsColours_AndBothStopAfterTheLastViewer()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", MjpegSource);
        using var http = new HttpClient();
        var file = Path.Combine(Path.GetTempPath(), $"osprey-{Guid.NewGuid():N}.mp4");
        try
        {
            using (var viewer = await MessageClient.ConnectAsync(server.Ws("ws/cam/mp4")))
            {
                var (type, mime) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(WebSocketMessageType.Text, type);
                Assert.StartsWith("video/mp4; codecs=\"avc1.", Encoding.UTF8.GetString(mime));
                await using (var output = File.Create(file))
                {
                    var (_, init) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(10));
                    Assert.Equal("ftyp", Encoding.ASCII.GetString(init, 4, 4));
                    await output.WriteAsync(init);
                    for (var i = 0; i < 30; i++)
                    {
                        var (_, segment) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(10));
                        Assert.Equal("moof", Encoding.ASCII.GetString(segment, 4, 4));
                        if (i == 0)
                        {
                            Assert.True(Mp4Inspection.StartsWithIdr(segment), "the first fragment is an IDR");
                        }

                        await output.WriteAsync(segment);
                    }
                }

                // While watched: the feed says which views it offers and through what, and the chain runs once.
                using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
                var root = feed.RootElement;
                Assert.Equal("jpeg", root.GetProperty("format").GetString());
                Assert.Equal("/ws/cam/mp4", root.GetProperty("endpoints").GetProperty("mp4").GetString());
                Assert.Equal(["jpegDecoder", "h264Encoder", "fmp4Muxer"], Strings(root.GetProperty("views").GetProperty("mp4")));
                Assert.Empty(Strings(root.GetProperty("views").GetProperty("mjpeg")));
                Assert.Equal(1, root.GetProperty("viewers").GetInt32());
                var parts = Parts(root);
                Assert.Equal("running", parts["jpegDecoder"].GetProperty("state").GetString());
                Assert.Equal("running", parts["h264Encoder"].GetProperty("state").GetString());
                Assert.True(parts["h264Encoder"].GetProperty("counters").GetProperty("processId").GetInt64() > 0);
                Assert.Equal(2, ChildProcesses.Of(server.Pid, "ffmpeg").Count); // the source and the encoder
            }

            var (code, json, errors) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", file);
            Assert.True(code == 0, errors);
            using (var probe = JsonDocument.Parse(json))
            {
                var stream = probe.RootElement.GetProperty("streams")[0];
                Assert.Equal("h264", stream.GetProperty("codec_name").GetString());
                Assert.Equal(320, stream.GetProperty("width").GetInt32());
                Assert.Equal(240, stream.GetProperty("height").GetInt32());
                Assert.Equal("30", stream.GetProperty("nb_read_frames").GetString());
            }

            SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(file, 320, 240), 320, "fMP4 of the MJPEG feed");

            // The last viewer left: the decoder, the encoder and the muxer stop, and the encoder's ffmpeg is gone.
            await WaitForAsync(async () =>
            {
                using var after = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
                var parts = Parts(after.RootElement);
                return parts.Where(p => p.Key != "ffmpeg").All(p => p.Value.GetProperty("state").GetString() == "idle")
                    && parts["h264Encoder"].GetProperty("counters").GetProperty("processId").GetInt64() == 0
                    && ChildProcesses.Of(server.Pid, "ffmpeg").Count == 1;
            }, async () => $"{await http.GetStringAsync(server.Http("api/feeds/cam"))}; ffmpeg children {ChildProcesses.Of(server.Pid, "ffmpeg").Count}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task AnH264Feed_GivesADecodableSnapshotAndAnMjpegStream_WithTheBarsColours_AndItsDecoderStopsAfterTheLastViewer()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", H264Source);
        using var http = new HttpClient();
        await WaitForAsync(async () =>
        {
            using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
            return feed.RootElement.GetProperty("frames").GetInt64() > 20;
        });

        using (var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam"))))
        {
            var endpoints = feed.RootElement.GetProperty("endpoints");
            Assert.Equal("/snapshot/cam.jpg", endpoints.GetProperty("snapshot").GetString());
            Assert.Equal("/mjpeg/cam", endpoints.GetProperty("mjpeg").GetString());
            Assert.Equal("/ws/cam/jpeg", endpoints.GetProperty("jpeg").GetString());
            Assert.Equal(["h264Decoder"], Strings(feed.RootElement.GetProperty("views").GetProperty("snapshot")));
            Assert.Equal(["fmp4Muxer"], Strings(feed.RootElement.GetProperty("views").GetProperty("mp4")));
        }

        // A snapshot: a JPEG of the current picture (not the first of the cached group), decodable, in the bars' colours.
        var clock = Stopwatch.StartNew();
        using var snapshot = await http.GetAsync(server.Http("snapshot/cam.jpg"));
        Assert.True(snapshot.IsSuccessStatusCode, await snapshot.Content.ReadAsStringAsync());
        Assert.Equal("image/jpeg", snapshot.Content.Headers.ContentType?.MediaType);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the snapshot took {clock.Elapsed}");
        var jpeg = await snapshot.Content.ReadAsByteArrayAsync();
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(jpeg, 320, 240), 320, "snapshot of the H.264 feed");

        // An MJPEG stream: every part a decodable JPEG of the bars, at about the source's rate.
        using (var mjpeg = await MjpegClient.ConnectAsync(server.Http("mjpeg/cam")))
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            byte[] part = [];
            var first = Stopwatch.StartNew();
            for (var i = 0; i < 30; i++)
            {
                (_, part) = await mjpeg.ReadPartAsync(timeout.Token);
                Assert.Equal([0xFF, 0xD8], part[..2]);
                if (i == 0)
                {
                    first.Restart();
                }
            }

            // 29 intervals at 15 fps are about 1.9 s; a decoder that falls behind or bursts would be far off.
            Assert.InRange(first.Elapsed.TotalSeconds, 1.0, 4.0);
            SmpteBars.AssertBars(await SmpteBars.DecodeToRgbAsync(part, 320, 240), 320, "MJPEG of the H.264 feed");

            using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
            var decoder = Parts(feed.RootElement)["h264Decoder"];
            Assert.Equal("running", decoder.GetProperty("state").GetString());
            Assert.True(decoder.GetProperty("counters").GetProperty("decodedFrames").GetInt64() >= 30);
            Assert.Equal(2, ChildProcesses.Of(server.Pid, "ffmpeg").Count); // the source and the decoder
        }

        await WaitForAsync(async () =>
        {
            using var after = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
            var decoder = Parts(after.RootElement)["h264Decoder"];
            return decoder.GetProperty("state").GetString() == "idle"
                && decoder.GetProperty("counters").GetProperty("processId").GetInt64() == 0
                && ChildProcesses.Of(server.Pid, "ffmpeg").Count == 1;
        });
    }

    private static Dictionary<string, JsonElement> Parts(JsonElement feed) =>
        feed.GetProperty("parts").EnumerateArray().ToDictionary(p => p.GetProperty("part").GetString()!, p => p.Clone());

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static async Task WaitForAsync(Func<Task<bool>> condition, Func<Task<string>>? describe = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), $"the condition did not hold within 20 s: {(describe is null ? "" : await describe())}");
            await Task.Delay(200);
        }
    }
}
