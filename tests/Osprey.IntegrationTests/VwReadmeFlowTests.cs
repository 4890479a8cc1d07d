using System.Net;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// vw's README end to end on loopback, with real ffmpeg and three real Osprey processes: the experiment's vw
/// (stream mode), a relay, and a second relay to swap to.
/// </summary>
public class VwReadmeFlowTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task ReadmeFlow_StreamToRelay_MuteAudio_SwapRelay_AndRecoverFromARelayRestart()
    {
        await using var vw = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        await using var relayB = await OspreyProcess.StartAsync("relay", "--allow-destination", "127.0.0.1");
        var relayC = await OspreyProcess.StartAsync("relay", "--allow-destination", "127.0.0.1");
        try
        {
            // ffmpeg POSTs video0 and audio0, as in the README (lavfi in place of the camera and microphone).
            await using var video = Ffmpeg.PublishVideo(vw.Http("ts/video0"));
            await using var audio = Ffmpeg.PublishAudio(vw.Http("ts/audio0"));
            await TsIngestTests.WaitForFeedAsync(vw, "video0");
            await TsIngestTests.WaitForFeedAsync(vw, "audio0");

            // curl creates the stream and a destination at the relay's /in/video0.
            await PostAsync(vw, "api/streams", """{"stream":"/stream/front/large","feeds":["video0","audio0"]}""");
            await PostAsync(vw, "api/destinations", $$"""{"stream":"/stream/front/large","destination":"{{relayB.Ws("in/video0")}}","id":"0"}""");
            await TsIngestTests.WaitForFeedAsync(relayB, "video0");

            // A viewer on the relay's /out/video0 gets one programme with video and audio that ffprobe reads.
            using (var viewer = await TsViewer.ConnectAsync(relayB.Ws("out/video0")))
            {
                Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 400_000, TimeSpan.FromSeconds(30)), vw.Output + relayB.Output);
                Assert.All(viewer.Messages, m => Assert.True(TsInspection.IsAligned(m)));
                var probed = await ProbeAsync(viewer.Bytes);
                Assert.Contains("video,mpeg1video", probed);
                Assert.Contains("audio,mp2", probed);

                var bytes = viewer.Bytes;
                var videoPids = TsInspection.PesPids(bytes, 0xE0, 0xEF);
                var audioPids = TsInspection.PesPids(bytes, 0xC0, 0xDF);
                Assert.Single(videoPids);
                Assert.Single(audioPids);
                Assert.NotEqual(videoPids.Single(), audioPids.Single()); // both ffmpegs used PID 0x100: remapped

                // Mute: re-POST the stream without audio. The audio PID is gone within a second, video carries on.
                var muted = DateTime.UtcNow;
                await PostAsync(vw, "api/streams", """{"stream":"/stream/front/large","feeds":["video0"]}""");
                Assert.True(await viewer.ReceiveUntilAsync(v => v.Times[^1] > muted.AddSeconds(3), TimeSpan.FromSeconds(10)));
                var audioPid = audioPids.Single();
                var videoPid = videoPids.Single();
                var lastAudio = DateTime.MinValue;
                var videoAfterMute = 0;
                for (var i = 0; i < viewer.Messages.Count; i++)
                {
                    if (viewer.Times[i] <= muted)
                    {
                        continue;
                    }

                    if (TsInspection.CountPackets(viewer.Messages[i], audioPid) > 0)
                    {
                        lastAudio = viewer.Times[i];
                    }

                    if (viewer.Times[i] > muted.AddSeconds(1))
                    {
                        videoAfterMute += TsInspection.CountPackets(viewer.Messages[i], videoPid);
                    }
                }

                Assert.True(lastAudio < muted.AddSeconds(1), $"audio still arrived {(lastAudio - muted).TotalMilliseconds:0} ms after the mute");
                Assert.True(videoAfterMute > 100, "video stopped with the mute");
            }

            // Swap the destination to relay C (same id): the stream moves without restarting ffmpeg.
            await PostAsync(vw, "api/streams", """{"stream":"/stream/front/large","feeds":["video0","audio0"]}""");
            await PostAsync(vw, "api/destinations", $$"""{"stream":"/stream/front/large","destination":"{{relayC.Ws("in/video0")}}","id":"0"}""");
            await TsIngestTests.WaitForFeedAsync(relayC, "video0");
            using (var viewerC = await TsViewer.ConnectAsync(relayC.Ws("out/video0")))
            {
                Assert.True(await viewerC.ReceiveUntilAsync(v => v.ByteCount > 200_000, TimeSpan.FromSeconds(20)));
                Assert.Contains("audio,mp2", await ProbeAsync(viewerC.Bytes));
            }

            Assert.False(video.HasExited, video.Errors);
            Assert.False(audio.HasExited, audio.Errors);
            Assert.True(await WaitUntilAsync(async () => (await GetJsonAsync(relayB, "api/feeds/video0")).GetProperty("state").GetString() == "waiting", TimeSpan.FromSeconds(10)), "relay B still receives after the swap");

            // Kill relay C outright and start it again on the same port: vw's backoff brings the stream back.
            var port = relayC.BaseUri.Port;
            ChildProcesses.Signal(relayC.Pid, 9);
            await relayC.WaitForExitAsync(TimeSpan.FromSeconds(5));
            await relayC.DisposeAsync();
            Assert.True(await WaitUntilAsync(async () => (await GetJsonAsync(vw, "api/relay")).GetProperty("destinations")[0].GetProperty("state").GetString() == "reconnecting", TimeSpan.FromSeconds(10)));
            await Task.Delay(1500);
            relayC = await OspreyProcess.StartAsync("relay", "--allow-destination", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await TsIngestTests.WaitForFeedAsync(relayC, "video0");
            using var viewerRestarted = await TsViewer.ConnectAsync(relayC.Ws("out/video0"));
            Assert.True(await viewerRestarted.ReceiveUntilAsync(v => v.ByteCount > 100_000, TimeSpan.FromSeconds(20)));
            var destination = (await GetJsonAsync(vw, "api/relay")).GetProperty("destinations")[0];
            Assert.Equal("connected", destination.GetProperty("state").GetString());
            Assert.True(destination.GetProperty("reconnects").GetInt64() >= 1);
            Assert.False(video.HasExited, video.Errors);
        }
        finally
        {
            await relayC.DisposeAsync();
        }
    }

    [Fact]
    public async Task RelaysChain_AToBToC_AndAStalledViewerOnTheRelay_DoesNotStallItOrTheOtherViewers()
    {
        await using var a = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1");
        await using var b = await OspreyProcess.StartAsync("relay", "--allow-destination", "127.0.0.1");
        await using var c = await OspreyProcess.StartAsync("relay", "--allow-destination", "127.0.0.1");
        await using var video = Ffmpeg.PublishVideo(a.Http("ts/video0"));
        await TsIngestTests.WaitForFeedAsync(a, "video0");

        // A pushes its feed to B; B pushes what it receives on to C: one camera, viewers behind two relays.
        await PostAsync(a, "api/destinations", $$"""{"stream":"video0","destination":"{{b.Ws("in/cam")}}","id":"up"}""");
        await TsIngestTests.WaitForFeedAsync(b, "cam");
        await PostAsync(b, "api/destinations", $$"""{"stream":"cam","destination":"{{c.Ws("in/cam")}}","id":"onward"}""");
        await TsIngestTests.WaitForFeedAsync(c, "cam");

        // A viewer on B that never reads, and one that does, on B and C.
        using var stalled = new System.Net.Sockets.TcpClient();
        await stalled.ConnectAsync("127.0.0.1", b.BaseUri.Port);
        stalled.ReceiveBufferSize = 4096;
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
        await stalled.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            $"GET /out/cam HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        using var onB = await TsViewer.ConnectAsync(b.Ws("out/cam"));
        using var onC = await TsViewer.ConnectAsync(c.Ws("out/cam"));
        await Task.WhenAll(
            onB.ReceiveUntilAsync(v => v.ByteCount > 1_000_000, TimeSpan.FromSeconds(40)),
            onC.ReceiveUntilAsync(v => v.ByteCount > 1_000_000, TimeSpan.FromSeconds(40)));
        Assert.True(onB.ByteCount > 1_000_000, $"B's viewer got {onB.ByteCount} bytes");
        Assert.True(onC.ByteCount > 1_000_000, $"C's viewer got {onC.ByteCount} bytes");
        Assert.Contains("video,mpeg1video", await ProbeAsync(onC.Bytes));

        // (The stalled viewer's bounded queue and its skips to the next group are proven in OrderedReaderTests.)
        Assert.Equal("connected", (await GetJsonAsync(b, "api/relay")).GetProperty("destinations")[0].GetProperty("state").GetString());
    }

    private static async Task<IReadOnlyList<string>> ProbeAsync(byte[] ts)
    {
        var file = Path.Combine(Path.GetTempPath(), $"osprey-vw-{Guid.NewGuid():N}.ts");
        try
        {
            await File.WriteAllBytesAsync(file, ts);
            return await Ffmpeg.ProbeStreamsAsync(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task PostAsync(OspreyProcess server, string path, string json)
    {
        using var response = await s_http.PostAsync(server.Http(path), new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<JsonElement> GetJsonAsync(OspreyProcess server, string path)
    {
        using var document = JsonDocument.Parse(await s_http.GetStringAsync(server.Http(path)));
        return document.RootElement.Clone();
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
