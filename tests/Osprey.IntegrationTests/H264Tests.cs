using System.Buffers.Binary;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

public class H264Tests
{
    private const string H264Source = "cam=ffmpeg:-re -f lavfi -i testsrc2=size=320x240:rate=30#output=h264&gop=15";

    [Fact]
    public async Task Fmp4FromAnFfmpegH264Source_IsAcceptedByFfprobe_WithItsSizeFrameCountAndRisingTimestamps()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", H264Source);
        using var viewer = await MessageClient.ConnectAsync(server.Ws("ws/cam/mp4"));
        var (type, mime) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(WebSocketMessageType.Text, type);
        Assert.StartsWith("video/mp4; codecs=\"avc1.", Encoding.UTF8.GetString(mime));

        var file = Path.Combine(Path.GetTempPath(), $"osprey-{Guid.NewGuid():N}.mp4");
        try
        {
            await using (var output = File.Create(file))
            {
                var (initType, init) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(WebSocketMessageType.Binary, initType);
                Assert.Equal("ftyp", Encoding.ASCII.GetString(init, 4, 4));
                await output.WriteAsync(init);
                for (var i = 0; i < 60; i++)
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

            var (code, json, errors) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", file);
            Assert.True(code == 0, errors);
            using var probe = JsonDocument.Parse(json);
            var stream = probe.RootElement.GetProperty("streams")[0];
            Assert.Equal("h264", stream.GetProperty("codec_name").GetString());
            Assert.Equal(320, stream.GetProperty("width").GetInt32());
            Assert.Equal(240, stream.GetProperty("height").GetInt32());
            Assert.Equal("60", stream.GetProperty("nb_read_frames").GetString());

            var (_, packets, _) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "csv=p=0", file);
            var times = packets.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(60, times.Count);
            for (var i = 1; i < times.Count; i++)
            {
                Assert.True(times[i] > times[i - 1], $"dts {times[i]} after {times[i - 1]}");
            }

            // Real timestamps: 60 frames at 30 fps span about two seconds.
            Assert.InRange(times[^1] - times[0], 1.6, 2.4);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ALateViewer_StartsAtOnceWithAnIdrFragment()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", H264Source);
        using (var first = await MessageClient.ConnectAsync(server.Ws("ws/cam/mp4")))
        {
            for (var i = 0; i < 25; i++)
            {
                await first.ReceiveAsync(TimeSpan.FromSeconds(20));
            }

            using var late = await MessageClient.ConnectAsync(server.Ws("ws/cam/mp4"));
            var started = DateTime.UtcNow;
            Assert.Equal(WebSocketMessageType.Text, (await late.ReceiveAsync(TimeSpan.FromSeconds(10))).Type);
            await late.ReceiveAsync(TimeSpan.FromSeconds(10)); // init
            var (_, segment) = await late.ReceiveAsync(TimeSpan.FromSeconds(10));
            Assert.True(Mp4Inspection.StartsWithIdr(segment), "a late viewer starts at a key frame");
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1), "from the cached group, without waiting for the next key frame");
        }
    }

    [Fact]
    public async Task AStalledViewer_ResumesAtAKeyFrame_AndWhatItReceivedStillDecodesEndToEnd()
    {
        // A busy stream (about 0.8 MB/s measured), so that a 10 s stall (about 8 MB) overflows the kernel's socket
        // buffers (about 2.8 MB seen here) and then the viewer's 90-fragment queue (3 s): the viewer must skip.
        await using var server = await OspreyProcess.StartAsync("stream", "--source", "cam=ffmpeg:-re -f lavfi -i testsrc2=size=640x480:rate=30#output=h264&gop=30&bitrate=10000");
        using var viewer = await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/cam/mp4", receiveBuffer: 4096);
        var file = Path.Combine(Path.GetTempPath(), $"osprey-{Guid.NewGuid():N}.mp4");
        try
        {
            await using (var output = File.Create(file))
            {
                var text = await viewer.ReadFrameHeaderAsync(TimeSpan.FromSeconds(20));
                Assert.Equal(0x81, text.FirstByte);
                await viewer.ReadPayloadAsync(text.PayloadLength, keep: true);
                // The init segment, then 9 fragments.
                for (var i = 0; i < 10; i++)
                {
                    var frame = await viewer.ReadFrameHeaderAsync(TimeSpan.FromSeconds(10));
                    await output.WriteAsync(await viewer.ReadPayloadAsync(frame.PayloadLength, keep: true));
                }

                // Stall: stop reading for 10 s. Then read past the backlog (about 100 fragments in the kernel's
                // socket buffers, up to 90 in the viewer's queue) to where the viewer skipped to a key frame.
                await Task.Delay(TimeSpan.FromSeconds(10));
                for (var i = 0; i < 260; i++)
                {
                    var frame = await viewer.ReadFrameHeaderAsync(TimeSpan.FromSeconds(10));
                    await output.WriteAsync(await viewer.ReadPayloadAsync(frame.PayloadLength, keep: true));
                }
            }

            // Decode every frame, in the file's own time base (the null muxer would otherwise re-time real capture
            // times to a 1/30 s grid and complain of ties).
            var (code, _, errors) = await Mp4Inspection.RunAsync("ffmpeg", "-v", "error", "-i", file, "-enc_time_base", "-1", "-f", "null", "-");
            Assert.True(code == 0 && errors.Length == 0, $"ffmpeg: {errors}");

            // The stall made the viewer skip: a jump of more than a second in decode time, landing on a key frame.
            var (_, packets, _) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time,flags", "-of", "csv=p=0", file);
            var rows = packets.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => r.Split(',')).ToList();
            var jump = Enumerable.Range(1, rows.Count - 1).FirstOrDefault(i =>
                double.Parse(rows[i][0], CultureInfo.InvariantCulture) - double.Parse(rows[i - 1][0], CultureInfo.InvariantCulture) > 1.0);
            Assert.True(jump > 0, "the stalled viewer never skipped");
            Assert.StartsWith("K", rows[jump][1]);
            var (_, count, _) = await Mp4Inspection.RunAsync(
                "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file);
            Assert.Equal("269", count.Trim());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ARawFeed_IsEncodedOnceToH264_AndServedAsFmp4AndForWebCodecs()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=320&height=240&fps=30");
        using var mp4 = await MessageClient.ConnectAsync(server.Ws("ws/test/mp4"));
        using var webCodecs = await MessageClient.ConnectAsync(server.Ws("ws/test/h264"));
        Assert.Equal(WebSocketMessageType.Text, (await mp4.ReceiveAsync(TimeSpan.FromSeconds(20))).Type);

        var (type, config) = await webCodecs.ReceiveAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(WebSocketMessageType.Text, type);
        using var json = JsonDocument.Parse(config);
        Assert.StartsWith("avc1.", json.RootElement.GetProperty("codec").GetString());
        Assert.Equal(320, json.RootElement.GetProperty("width").GetInt32());
        var description = Convert.FromBase64String(json.RootElement.GetProperty("description").GetString()!);
        Assert.Equal(1, description[0]); // AVCDecoderConfigurationRecord version

        var (_, first) = await webCodecs.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, first[8] & 1); // starts at a key frame
        var micros = BinaryPrimitives.ReadInt64BigEndian(first);
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - (micros / 1000), -100, 3000);
        var nalLength = BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(9));
        Assert.True(nalLength > 0 && nalLength <= first.Length - 13);

        // Two people watch (over fMP4 and WebCodecs); the encoder and the muxer reading in between are not viewers.
        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test")));
        Assert.Equal(2, feed.RootElement.GetProperty("viewers").GetInt32());

        // Every part of the feed shows its counters: the encoder and the muxer the two viewers made run.
        var parts = feed.RootElement.GetProperty("parts").EnumerateArray().ToDictionary(p => p.GetProperty("part").GetString()!);
        Assert.Equal("running", parts["h264Encoder"].GetProperty("state").GetString());
        Assert.True(parts["h264Encoder"].GetProperty("counters").GetProperty("encodedFrames").GetInt64() > 0);
        Assert.Equal("running", parts["fmp4Muxer"].GetProperty("state").GetString());
        Assert.True(parts["fmp4Muxer"].GetProperty("counters").GetProperty("fragments").GetInt64() > 0);
    }

    [Theory]
    [InlineData("video_websocket")] // Ch3ri0ur/berrymse
    [InlineData("websocket")]       // thinkski/berrymse, the upstream
    public async Task BerryMseSockets_SpeakBerryMsesExactLayout_NumberedPerViewer(string path)
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", H264Source);
        using var viewer = await MessageClient.ConnectAsync(server.Ws(path));
        var (type, init) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(WebSocketMessageType.Binary, type);
        Assert.Equal("ftyp", Encoding.ASCII.GetString(init, 4, 4));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var firstSegmentAt = TimeSpan.Zero;
        for (uint n = 1; n <= 20; n++)
        {
            var (_, segment) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(10));
            if (n == 1)
            {
                firstSegmentAt = clock.Elapsed;
            }
            else if (n == 11)
            {
                // Ten segments of a 30 fps camera span a third of a second when sent live. The cached group of
                // pictures would come as one burst of milliseconds, which BerryMSE's pages (appendBuffer with no
                // queue) lose: this layout starts at the next IDR instead, as BerryMSE does. The bound leaves room
                // for a busy CI machine, where a stalled encoder catches up in bursts of a few frames.
                Assert.True(clock.Elapsed - firstSegmentAt > TimeSpan.FromMilliseconds(100), $"segments 1-11 came within {(clock.Elapsed - firstSegmentAt).TotalMilliseconds:0} ms: a burst");
            }

            Assert.Equal(104u, BinaryPrimitives.ReadUInt32BigEndian(segment));          // the moof
            Assert.Equal("trun", Encoding.ASCII.GetString(segment, 76, 4));
            Assert.Contains(segment[92], new byte[] { 1, 2 });
            if (n == 1)
            {
                Assert.Equal(2, segment[92]); // BerryMSE's page waits for an IDR
            }

            Assert.Equal(n, BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(20)));   // mfhd sequence, per viewer
            Assert.Equal(1, segment[60]); // tfdt version 1 (64-bit time), left as BerryMSE writes it
            Assert.Equal(330UL * n, BinaryPrimitives.ReadUInt64BigEndian(segment.AsSpan(64))); // tfdt base decode time
            Assert.Equal((uint)(segment.Length - 104), BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(104))); // mdat
            Assert.Equal((uint)(segment.Length - 104 - 8), BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(100))); // sample size
        }
    }
}
