using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;

namespace Osprey.IntegrationTests;

/// <summary>The RTSP output with real clients: ffprobe and ffmpeg over TCP and UDP, and a small RTSP client for many readers, auth and bad input.</summary>
public partial class RtspTests
{
    private const string Source = "test=testpattern:?width=320&height=240&fps=30";

    [Fact]
    public async Task Ffprobe_ReadsTheFeedOverTcp_AsH264AtThePatternsSize()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        var stream = await ProbeAsync($"rtsp://127.0.0.1:{port}/test", "tcp", server);
        Assert.Equal("h264", stream.GetProperty("codec_name").GetString());
        Assert.Equal(320, stream.GetProperty("width").GetInt32());
        Assert.Equal(240, stream.GetProperty("height").GetInt32());
    }

    [Fact]
    public async Task Ffprobe_ReadsTheFeedOverUdp_AsH264AtThePatternsSize()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        var stream = await ProbeAsync($"rtsp://127.0.0.1:{port}/test", "udp", server);
        Assert.Equal("h264", stream.GetProperty("codec_name").GetString());
        Assert.Equal(320, stream.GetProperty("width").GetInt32());
        Assert.Equal(240, stream.GetProperty("height").GetInt32());
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("udp")]
    public async Task Ffmpeg_DecodesFrames_WithTheTestPatternsColourBars(string transport)
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        var (rgb, errors) = await DecodeAsync($"rtsp://127.0.0.1:{port}/test", transport, frames: 30);
        var frame = 320 * 240 * 3;
        Assert.True(rgb.Length >= frame * 30, $"ffmpeg decoded {rgb.Length} bytes: {errors}\n{server.Output}");
        var last = rgb.AsSpan(rgb.Length - frame, frame);
        // The still bars across the bottom quarter, each at its centre.
        for (var bar = 0; bar < 8; bar++)
        {
            var x = (bar * 40) + 20;
            var offset = ((220 * 320) + x) * 3;
            PagePixels.AssertColour(last.Slice(offset, 3).ToArray(), TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar}", tolerance: 24);
        }
    }

    [Fact]
    public async Task AnMjpegCamerasFeed_PlaysOverRtsp_ThroughTheLazyEncoder_WithSmpteBarsColours()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "usb=ffmpeg:-re -f lavfi -i smptebars=size=320x240:rate=15#output=mjpeg");
        var port = await RtspPortAsync(server);
        var (rgb, errors) = await DecodeAsync($"rtsp://127.0.0.1:{port}/usb", "tcp", frames: 10);
        var frame = 320 * 240 * 3;
        Assert.True(rgb.Length >= frame * 10, $"ffmpeg decoded {rgb.Length} bytes: {errors}\n{server.Output}");
        SmpteBars.AssertBars(rgb.AsSpan(rgb.Length - frame, frame).ToArray(), 320, "usb over RTSP");
    }

    [Fact]
    public async Task FiftyReadersOfOneFeed_EachGetFramesAtTheSourceRate_FromOnePacketizer()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var clients = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            var client = await RtspClient.ConnectAsync(port, cts.Token);
            await client.PlayOverTcpAsync("test", null, cts.Token);
            return client;
        }));
        try
        {
            // Past the cached group each new reader starts with, then ~3 s counted.
            await Task.WhenAll(clients.Select(c => c.CountFramesAsync(TimeSpan.FromSeconds(1), cts.Token)));
            var counted = await Task.WhenAll(clients.Select(c => c.CountFramesAsync(TimeSpan.FromSeconds(3), cts.Token)));
            for (var i = 0; i < counted.Length; i++)
            {
                // 30 fps for 3 s is 90; a loaded 2-core machine may lose a few.
                Assert.True(counted[i].Frames is >= 70 and <= 110, $"reader {i}: {counted[i].Frames} frames, {counted[i].Packets} packets in 3 s\n{server.Output}");
            }

            using var http = new HttpClient();
            using var feeds = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test"), cts.Token));
            var part = feeds.RootElement.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("part").GetString() == "webrtc");
            var counters = part.GetProperty("counters");
            Assert.Equal(50, counters.GetProperty("rtspSessionsNow").GetInt64());
            // One packetization for 50 readers: access units packetized match the source's rate, not 50 times it.
            Assert.True(counters.GetProperty("accessUnits").GetInt64() < 900, counters.ToString());
            // /metrics counts them as RTSP viewers.
            var metrics = await http.GetStringAsync(server.Http("metrics"), cts.Token);
            Assert.Matches(@"osprey_viewers\{[^}]*protocol=""rtsp""[^}]*\} 50", metrics);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task AReaderThatStopsReading_IsDroppedAfterTheSendTimeoutAndCounted_WhileAnotherKeepsItsRate()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=1280&height=720&fps=30", "--send-timeout", "3");
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var healthy = await RtspClient.ConnectAsync(port, cts.Token);
        await healthy.PlayOverTcpAsync("test", null, cts.Token);
        // A tiny receive window, then no reads: the server's sends stall once the kernel buffers are full.
        using var stalled = await RtspClient.ConnectAsync(port, cts.Token, receiveBuffer: 2048);
        await stalled.PlayOverTcpAsync("test", null, cts.Token);

        using var http = new HttpClient();
        var watch = Stopwatch.StartNew();
        var frames = 0;
        JsonElement counters;
        while (true)
        {
            frames += (await healthy.CountFramesAsync(TimeSpan.FromSeconds(1), cts.Token)).Frames;
            using var feeds = JsonDocument.Parse(await http.GetStringAsync(server.Http("api/feeds/test"), cts.Token));
            counters = feeds.RootElement.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("part").GetString() == "webrtc").GetProperty("counters").Clone();
            if (counters.GetProperty("rtspDropped").GetInt64() >= 1 || watch.Elapsed > TimeSpan.FromSeconds(40))
            {
                break;
            }
        }

        Assert.True(counters.GetProperty("rtspDropped").GetInt64() == 1, $"{counters}\n{server.Output}");
        Assert.Equal(1, counters.GetProperty("rtspSessionsNow").GetInt64());
        // The healthy reader kept the source's rate meanwhile (30 fps; a loaded machine may lose some).
        Assert.True(frames >= watch.Elapsed.TotalSeconds * 30 * 0.6, $"the healthy reader got {frames} frames in {watch.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("send stalled", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AUdpSessionWithoutKeepAlives_ExpiresAfterItsTimeout_WhileOneWithGetParameterLives()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var silentRtp = new UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        using var aliveRtp = new UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        using var silent = await RtspClient.ConnectAsync(port, cts.Token);
        using var alive = await RtspClient.ConnectAsync(port, cts.Token);
        var silentSetup = await silent.PlayOverUdpAsync("test", ((System.Net.IPEndPoint)silentRtp.Client.LocalEndPoint!).Port, cts.Token);
        Assert.Matches(@"^RTP/AVP;unicast;client_port=\d+-\d+;server_port=\d+-\d+", silentSetup);
        await alive.PlayOverUdpAsync("test", ((System.Net.IPEndPoint)aliveRtp.Client.LocalEndPoint!).Port, cts.Token);
        var datagram = await silentRtp.ReceiveAsync(cts.Token);
        Assert.True(datagram.Buffer.Length > 12 && datagram.Buffer[0] == 0x80, "an RTP packet over UDP");

        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(80) && !silent.IsClosedByServer())
        {
            await Task.Delay(TimeSpan.FromSeconds(5), cts.Token);
            var keepAlive = await alive.RequestAsync("GET_PARAMETER", $"rtsp://127.0.0.1:{port}/test/", [("Session", alive.SessionId!)], cts.Token);
            Assert.Equal(200, keepAlive.Status);
        }

        Assert.True(silent.IsClosedByServer(), "the silent session's connection is still open after 80 s");
        // Session: ...;timeout=60 (the timer looks once a second).
        Assert.InRange(watch.Elapsed.TotalSeconds, 55, 70);
        Assert.Contains("the session timed out", server.Output, StringComparison.Ordinal);
        // The kept-alive one still gets packets.
        System.Net.IPEndPoint? from = null;
        while (aliveRtp.Available > 0)
        {
            _ = aliveRtp.Receive(ref from);
        }

        var fresh = await aliveRtp.ReceiveAsync(cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(5), cts.Token);
        Assert.True(fresh.Buffer.Length > 12);
    }

    [Fact]
    public async Task PlayResponse_HasRtpInfoAndASessionTimeout_KeepAlivesAnswer_AndSenderReportsCome()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = await RtspClient.ConnectAsync(port, cts.Token);
        var options = await client.RequestAsync("OPTIONS", $"rtsp://127.0.0.1:{port}/test", [], cts.Token);
        Assert.Equal(200, options.Status);
        Assert.Contains("GET_PARAMETER", options.Headers["Public"], StringComparison.Ordinal);
        var describe = await client.RequestAsync("DESCRIBE", $"rtsp://127.0.0.1:{port}/test", [("Accept", "application/sdp")], cts.Token);
        Assert.Equal(200, describe.Status);
        Assert.Contains("m=video 0 RTP/AVP 96", describe.Body, StringComparison.Ordinal);
        Assert.Contains("a=rtpmap:96 H264/90000", describe.Body, StringComparison.Ordinal);
        Assert.Matches("a=fmtp:96 packetization-mode=1;profile-level-id=[0-9a-f]{6};sprop-parameter-sets=Z[A-Za-z0-9+/=]+,a[A-Za-z0-9+/=]+", describe.Body);
        Assert.Contains("a=control:trackID=0", describe.Body, StringComparison.Ordinal);
        var play = await client.PlayOverTcpAsync("test", null, cts.Token, describe: false);
        Assert.Matches(@"^url=rtsp://127\.0\.0\.1:\d+/test/trackID=0;seq=\d+;rtptime=\d+$", play.Headers["RTP-Info"]);
        Assert.Equal("npt=0.000-", play.Headers["Range"]);
        Assert.EndsWith(";timeout=60", client.SessionHeader, StringComparison.Ordinal);
        var seq = int.Parse(Regex.Match(play.Headers["RTP-Info"], @"seq=(\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        // The first RTP packet is the one RTP-Info names (a sender report on channel 1 may come before it).
        var watch = Stopwatch.StartNew();
        var first = await client.ReadInterleavedAsync(cts.Token);
        var reported = first.Channel == 1 && first.Data[1] == 200;
        while (first.Channel != 0)
        {
            first = await client.ReadInterleavedAsync(cts.Token);
        }

        Assert.Equal(seq, BinaryPrimitives.ReadUInt16BigEndian(first.Data.AsSpan(2)));

        // A sender report on channel 1 within 5 s of playing.
        while (!reported)
        {
            var packet = await client.ReadInterleavedAsync(cts.Token);
            if (packet.Channel == 1 && packet.Data[1] == 200)
            {
                reported = true;
                continue;
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), "no RTCP sender report within 5 s");
        }

        var keepAlive = await client.RequestAsync("GET_PARAMETER", $"rtsp://127.0.0.1:{port}/test/", [("Session", client.SessionId!)], cts.Token);
        Assert.Equal(200, keepAlive.Status);
        var teardown = await client.RequestAsync("TEARDOWN", $"rtsp://127.0.0.1:{port}/test/", [("Session", client.SessionId!)], cts.Token);
        Assert.Equal(200, teardown.Status);
    }

    [Fact]
    public async Task WithAUser_NoOrWrongCredentialsGet401WithBothChallenges_BasicAndFfmpegsDigestPlay()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source, "--user", "alice:alice-pass:read");
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var url = $"rtsp://127.0.0.1:{port}/test";

        using (var anonymous = await RtspClient.ConnectAsync(port, cts.Token))
        {
            var refused = await anonymous.RequestAsync("DESCRIBE", url, [], cts.Token);
            Assert.Equal(401, refused.Status);
            Assert.Contains(refused.AllHeaders, h => h.Name == "WWW-Authenticate" && h.Value.StartsWith("Digest ", StringComparison.Ordinal));
            Assert.Contains(refused.AllHeaders, h => h.Name == "WWW-Authenticate" && h.Value.StartsWith("Basic ", StringComparison.Ordinal));

            var wrong = await anonymous.RequestAsync("DESCRIBE", url, [("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:wrong")))], cts.Token);
            Assert.Equal(401, wrong.Status);
        }

        using (var basic = await RtspClient.ConnectAsync(port, cts.Token))
        {
            var authorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:alice-pass"));
            await basic.PlayOverTcpAsync("test", authorization, cts.Token);
            var counted = await basic.CountFramesAsync(TimeSpan.FromSeconds(1), cts.Token);
            Assert.True(counted.Frames > 10, $"{counted.Frames} frames with Basic");
        }

        // A wrong Digest response is refused too.
        using (var digest = await RtspClient.ConnectAsync(port, cts.Token))
        {
            var challenge = await digest.RequestAsync("DESCRIBE", url, [], cts.Token);
            var nonce = Regex.Match(challenge.AllHeaders.First(h => h.Value.StartsWith("Digest", StringComparison.Ordinal)).Value, "nonce=\"([^\"]+)\"").Groups[1].Value;
            var wrong = await digest.RequestAsync("DESCRIBE", url, [("Authorization", DigestHeader("alice", "wrong", "DESCRIBE", url, nonce))], cts.Token);
            Assert.Equal(401, wrong.Status);
            var right = await digest.RequestAsync("DESCRIBE", url, [("Authorization", DigestHeader("alice", "alice-pass", "DESCRIBE", url, nonce))], cts.Token);
            Assert.Equal(200, right.Status);
        }

        // ffmpeg answers the challenge with Digest (it prefers it over Basic).
        var (rgb, errors) = await DecodeAsync($"rtsp://alice:alice-pass@127.0.0.1:{port}/test", "tcp", frames: 5);
        Assert.True(rgb.Length >= 320 * 240 * 3 * 5, $"ffmpeg with credentials decoded {rgb.Length} bytes: {errors}\n{server.Output}");
        var (none, _) = await DecodeAsync($"rtsp://alice:bad@127.0.0.1:{port}/test", "tcp", frames: 5);
        Assert.Empty(none);
    }

    [Fact]
    public async Task WithTheHttpCallback_FfmpegsBasicCredentialsAreAskedAboutAsRtsp_AndOthersAreRefused()
    {
        await using var callback = new LoopbackHttpServer((_, body) =>
        {
            using var request = JsonDocument.Parse(body);
            var root = request.RootElement;
            var alice = root.GetProperty("user").GetString() == "alice" && root.GetProperty("password").GetString() == "alice-pass";
            return (alice && root.GetProperty("action").GetString() == "read" ? 200 : 401, "");
        });
        await using var server = await OspreyProcess.StartAsync("--source", Source, "--auth-http", new Uri(callback.BaseUri, "auth").ToString());
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using (var anonymous = await RtspClient.ConnectAsync(port, cts.Token))
        {
            var refused = await anonymous.RequestAsync("DESCRIBE", $"rtsp://127.0.0.1:{port}/test", [], cts.Token);
            Assert.Equal(401, refused.Status);
            // Only Basic: the callback needs the password itself.
            Assert.Equal("Basic", Assert.Single(refused.AllHeaders, h => h.Name == "WWW-Authenticate").Value.Split(' ')[0]);
        }

        var (rgb, errors) = await DecodeAsync($"rtsp://alice:alice-pass@127.0.0.1:{port}/test", "tcp", frames: 5);
        Assert.True(rgb.Length >= 320 * 240 * 3 * 5, $"ffmpeg with credentials decoded {rgb.Length} bytes: {errors}\n{server.Output}");
        Assert.Contains(callback.Bodies, body => body.Contains("\"protocol\":\"rtsp\"", StringComparison.Ordinal) && body.Contains("\"path\":\"test\"", StringComparison.Ordinal));
        var (none, _) = await DecodeAsync($"rtsp://alice:bad@127.0.0.1:{port}/test", "tcp", frames: 5);
        Assert.Empty(none);
    }

    [Fact]
    public async Task MalformedTruncatedAndOversizedRequests_GetAnErrorAndClose_WhileOthersAreServed()
    {
        await using var server = await OspreyProcess.StartAsync("--source", Source);
        var port = await RtspPortAsync(server);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var reader = await RtspClient.ConnectAsync(port, cts.Token);
        await reader.PlayOverTcpAsync("test", null, cts.Token);

        // Garbage: 400 and closed.
        Assert.StartsWith("RTSP/1.0 400", await SendRawAsync(port, "\x01\x02GARBAGE \x7f\r\n\r\n"u8.ToArray(), cts.Token), StringComparison.Ordinal);
        // A head past 8 KiB: 431 and closed.
        var huge = Encoding.ASCII.GetBytes("OPTIONS rtsp://127.0.0.1/test RTSP/1.0\r\nCSeq: 1\r\nX-Pad: " + new string('a', 10_000) + "\r\n\r\n");
        Assert.StartsWith("RTSP/1.0 431", await SendRawAsync(port, huge, cts.Token), StringComparison.Ordinal);
        // Too many headers: 431.
        var many = Encoding.ASCII.GetBytes("OPTIONS rtsp://127.0.0.1/test RTSP/1.0\r\n" + string.Concat(Enumerable.Range(0, 100).Select(i => $"X-{i}: 1\r\n")) + "\r\n");
        Assert.StartsWith("RTSP/1.0 431", await SendRawAsync(port, many, cts.Token), StringComparison.Ordinal);
        // Another version: 505.
        Assert.StartsWith("RTSP/1.0 505", await SendRawAsync(port, "OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n"u8.ToArray(), cts.Token), StringComparison.Ordinal);
        // A truncated request and silence: closed by the server within its first-request timeout, unanswered.
        using (var truncated = new TcpClient())
        {
            await truncated.ConnectAsync("127.0.0.1", port, cts.Token);
            await truncated.GetStream().WriteAsync("DESCRIBE rtsp://127.0.0.1/test RTSP/1.0\r\nCSeq: 1\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[256];
            var read = await truncated.GetStream().ReadAsync(buffer, cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(20), cts.Token);
            Assert.Equal(0, read);
        }

        // The reader playing all along still gets frames, and a new client is served.
        var counted = await reader.CountFramesAsync(TimeSpan.FromSeconds(1), cts.Token);
        Assert.True(counted.Frames > 10, $"{counted.Frames} frames after the bad requests");
        using var another = await RtspClient.ConnectAsync(port, cts.Token);
        var options = await another.RequestAsync("OPTIONS", $"rtsp://127.0.0.1:{port}/test", [], cts.Token);
        Assert.Equal(200, options.Status);
        Assert.Contains("refused request", server.Output, StringComparison.Ordinal);
    }

    private static async Task<string> SendRawAsync(int port, byte[] bytes, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cancellationToken);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(bytes, cancellationToken);
        }
        catch (IOException)
        {
            // The server may close while the rest is still being written; its answer is read below.
        }

        using var answer = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // Reset after the answer: what arrived is kept.
        }

        return Encoding.ASCII.GetString(answer.ToArray());
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "RTSP Digest is MD5.")]
    private static string DigestHeader(string user, string password, string method, string uri, string nonce)
    {
        static string Md5(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));
        var response = Md5($"{Md5($"{user}:Osprey:{password}")}:{nonce}:{Md5($"{method}:{uri}")}");
        return $"Digest username=\"{user}\", realm=\"Osprey\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"";
    }

    internal static async Task<int> RtspPortAsync(OspreyProcess server)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var match = RtspListening().Match(server.Output);
            if (match.Success)
            {
                return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no RTSP listening line:\n{server.Output}");
    }

    private static async Task<JsonElement> ProbeAsync(string url, string transport, OspreyProcess server)
    {
        var start = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-v", "error", "-rtsp_transport", transport, "-timeout", "10000000", "-show_streams", "-of", "json", url })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ffprobe over {transport} did not finish in 30 s: {await errors}\n{server.Output}");
        }

        Assert.True(process.ExitCode == 0, $"ffprobe over {transport}: {await errors}\n{server.Output}");
        using var json = JsonDocument.Parse(await output);
        var streams = json.RootElement.GetProperty("streams");
        Assert.True(streams.GetArrayLength() == 1, json.RootElement.ToString());
        return streams[0].Clone();
    }

    private static async Task<(byte[] Rgb, string Errors)> DecodeAsync(string url, string transport, int frames)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-v", "error", "-rtsp_transport", transport, "-timeout", "10000000", "-i", url, "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-f", "rawvideo", "-pix_fmt", "rgb24", "-" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        using var output = new MemoryStream();
        var errors = process.StandardError.ReadToEndAsync();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await copy;
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            return (output.ToArray(), "timed out: " + await errors);
        }

        return (output.ToArray(), await errors);
    }

    [GeneratedRegex(@"RTSP: listening on rtsp://127\.0\.0\.1:(\d+)/")]
    private static partial Regex RtspListening();

    /// <summary>A minimal RTSP client: requests over one TCP connection, then interleaved RTP read and counted.</summary>
    private sealed class RtspClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly int _port;
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _start;
        private int _end;
        private int _cseq;

        private RtspClient(TcpClient tcp, int port)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _port = port;
        }

        public string? SessionHeader { get; private set; }

        public string? SessionId => SessionHeader?.Split(';')[0];

        public static async Task<RtspClient> ConnectAsync(int port, CancellationToken cancellationToken, int receiveBuffer = 0)
        {
            var tcp = new TcpClient();
            if (receiveBuffer > 0)
            {
                tcp.ReceiveBufferSize = receiveBuffer;
            }

            await tcp.ConnectAsync("127.0.0.1", port, cancellationToken);
            return new RtspClient(tcp, port);
        }

        public async Task<Response> PlayOverTcpAsync(string feed, string? authorization, CancellationToken cancellationToken, bool describe = true)
        {
            var url = $"rtsp://127.0.0.1:{_port}/{feed}";
            List<(string, string)> auth = authorization is null ? [] : [("Authorization", authorization)];
            if (describe)
            {
                var described = await RequestAsync("DESCRIBE", url, [.. auth, ("Accept", "application/sdp")], cancellationToken);
                Assert.True(described.Status == 200, $"DESCRIBE: {described.Status}");
            }

            var setup = await RequestAsync("SETUP", url + "/trackID=0", [.. auth, ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")], cancellationToken);
            Assert.True(setup.Status == 200, $"SETUP: {setup.Status} {setup.Body}");
            SessionHeader = setup.Headers["Session"];
            var play = await RequestAsync("PLAY", url + "/", [.. auth, ("Session", SessionId!), ("Range", "npt=0.000-")], cancellationToken);
            Assert.True(play.Status == 200, $"PLAY: {play.Status} {play.Body}");
            return play;
        }

        /// <summary>SETUP over UDP to <paramref name="rtpPort"/> (RTCP the next) and PLAY; returns the Transport answered.</summary>
        public async Task<string> PlayOverUdpAsync(string feed, int rtpPort, CancellationToken cancellationToken)
        {
            var url = $"rtsp://127.0.0.1:{_port}/{feed}";
            var setup = await RequestAsync("SETUP", url + "/trackID=0", [("Transport", $"RTP/AVP;unicast;client_port={rtpPort}-{rtpPort + 1}")], cancellationToken);
            Assert.True(setup.Status == 200, $"SETUP: {setup.Status} {setup.Body}");
            SessionHeader = setup.Headers["Session"];
            var play = await RequestAsync("PLAY", url + "/", [("Session", SessionId!)], cancellationToken);
            Assert.True(play.Status == 200, $"PLAY: {play.Status} {play.Body}");
            return setup.Headers["Transport"];
        }

        /// <summary>True once the server closed the connection (a read returns 0 or fails).</summary>
        public bool IsClosedByServer()
        {
            try
            {
                return _tcp.Client.Poll(0, SelectMode.SelectRead) && _tcp.Client.Receive(new byte[1], SocketFlags.Peek) == 0;
            }
            catch (SocketException)
            {
                return true;
            }
        }

        public async Task<Response> RequestAsync(string method, string url, IEnumerable<(string Name, string Value)> headers, CancellationToken cancellationToken)
        {
            var text = new StringBuilder($"{method} {url} RTSP/1.0\r\nCSeq: {++_cseq}\r\nUser-Agent: osprey-tests\r\n");
            foreach (var (name, value) in headers)
            {
                text.Append(name).Append(": ").Append(value).Append("\r\n");
            }

            await _stream.WriteAsync(Encoding.UTF8.GetBytes(text.Append("\r\n").ToString()), cancellationToken);
            while (true)
            {
                // Interleaved media may come before the answer: skipped.
                await FillAsync(1, cancellationToken);
                if (_buffer[_start] == (byte)'$')
                {
                    await ReadInterleavedAsync(cancellationToken);
                    continue;
                }

                int headEnd;
                while ((headEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    await FillAsync(_end - _start + 1, cancellationToken);
                }

                var head = Encoding.UTF8.GetString(_buffer, _start, headEnd).Split("\r\n");
                _start += headEnd + 4;
                var all = head.Skip(1).Select(line => (Name: line[..line.IndexOf(':', StringComparison.Ordinal)], Value: line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())).ToList();
                var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var (name, value) in all)
                {
                    map.TryAdd(name, value);
                }

                var length = map.TryGetValue("Content-Length", out var cl) ? int.Parse(cl, CultureInfo.InvariantCulture) : 0;
                await FillAsync(length, cancellationToken);
                var body = Encoding.UTF8.GetString(_buffer, _start, length);
                _start += length;
                Assert.Equal(_cseq.ToString(CultureInfo.InvariantCulture), map["CSeq"]);
                return new Response(int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture), map, all, body);
            }
        }

        public async Task<(int Channel, byte[] Data)> ReadInterleavedAsync(CancellationToken cancellationToken)
        {
            await FillAsync(4, cancellationToken);
            Assert.Equal((byte)'$', _buffer[_start]);
            var channel = _buffer[_start + 1];
            var length = BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 2));
            await FillAsync(4 + length, cancellationToken);
            var data = _buffer.AsSpan(_start + 4, length).ToArray();
            _start += 4 + length;
            return (channel, data);
        }

        /// <summary>RTP packets and frames (packets with the marker bit) on channel 0 during <paramref name="duration"/>.</summary>
        public async Task<(int Frames, int Packets)> CountFramesAsync(TimeSpan duration, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            var frames = 0;
            var packets = 0;
            while (watch.Elapsed < duration)
            {
                var (channel, data) = await ReadInterleavedAsync(cancellationToken);
                if (channel == 0 && data.Length >= 12)
                {
                    packets++;
                    if ((data[1] & 0x80) != 0)
                    {
                        frames++;
                    }
                }
            }

            return (frames, packets);
        }

        public void Dispose() => _tcp.Dispose();

        private async Task FillAsync(int count, CancellationToken cancellationToken)
        {
            if (_end - _start >= count)
            {
                return;
            }

            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }

            while (_end < count)
            {
                var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
                if (read == 0)
                {
                    throw new IOException("the server closed the connection");
                }

                _end += read;
            }
        }

        public sealed record Response(int Status, Dictionary<string, string> Headers, List<(string Name, string Value)> AllHeaders, string Body);
    }
}
