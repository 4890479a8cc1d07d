using System.Text.Json;
using Osprey.Codecs.Jpeg;
using Osprey.Containers.Jpeg;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

public class FfmpegSourceTests
{
    private const string MjpegSource = "cam=ffmpeg:-re -f lavfi -i testsrc2=size=320x240:rate=30";
    private const string RawSource = "raw=ffmpeg:-re -f lavfi -i testsrc2=size=320x240:rate=30#output=yuyv&size=320x240";

    [Fact]
    public async Task MjpegFromFfmpeg_ReachesTwentyMjpegAndTwentyWebSocketViewers_AndARawViewerThroughTheDecoder()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", MjpegSource);
        var mjpegViewers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => MjpegClient.ConnectAsync(server.Http("mjpeg/cam"))));
        var wsViewers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"))));
        using var raw = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/raw"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var received = await Task.WhenAll(
                mjpegViewers.Select(async viewer =>
                {
                    var images = new List<byte[]>();
                    for (var i = 0; i < 10; i++)
                    {
                        images.Add((await viewer.ReadPartAsync(cts.Token)).Jpeg);
                    }

                    return images;
                }).Concat(wsViewers.Select(async viewer =>
                {
                    var images = new List<byte[]>();
                    for (var i = 0; i < 10; i++)
                    {
                        await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(20));
                        images.Add(viewer.LastFrame.ToArray());
                    }

                    return images;
                })));

            using var decoder = new JpegDecoder();
            var yuyv = new byte[320 * 240 * 2];
            foreach (var images in received)
            {
                uint last = 0;
                foreach (var jpeg in images)
                {
                    Assert.True(JpegProbe.TryRead(jpeg, out var probe));
                    Assert.True(probe.Counter > last, $"counter {probe.Counter} after {last}");
                    last = probe.Counter;
                    Assert.True(decoder.TryDecodeToYuyv(jpeg, yuyv, out var w, out var h, out var error), error);
                    Assert.Equal((320, 240), (w, h));
                }
            }
        }
        finally
        {
            Array.ForEach(mjpegViewers, v => v.Dispose());
            Array.ForEach(wsViewers, v => v.Dispose());
        }

        await raw.ReceiveFramesAsync(5, TimeSpan.FromSeconds(20));
        Assert.All(raw.Sizes, size => Assert.Equal(320 * 240 * 2, size));
        Assert.Equal(0, raw.TornFrames);
        Assert.True(raw.Headers.Count > 0, "the probe travels from the JPEG into the decoded raw frame");

        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        Assert.Equal("jpeg", feed.RootElement.GetProperty("format").GetString());
        Assert.Equal(320, feed.RootElement.GetProperty("width").GetInt32());
    }

    [Fact]
    public async Task MjpegPassedThroughWithCodecCopy_ReachesViewersByteForByte_PlusOnlyTheProbe()
    {
        // An MJPEG file stands in for an MJPEG camera: its frames must arrive unchanged (no re-encode).
        var directory = Directory.CreateTempSubdirectory("osprey-mjpeg-");
        try
        {
            var file = Path.Combine(directory.FullName, "clip.mjpg");
            using (var ffmpeg = System.Diagnostics.Process.Start("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-frames:v", "30", "-q:v", "4", "-f", "mjpeg", file])!)
            {
                await ffmpeg.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(0, ffmpeg.ExitCode);
            }

            var originals = new HashSet<string>();
            new JpegStreamSplitter().Push(await File.ReadAllBytesAsync(file), originals, static (set, jpeg) => set.Add(Convert.ToBase64String(jpeg)));
            Assert.Equal(30, originals.Count);

            await using var server = await OspreyProcess.StartAsync("stream", "--source", $"cam=ffmpeg:-re -stream_loop -1 -f mjpeg -i {file}#codec=copy");
            using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
            for (var i = 0; i < 10; i++)
            {
                await viewer.ReceiveFramesAsync(1, TimeSpan.FromSeconds(20));
                var received = viewer.LastFrame;
                Assert.True(JpegProbe.TryRead(received, out var probe));
                Assert.Equal((uint)received.Length, probe.PayloadSize);
                byte[] original = [0xFF, 0xD8, .. received[JpegProbe.PrefixSize..]];
                Assert.Contains(Convert.ToBase64String(original), originals);
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task RawYuyvFromFfmpeg_ReachesRawViewers_AndIsEncodedForJpegViewers()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", RawSource);
        using var raw = await RawFrameClient.ConnectAsync(server.Ws("ws/raw/raw"));
        using var jpeg = await RawFrameClient.ConnectAsync(server.Ws("ws/raw/jpeg"));
        await raw.ReceiveFramesAsync(10, TimeSpan.FromSeconds(20));
        await jpeg.ReceiveFramesAsync(10, TimeSpan.FromSeconds(20));
        Assert.All(raw.Sizes, size => Assert.Equal(320 * 240 * 2, size));
        using var decoder = new JpegDecoder();
        Assert.True(decoder.TryDecodeToYuyv(jpeg.LastFrame, new byte[320 * 240 * 2], out var w, out var h, out var error), error);
        Assert.Equal((320, 240), (w, h));
    }

    [Fact]
    [Trait("Needs", "Ffmpeg")]
    public async Task AStoppedFfmpegChild_IsKilledAndRestartedAfterTheSourceTimeout_AndFramesComeAgain()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source-timeout", "2", "--source", MjpegSource);
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await viewer.ReceiveFramesAsync(5, TimeSpan.FromSeconds(20));
        var children = ChildProcesses.Of(server.Pid, "ffmpeg");
        Assert.Single(children);

        // SIGSTOP: the child neither dies nor writes; the feed would stay "running" at 0 fps for ever.
        Assert.Equal(0, ChildProcesses.Signal(children[0], 19));
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        string? detail = null;
        using var http = new HttpClient();
        IReadOnlyList<int> restarted = [];
        while (stopped.Elapsed < TimeSpan.FromSeconds(15))
        {
            using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
            if (feed.RootElement.GetProperty("stateDetail").GetString() is { } text && text.Contains("no frame", StringComparison.Ordinal))
            {
                detail = text;
            }

            restarted = ChildProcesses.Of(server.Pid, "ffmpeg");
            if (restarted.Count == 1 && restarted[0] != children[0])
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.True(restarted.Count == 1 && restarted[0] != children[0], $"no new ffmpeg within 15 s. Output:\n{server.Output}");
        Assert.True(stopped.Elapsed >= TimeSpan.FromSeconds(2), $"restarted after {stopped.Elapsed}, before the timeout");
        // SIGKILL ends a stopped process too: the old child is gone, not left stopped beside the new one.
        Assert.False(ChildProcesses.IsAlive(children[0]), "the stopped ffmpeg is still alive");
        await viewer.ReceiveFramesAsync(10, TimeSpan.FromSeconds(15));
        Assert.NotNull(detail);
        Assert.Contains("no frame for 2 s", detail);
        Assert.Contains("gave no frame for 2 s: restarting it", server.Output);
        using var after = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        Assert.True(after.RootElement.GetProperty("restarts").GetInt64() >= 1);
    }

    [Fact]
    public async Task KillingTheFfmpegChild_RestartsTheSource_WhileViewersContinue_AndStoppingOspreyLeavesNoFfmpeg()
    {
        var server = await OspreyProcess.StartAsync("stream", "--source", MjpegSource);
        await using var _ = server;
        using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
        await viewer.ReceiveFramesAsync(5, TimeSpan.FromSeconds(20));

        var children = ChildProcesses.Of(server.Pid, "ffmpeg");
        Assert.Single(children);
        Assert.Equal(0, ChildProcesses.Signal(children[0], 9));

        // Backoff is 1 s; the viewer stays connected and frames resume from a new ffmpeg.
        await viewer.ReceiveFramesAsync(20, TimeSpan.FromSeconds(20));
        var restarted = ChildProcesses.Of(server.Pid, "ffmpeg");
        Assert.Single(restarted);
        Assert.NotEqual(children[0], restarted[0]);
        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/cam")));
        Assert.True(feed.RootElement.GetProperty("restarts").GetInt64() >= 1);

        server.Terminate();
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 20 && ChildProcesses.IsAlive(restarted[0]); i++)
        {
            await Task.Delay(100);
        }

        Assert.False(ChildProcesses.IsAlive(restarted[0]), "ffmpeg outlived osprey");
    }

    [Theory]
    [InlineData(9)] // SIGKILL: Osprey cannot clean up; the kernel must
    [InlineData(15)] // SIGTERM: Osprey stops its runs
    public async Task KillingOsprey_LeavesNoFfmpeg_NotTheEncoder_NorOneStillWaitingForItsInput(int signal)
    {
        // A port nobody connects to: that ffmpeg waits for its input and so never writes to (and dies on) a closed pipe.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var server = await OspreyProcess.StartAsync(
            "stream",
            "--source", MjpegSource,
            "--source", RawSource,
            "--source", $"waiting=ffmpeg:-f mjpeg -i tcp://127.0.0.1:{port}?listen=1");
        using var mp4 = await MessageClient.ConnectAsync(server.Ws("ws/raw/mp4"));
        await mp4.ReceiveAsync(TimeSpan.FromSeconds(20));
        await mp4.ReceiveAsync(TimeSpan.FromSeconds(20));

        // Three sources and the raw feed's H.264 encoder.
        var children = ChildProcesses.Of(server.Pid, "ffmpeg");
        for (var i = 0; i < 100 && children.Count < 4; i++)
        {
            await Task.Delay(100);
            children = ChildProcesses.Of(server.Pid, "ffmpeg");
        }

        Assert.Equal(4, children.Count);
        Assert.Equal(0, ChildProcesses.Signal(server.Pid, signal));
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(10)), "osprey did not exit");

        // By pid, not by parent: an orphan is adopted by init (or a subreaper) and would no longer look like osprey's.
        var survivors = children.Where(ChildProcesses.IsAlive).ToList();
        for (var i = 0; i < 50 && survivors.Count > 0; i++)
        {
            await Task.Delay(100);
            survivors = survivors.Where(ChildProcesses.IsAlive).ToList();
        }

        Array.ForEach(survivors.ToArray(), pid => ChildProcesses.Signal(pid, 9));
        Assert.True(survivors.Count == 0, $"ffmpeg {string.Join(", ", survivors)} outlived osprey (signal {signal})");
    }

    [Fact]
    public async Task AnFfmpegInputThatFails_ShowsItsErrorInTheFeedState_AndIsRetried()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", "bad=ffmpeg:-f lavfi -i nosuchfilter");
        using var http = new HttpClient();
        string? detail = null;
        for (var i = 0; i < 50 && detail is null; i++)
        {
            await Task.Delay(100);
            using var feed = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/bad")));
            if (feed.RootElement.GetProperty("state").GetString() == "restarting")
            {
                detail = feed.RootElement.GetProperty("stateDetail").GetString();
            }
        }

        Assert.NotNull(detail);
        Assert.Contains("ffmpeg exited", detail);
    }
}
