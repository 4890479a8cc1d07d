using System.Net;
using System.Text.Json;
using Osprey.Codecs.Jpeg;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

public class JpegOutputTests(DefaultServerFixture fixture) : IClassFixture<DefaultServerFixture>
{
    private readonly OspreyProcess _server = fixture.Server;

    [Fact]
    public async Task TwentyMjpegAndTwentyWebSocketJpegViewers_GetDecodableJpegs_WithIncreasingCounters()
    {
        var mjpeg = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => MjpegClient.ConnectAsync(_server.Http("mjpeg/test"))));
        var ws = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => RawFrameClient.ConnectAsync(_server.Ws("ws/test/jpeg"))));
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var mjpegImages = await Task.WhenAll(mjpeg.Select(async client =>
            {
                var images = new List<byte[]>();
                for (var i = 0; i < 10; i++)
                {
                    var (headers, jpeg) = await client.ReadPartAsync(cts.Token);
                    Assert.Equal("image/jpeg", headers["Content-Type"]);
                    images.Add(jpeg);
                }

                return images;
            }));
            await Task.WhenAll(ws.Select(v => v.ReceiveFramesAsync(10, TimeSpan.FromSeconds(30))));
            Assert.All(mjpeg, c => Assert.Equal("multipart/x-mixed-replace", c.ContentType!.MediaType));

            using var decoder = new JpegDecoder();
            var yuyv = new byte[640 * 480 * 2];
            foreach (var images in mjpegImages)
            {
                AssertDecodableWithIncreasingCounters(decoder, yuyv, images);
            }

            foreach (var viewer in ws)
            {
                var images = new List<byte[]>();
                // RawFrameClient keeps only the last message's bytes; receive 3 more and keep each.
                for (var i = 0; i < 3; i++)
                {
                    await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(10));
                    images.Add(viewer.LastFrame.ToArray());
                }

                AssertDecodableWithIncreasingCounters(decoder, yuyv, images);
            }
        }
        finally
        {
            Array.ForEach(mjpeg, c => c.Dispose());
            Array.ForEach(ws, v => v.Dispose());
        }
    }

    [Fact]
    public async Task TheEncoderRunsOncePerFrame_WhateverTheNumberOfViewers_AndStopsAfterTheLast()
    {
        using var http = new HttpClient();
        var viewers = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => RawFrameClient.ConnectAsync(_server.Ws("ws/test/jpeg"))));
        await Task.WhenAll(viewers.Select(v => v.ReceiveFramesAsync(3, TimeSpan.FromSeconds(20))));
        var before = await FeedAsync(http);
        await Task.WhenAll(viewers.Select(v => v.ReceiveFramesAsync(30, TimeSpan.FromSeconds(20))));
        // Frames may have waited in the sockets' buffers since before the window opened on a busy machine: keep
        // the window open for at least a second of source frames (the encoder runs for as long as viewers are attached).
        await Task.Delay(TimeSpan.FromSeconds(1));
        var after = await FeedAsync(http);

        var sourceFrames = after.GetProperty("frames").GetInt64() - before.GetProperty("frames").GetInt64();
        var encoded = after.GetProperty("jpeg").GetProperty("encodedFrames").GetInt64() - before.GetProperty("jpeg").GetProperty("encodedFrames").GetInt64();
        Assert.True(sourceFrames >= 25, $"{sourceFrames} source frames in the window");
        // 30 viewers, yet one encode per source frame (a request in flight may straddle the reads by one).
        Assert.InRange(encoded, sourceFrames - 2, sourceFrames + 1);
        Assert.True(after.GetProperty("jpeg").GetProperty("running").GetBoolean());

        Array.ForEach(viewers, v => v.Dispose());
        var stopped = false;
        for (var i = 0; i < 50 && !stopped; i++)
        {
            await Task.Delay(100);
            stopped = !(await FeedAsync(http)).GetProperty("jpeg").GetProperty("running").GetBoolean();
        }

        Assert.True(stopped, "the encoder kept running after its last viewer left");
    }

    [Fact]
    public async Task Snapshot_IsADecodableJpegOfTheNewestFrame_WithTheProbe()
    {
        using var http = new HttpClient();
        var response = await http.GetAsync(_server.Http("snapshot/test.jpg"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType!.MediaType);
        var jpeg = await response.Content.ReadAsByteArrayAsync();
        Assert.True(JpegProbe.TryRead(jpeg, out var probe));
        Assert.Equal((uint)jpeg.Length, probe.PayloadSize);
        Assert.InRange(ProbeNowMillis() - (probe.CaptureTimeMicros / 1000), -100, 2000);
        using var decoder = new JpegDecoder();
        Assert.True(decoder.TryDecodeToYuyv(jpeg, new byte[640 * 480 * 2], out var width, out var height, out var error), error);
        Assert.Equal((640, 480), (width, height));

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(_server.Http("snapshot/nope.jpg"))).StatusCode);
    }

    private static void AssertDecodableWithIncreasingCounters(JpegDecoder decoder, byte[] yuyv, List<byte[]> images)
    {
        uint last = 0;
        foreach (var jpeg in images)
        {
            Assert.True(JpegProbe.TryRead(jpeg, out var probe), "every JPEG carries the probe header");
            Assert.Equal((uint)jpeg.Length, probe.PayloadSize);
            Assert.True(probe.Counter > last, $"counter {probe.Counter} after {last}");
            last = probe.Counter;
            Assert.Equal(new byte[] { 0xFF, 0xD9 }, jpeg[^2..]);
            Assert.True(decoder.TryDecodeToYuyv(jpeg, yuyv, out var width, out var height, out var error), error);
            Assert.Equal((640, 480), (width, height));
        }
    }

    private async Task<JsonElement> FeedAsync(HttpClient http)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync(_server.Http("api/feeds/test")));
        return document.RootElement.Clone();
    }

    private static long ProbeNowMillis() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}
