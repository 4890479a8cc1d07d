using System.Net;
using System.Net.WebSockets;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>MPEG-TS from real ffmpeg into /ts/{feed} (vw) and /{secret} (jsmpeg's relay), out to WebSocket viewers.</summary>
public class TsIngestTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task FfmpegPost_ReachesTsViewers_AsWholePacketsStartingWithTablesAndASequenceHeader_ThatFfprobeReads()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        await using var ffmpeg = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await WaitForFeedAsync(server, "video0");
        Assert.Contains("\"origin\":\"publisher\"", await s_http.GetStringAsync(server.Http("api/feeds/video0")), StringComparison.Ordinal);

        // jsmpeg's endpoint, vw's native endpoint, and an old jsmpeg offering the 'null' subprotocol.
        using var ts = await TsViewer.ConnectAsync(server.Ws("ws/video0/ts"));
        using var native = await TsViewer.ConnectAsync(server.Ws("ws/video0"));
        using var oldJsmpeg = await TsViewer.ConnectAsync(server.Ws("ws/video0/ts"), subProtocol: "null");
        Assert.Equal("null", oldJsmpeg.SubProtocol);

        foreach (var viewer in new[] { ts, native, oldJsmpeg })
        {
            Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 200_000, TimeSpan.FromSeconds(20)), ffmpeg.Errors);

            // First the programme tables, then a chunk that starts a group of pictures: jsmpeg can decode at once.
            var first = viewer.Messages[0];
            Assert.True(TsInspection.IsAligned(first));
            Assert.Equal(0, TsInspection.Pid(first));
            Assert.True(TsInspection.HasSequenceHeader(viewer.Messages[1].AsSpan(0, Math.Min(viewer.Messages[1].Length, 188 * 4))));
            Assert.All(viewer.Messages, m => Assert.True(TsInspection.IsAligned(m), $"a message of {m.Length} bytes is not whole packets"));
        }

        var file = Path.Combine(Path.GetTempPath(), $"osprey-ts-{Guid.NewGuid():N}.ts");
        try
        {
            await File.WriteAllBytesAsync(file, ts.Bytes);
            Assert.Contains("video,mpeg1video", await Ffmpeg.ProbeStreamsAsync(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task SecondPublisherToAFeed_AndAPublisherToASourcesName_AreRefusedWith409()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--source", "cam=testpattern:?width=64&height=48&fps=5");
        await using var first = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await WaitForFeedAsync(server, "video0");

        using var second = await s_http.PostAsync(server.Http("ts/video0"), new ByteArrayContent(new byte[188]));
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("already has a publisher", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var owned = await s_http.PutAsync(server.Http("ts/cam"), new ByteArrayContent(new byte[188]));
        Assert.Equal(HttpStatusCode.Conflict, owned.StatusCode);
        Assert.Contains("configured source", await owned.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The refused attempts did not disturb the first publisher.
        using var viewer = await TsViewer.ConnectAsync(server.Ws("ws/video0/ts"));
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 50_000, TimeSpan.FromSeconds(15)));
        Assert.False(first.HasExited, first.Errors);
    }

    [Fact]
    public async Task PublisherThatLeaves_KeepsItsViewers_WhichResumeWithTheNextPublisher()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        var firstPublisher = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await WaitForFeedAsync(server, "video0");
        using var viewer = await TsViewer.ConnectAsync(server.Ws("ws/video0/ts"));
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 20_000, TimeSpan.FromSeconds(15)));
        await firstPublisher.DisposeAsync();
        await Task.Delay(500);
        var before = viewer.ByteCount;

        await using var secondPublisher = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > before + 50_000, TimeSpan.FromSeconds(15)), secondPublisher.Errors);
    }

    [Fact]
    public async Task IngestSecret_PublishesLikeJsmpegsRelay_ToTheRootWebSocket_AndAWrongSecretIsRefusedAtOnce()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--ingest-secret", "supersecret");

        // jsmpeg's README: ffmpeg ... http://localhost:8081/supersecret, and view-stream.html connects to ws://host:8082/.
        await using var ffmpeg = Ffmpeg.PublishVideo(server.Http("supersecret"));
        await WaitForFeedAsync(server, "jsmpeg/1");
        using var root = await TsViewer.ConnectAsync(server.WebSocketBaseUri, subProtocol: "null");
        Assert.True(await root.ReceiveUntilAsync(v => v.ByteCount > 50_000 && v.Messages.Count > 2, TimeSpan.FromSeconds(15)), ffmpeg.Errors);
        Assert.True(TsInspection.HasSequenceHeader(root.Bytes));

        // jsmpeg's README runs audio as a second ffmpeg to the same URL: both reach the root viewer as one programme.
        // This one uses the older READMEs' /secret/WIDTH/HEIGHT, which jsmpeg's relay treats as /secret.
        await using var audio = Ffmpeg.PublishAudio(server.Http("supersecret/640/480"));
        await WaitForFeedAsync(server, "jsmpeg/2");
        var before = root.ByteCount;
        // The audio ffmpeg's first packets may come a while after its feed appeared (a loaded machine): read on, in
        // steps, until they are there or 30 s have passed.
        HashSet<int> videoPids = [], audioPids = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (audioPids.Count == 0 && DateTime.UtcNow < deadline)
        {
            var target = root.ByteCount + 150_000;
            Assert.True(await root.ReceiveUntilAsync(v => v.ByteCount > target, TimeSpan.FromSeconds(15)), audio.Errors);
            var mixed = root.Bytes.AsSpan((int)before / 188 * 188);
            videoPids = TsInspection.PesPids(mixed, 0xE0, 0xEF);
            audioPids = TsInspection.PesPids(mixed, 0xC0, 0xDF);
        }

        Assert.Single(videoPids);
        Assert.Single(audioPids);
        Assert.NotEqual(videoPids.Single(), audioPids.Single());

        // A named feed under the secret.
        await using var named = Ffmpeg.PublishVideo(server.Http("supersecret/cam2"));
        await WaitForFeedAsync(server, "cam2");

        var started = DateTime.UtcNow;
        using var wrong = await s_http.PostAsync(server.Http("wrongsecret"), new ByteArrayContent(new byte[188 * 10]));
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));

        // ffmpeg pointed at a wrong secret gives up instead of streaming into nothing.
        await using var refused = Ffmpeg.PublishVideo(server.Http("wrongsecret"));
        Assert.True(await refused.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.NotEqual(0, refused.ExitCode);
    }

    [Fact]
    public async Task TheIngestSecret_MatchesExactly_AndTheSecretsStreamNames_AreMadeOnlyByItsIngest()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--ingest-secret", "S3cretX");
        var packets = new byte[188 * 10];

        // Another case is another secret (routing alone would accept it).
        foreach (var path in new[] { "s3cretx", "S3CRETX", "s3cretx/cam" })
        {
            using var response = await s_http.PostAsync(server.Http(path), new ByteArrayContent(packets));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        // Names the anonymous ingest makes cannot be published to by name, with or without the secret.
        foreach (var path in new[] { "ts/jsmpeg/1", "ts/jsmpeg", "S3cretX/jsmpeg/2" })
        {
            using var response = await s_http.PostAsync(server.Http(path), new ByteArrayContent(packets));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("anonymous ingest", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("jsmpeg", await s_http.GetStringAsync(server.Http("api/feeds")), StringComparison.Ordinal);

        // The exact secret still publishes, anonymously and by name.
        using var exact = await s_http.PostAsync(server.Http("S3cretX/cam"), new ByteArrayContent(packets));
        Assert.Equal(HttpStatusCode.OK, exact.StatusCode);
        using var anonymous = await s_http.PostAsync(server.Http("S3cretX"), new ByteArrayContent(packets));
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
    }

    [Fact]
    public async Task JsmpegRelayLayout_IngestOnOnePort_ViewersOnAnother_AsWebsocketRelayJsWithTwoPorts()
    {
        // node websocket-relay.js supersecret 8081 8082  ->  osprey stream --port 8081 --extra-port 8082 --ingest-secret supersecret
        var (streamPort, websocketPort) = (FreePort(), FreePort());
        await using var server = await OspreyProcess.StartAsync(
            "stream", "--port", streamPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--extra-port", websocketPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--ingest-secret", "supersecret");
        await using var ffmpeg = Ffmpeg.PublishVideo(new Uri($"http://127.0.0.1:{streamPort}/supersecret"));
        await WaitForFeedAsync(server, "jsmpeg/1");

        // view-stream.html: new JSMpeg.Player('ws://' + document.location.hostname + ':8082/').
        using var viewer = await TsViewer.ConnectAsync(new Uri($"ws://127.0.0.1:{websocketPort}/"), subProtocol: "null");
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 50_000 && v.Messages.Count > 2, TimeSpan.FromSeconds(15)), ffmpeg.Errors);
        Assert.True(TsInspection.HasSequenceHeader(viewer.Bytes));
    }

    [Fact]
    public async Task AJsmpegViewerOpenedBeforeFfmpeg_GetsTheStream_AndAfterThePublisherLeft_ANewViewerGetsNoFrozenPicture()
    {
        // jsmpeg's README order: open view-stream.html first (it never reconnects), then start ffmpeg.
        await using var server = await OspreyProcess.StartAsync("stream", "--ingest-secret", "supersecret");
        using var early = await TsViewer.ConnectAsync(server.Ws(""), subProtocol: "null");
        await Task.Delay(500);

        var ffmpeg = Ffmpeg.PublishVideo(server.Http("supersecret"));
        await using (ffmpeg)
        {
            Assert.True(await early.ReceiveUntilAsync(v => v.ByteCount > 50_000 && v.Messages.Count > 2, TimeSpan.FromSeconds(20)), ffmpeg.Errors);
            Assert.True(TsInspection.HasSequenceHeader(early.Bytes));
        }

        // Every publisher gone: the last group of pictures is not handed to a new viewer as if it were live.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline && (await s_http.GetStringAsync(server.Http("api/feeds/jsmpeg/1"))).Contains("\"state\":\"running\"", StringComparison.Ordinal))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300);
        using var late = await TsViewer.ConnectAsync(server.Ws(""), subProtocol: "null");
        Assert.False(await late.ReceiveUntilAsync(v => v.ByteCount > 0, TimeSpan.FromSeconds(2)), $"a new viewer got {late.ByteCount} bytes with no publisher");
    }

    [Fact]
    public async Task AVwStreamWhoseInputsPublisherLeft_SendsANewViewerNoFrozenPicture_AndResumesWithTheNextPublisher()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        var publisher = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await WaitForFeedAsync(server, "video0");
        using (var body = new StringContent("""{"stream":"/stream/front","feeds":["video0"]}""", System.Text.Encoding.UTF8, "application/json"))
        {
            (await s_http.PostAsync(server.Http("api/streams"), body)).EnsureSuccessStatusCode();
        }

        using var early = await TsViewer.ConnectAsync(server.Ws("ws/stream/front"));
        Assert.True(await early.ReceiveUntilAsync(v => v.ByteCount > 50_000, TimeSpan.FromSeconds(20)), publisher.Errors);
        await publisher.DisposeAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline && (await s_http.GetStringAsync(server.Http("api/feeds/video0"))).Contains("\"state\":\"running\"", StringComparison.Ordinal))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300);
        using var late = await TsViewer.ConnectAsync(server.Ws("ws/stream/front"));
        Assert.False(await late.ReceiveUntilAsync(v => v.ByteCount > 0, TimeSpan.FromSeconds(2)), $"a new viewer got {late.ByteCount} bytes of a stream whose publisher left");

        // The stream is still wired: the next publisher reaches the viewer that stayed, and a new viewer.
        var before = early.ByteCount;
        await using var next = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        Assert.True(await early.ReceiveUntilAsync(v => v.ByteCount > before + 50_000, TimeSpan.FromSeconds(20)), next.Errors);
        using var newest = await TsViewer.ConnectAsync(server.Ws("ws/stream/front"));
        Assert.True(await newest.ReceiveUntilAsync(v => v.ByteCount > 20_000, TimeSpan.FromSeconds(20)), next.Errors);
        Assert.True(TsInspection.HasSequenceHeader(newest.Bytes));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task GarbageAndTruncatedUploads_AreCountedOrDropped_WithoutHarmingOtherFeeds()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        await using var good = Ffmpeg.PublishVideo(server.Http("ts/good"));
        await WaitForFeedAsync(server, "good");
        using var viewer = await TsViewer.ConnectAsync(server.Ws("ws/good/ts"));

        var random = new Random(5);
        for (var i = 0; i < 5; i++)
        {
            var junk = new byte[random.Next(1, 400_000)];
            random.NextBytes(junk);
            using var response = await s_http.PostAsync(server.Http($"ts/junk{i}"), new ByteArrayContent(junk));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 100_000, TimeSpan.FromSeconds(15)));
        Assert.All(viewer.Messages, m => Assert.True(TsInspection.IsAligned(m)));
        Assert.Equal("\"ok\"\n", await s_http.GetStringAsync(server.Http("healthcheck")));
    }

    [Fact]
    public async Task RelayTopics_PassTextAndBinaryToTheOtherClientsOnTheSamePathOnly()
    {
        await using var server = await OspreyProcess.StartAsync("relay");
        using var a = new ClientWebSocket();
        using var b = new ClientWebSocket();
        using var c = new ClientWebSocket();
        using var other = new ClientWebSocket();
        a.Options.AddSubProtocol("null");
        await a.ConnectAsync(server.Ws("bi/lab/1"), CancellationToken.None);
        Assert.Equal("null", a.SubProtocol);
        await b.ConnectAsync(server.Ws("bi/lab/1"), CancellationToken.None);
        await c.ConnectAsync(server.Ws("bi/lab/1"), CancellationToken.None);
        await other.ConnectAsync(server.Ws("bi/lab/2"), CancellationToken.None);
        await Task.Delay(200); // joined

        await a.SendAsync(Encoding.UTF8.GetBytes("""{"verb":"healthcheck"}"""), WebSocketMessageType.Text, true, CancellationToken.None);
        await b.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);

        var (bType, bData) = await ReceiveAsync(b);
        Assert.Equal(WebSocketMessageType.Text, bType);
        Assert.Equal("""{"verb":"healthcheck"}""", Encoding.UTF8.GetString(bData));
        var (aType, aData) = await ReceiveAsync(a);
        Assert.Equal(WebSocketMessageType.Binary, aType);
        Assert.Equal(new byte[] { 1, 2, 3 }, aData);
        var first = await ReceiveAsync(c);
        var second = await ReceiveAsync(c);
        // Each as its own message with its own type (crossbar merged queued messages into one frame).
        Assert.Equal(
            new[] { WebSocketMessageType.Text, WebSocketMessageType.Binary },
            new[] { first.Type, second.Type }.Order());

        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => other.ReceiveAsync(new byte[16], quiet.Token));
    }

    internal static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(ClientWebSocket socket)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cts.Token);
            length += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, buffer[..length]);
            }
        }
    }

    internal static async Task WaitForFeedAsync(OspreyProcess server, string feed)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            using var response = await s_http.GetAsync(server.Http($"api/feeds/{feed}"));
            if (response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains("\"state\":\"running\"", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"feed {feed} did not start. Server output:\n{server.Output}");
    }
}
