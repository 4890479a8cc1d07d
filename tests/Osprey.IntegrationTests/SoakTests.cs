using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Osprey.IntegrationTests;

/// <summary>
/// The soak of issue 13: rounds of viewers (raw, JPEG, MJPEG, fMP4, MPEG-TS), publishers (ffmpeg over /ts/, a
/// pusher over /in/, a squatter that sends no body), vw streams and destinations (to a loopback relay, and one to a
/// relay that never reads), and relay topic clients, with stalled and slow clients in every round; then the server's
/// RSS, open descriptors and threads must come back to where they were after the warm-up, within
/// <see cref="RssMarginBytes"/>, <see cref="DescriptorMargin"/> and <see cref="ThreadMargin"/>, while a normal
/// viewer watched throughout.
/// </summary>
/// <remarks>
/// Bounded: at most <see cref="MaxRounds"/> rounds within <see cref="s_churnTime"/>, every client and request with its
/// own timeout, and the settle after it at most <see cref="s_settleLimit"/> (about two minutes in all on two busy cores).
/// </remarks>
[Trait("Needs", "Ffmpeg")]
[Collection(RunAlone.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    /// <summary>RSS after the soak may exceed the baseline by this much (README, "Limits").</summary>
    public const long RssMarginBytes = 24L * 1024 * 1024;

    /// <summary>Open descriptors after the soak may exceed the baseline by this many (not counting loaded assemblies' files).</summary>
    public const int DescriptorMargin = 4;

    /// <summary>Threads after the soak may exceed the baseline by this many (thread-pool workers retire after 20 s idle).</summary>
    public const int ThreadMargin = 6;

    private const int MaxRounds = 12;
    private const int Fps = 15;
    private static readonly TimeSpan s_churnTime = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_roundTimeout = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan s_settleLimit = TimeSpan.FromSeconds(50);
    // One connection, so that the descriptors the test's own requests hold are the same before and after.
    private static readonly HttpClient s_http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task ChurnOfEveryKindOfClient_WithStalledAndSlowOnes_LeavesRssDescriptorsAndThreadsWhereTheyWere_WhileANormalViewerWatches()
    {
        var tsFile = await MakeTsFileAsync();
        try
        {
            await using var relay = await OspreyProcess.StartAsync("relay", "--log-level", "warning");
            using var blackHole = new BlackHoleRelay();
            await using var server = await OspreyProcess.StartAsync(
                "stream", "--source", $"cam=testpattern:?width=640&height=480&fps={Fps}", "--log-level", "warning",
                "--allow-destination", "127.0.0.1", "--send-timeout", "4", "--idle-timeout", "10",
                "--publisher-feed-ttl", "2", "--publisher-first-bytes-timeout", "2");
            var soak = new Soak(server, relay, blackHole, await File.ReadAllBytesAsync(tsFile));

            using var normal = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/raw"));
            using var stopWatching = new CancellationTokenSource();
            var arrivals = new List<double>();
            var clock = Stopwatch.StartNew();
            var watching = WatchAsync(normal, arrivals, clock, stopWatching.Token);

            // Warm-up: two rounds of everything (the JIT, the assemblies each path loads, the pools, the encoders' first
            // start), then the same settle.
            await soak.RoundAsync(0);
            await soak.RoundAsync(1);
            await soak.WaitForClientsGoneAsync(s_settleLimit);
            await Task.Delay(TimeSpan.FromSeconds(12));
            var baseline = Sample(server.Pid);
            var baselineDetail = Detail(server.Pid);
            var baselineFiles = OpenFiles(server.Pid);
            output.WriteLine($"baseline after warm-up: {baseline}");

            var churnStart = clock.Elapsed;
            var rounds = 0;
            var peak = baseline;
            while (rounds < MaxRounds && clock.Elapsed - churnStart < s_churnTime)
            {
                rounds++;
                var round = soak.RoundAsync(rounds + 1); // 0 and 1 were the warm-up's: every round has names of its own
                while (!round.IsCompleted)
                {
                    peak = peak.Max(Sample(server.Pid));
                    await Task.WhenAny(round, Task.Delay(250));
                }

                await round;
            }

            var churnEnd = clock.Elapsed;
            output.WriteLine($"{rounds} rounds in {(churnEnd - churnStart).TotalSeconds:0} s; peak {peak}");
            var gone = await soak.WaitForClientsGoneAsync(s_settleLimit);
            output.WriteLine($"clients gone after {gone.TotalSeconds:0.0} s");

            // Then RSS, descriptors and threads: thread-pool workers retire after 20 s idle, memory after the trim.
            var settle = Stopwatch.StartNew();
            Sample after;
            while (!(after = Sample(server.Pid)).Within(baseline) && settle.Elapsed < s_settleLimit)
            {
                await Task.Delay(500);
            }

            output.WriteLine($"after {settle.Elapsed.TotalSeconds:0.0} s of settling: {after}");
            output.WriteLine($"baseline detail: {baselineDetail}");
            output.WriteLine($"after detail:    {Detail(server.Pid)}");
            output.WriteLine($"files opened since the baseline: {string.Join(", ", MoreThan(OpenFiles(server.Pid), baselineFiles))}");
            Assert.True(after.RssBytes <= baseline.RssBytes + RssMarginBytes, $"RSS {after} vs baseline {baseline}");
            Assert.True(after.Descriptors <= baseline.Descriptors + DescriptorMargin, $"descriptors {after} vs baseline {baseline}");
            Assert.True(after.Threads <= baseline.Threads + ThreadMargin, $"threads {after} vs baseline {baseline}");
            Assert.True(rounds >= 4, $"only {rounds} rounds in {s_churnTime}");

            // The normal viewer watched throughout: frames all along, no long gap, still connected (cancelling its read
            // aborts the socket, so the state is looked at first).
            Assert.False(watching.IsCompleted, "the normal viewer's connection ended");
            Assert.Equal(WebSocketState.Open, normal.Socket.State);
            await stopWatching.CancelAsync();
            await watching;
            double[] during;
            lock (arrivals)
            {
                during = [.. arrivals.Where(t => t >= churnStart.TotalSeconds && t <= churnEnd.TotalSeconds)];
            }

            var seconds = (churnEnd - churnStart).TotalSeconds;
            var gaps = during.Zip(during.Skip(1), (a, b) => b - a).DefaultIfEmpty(seconds).Max();
            output.WriteLine($"normal viewer: {during.Length} frames in {seconds:0} s of churn ({during.Length / seconds:0.0} fps), longest gap {gaps:0.00} s, torn {normal.TornFrames}");
            Assert.True(during.Length >= seconds * Fps / 3, $"the normal viewer got {during.Length} frames in {seconds:0} s");
            Assert.True(gaps < 3, $"the normal viewer waited {gaps:0.0} s for a frame");
            Assert.Equal(0, normal.TornFrames);
            Assert.False(server.HasExited);
        }
        finally
        {
            File.Delete(tsFile);
        }
    }

    private static async Task WatchAsync(RawFrameClient viewer, List<double> arrivals, Stopwatch clock, CancellationToken stop)
    {
        try
        {
            while (await viewer.ReceiveFrameAsync(stop) > 0)
            {
                lock (arrivals)
                {
                    arrivals.Add(clock.Elapsed.TotalSeconds);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Four seconds of MPEG-1 video in MPEG-TS, for the /in/ pusher.</summary>
    private static async Task<string> MakeTsFileAsync()
    {
        var file = Path.Combine(Path.GetTempPath(), $"osprey-soak-{Guid.NewGuid():N}.ts");
        await using var ffmpeg = Ffmpeg.Start("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-f", "mpegts", "-codec:v", "mpeg1video", "-b:v", "800k", "-bf", "0", "-g", "12", "-y", file);
        Assert.True(await ffmpeg.WaitForExitAsync(TimeSpan.FromSeconds(60)), "ffmpeg did not make the TS file");
        Assert.True(new FileInfo(file).Length > 100_000, ffmpeg.Errors);
        return file;
    }

    private static Sample Sample(int pid)
    {
        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
            }
        }

        // The runtime keeps one descriptor per assembly it loaded, for good: a path first taken late in the soak loads
        // one more (System.Net.Quic with the first HTTP handler, say). Those are counted apart from the rest.
        var files = OpenFiles(pid);
        var assemblies = files.Count(f => f.EndsWith(".dll", StringComparison.Ordinal));
        return new Sample(rss, files.Count - assemblies, threads, assemblies);
    }

    private static List<string> OpenFiles(int pid) =>
        [.. Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(fd => { try { return new FileInfo(fd).LinkTarget ?? ""; } catch (IOException) { return ""; } })];

    /// <summary>What <paramref name="after"/> holds more of than <paramref name="before"/>, duplicates counted.</summary>
    private static IEnumerable<string> MoreThan(List<string> after, List<string> before)
    {
        var left = before.GroupBy(f => f).ToDictionary(g => g.Key, g => g.Count());
        foreach (var file in after)
        {
            if (left.TryGetValue(file, out var count) && count > 0)
            {
                left[file] = count - 1;
            }
            else
            {
                yield return file;
            }
        }
    }

    /// <summary>Descriptors by kind and resident memory by mapping kind, to say what did not come back.</summary>
    private static string Detail(int pid)
    {
        var descriptors = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var fd in Directory.GetFileSystemEntries($"/proc/{pid}/fd"))
        {
            string target;
            try
            {
                target = new FileInfo(fd).LinkTarget ?? "?";
            }
            catch (IOException)
            {
                continue;
            }

            var kind = target.StartsWith("socket:", StringComparison.Ordinal) ? "socket" : target.StartsWith("pipe:", StringComparison.Ordinal) ? "pipe"
                : target.StartsWith("anon_inode:", StringComparison.Ordinal) ? target : target.StartsWith("/dev/", StringComparison.Ordinal) ? target : "file";
            descriptors[kind] = descriptors.GetValueOrDefault(kind) + 1;
        }

        var memory = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var name = "";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                name = fields.Length >= 6 ? (fields[5].StartsWith('/') ? "file" : fields[5]) : "anon";
            }
            else if (fields is ["Rss:", var kb, "kB"])
            {
                memory[name] = memory.GetValueOrDefault(name) + long.Parse(kb, CultureInfo.InvariantCulture);
            }
        }

        return $"fds {string.Join(", ", descriptors.Select(d => $"{d.Key} {d.Value}"))}; RSS kB {string.Join(", ", memory.Select(m => $"{m.Key} {m.Value}"))}";
    }

    /// <summary>One round of clients and rules against the server; every part bounded by <see cref="s_roundTimeout"/>.</summary>
    private sealed class Soak(OspreyProcess server, OspreyProcess relay, BlackHoleRelay blackHole, byte[] ts)
    {
        public async Task RoundAsync(int round)
        {
            using var timeout = new CancellationTokenSource(s_roundTimeout);
            var token = timeout.Token;
            var parts = new List<Task>
            {
                RawViewersAsync(token),
                JpegViewersAsync(token),
                MjpegViewersAsync(token),
                PublishRouteAndPushAsync(round, token),
                TopicClientsAsync(round, token),
            };
            if (round % 2 == 0)
            {
                parts.Add(Mp4ViewersAsync(token));
            }

            try
            {
                await Task.WhenAll(parts).WaitAsync(s_roundTimeout + TimeSpan.FromSeconds(5));
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"round {round} failed: {ex.Message}. Server output:\n{Tail(server.Output)}", ex);
            }
        }

        /// <summary>Waits until only the normal viewer and the source's feed are left; returns how long it took.</summary>
        public async Task<TimeSpan> WaitForClientsGoneAsync(TimeSpan limit)
        {
            var watch = Stopwatch.StartNew();
            string last = "";
            while (watch.Elapsed < limit)
            {
                using var feeds = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/feeds")));
                using var status = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/relay")));
                using var health = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("healthz")));
                var feedList = feeds.RootElement.EnumerateArray().ToList();
                var cam = feedList.Single(f => f.GetProperty("name").GetString() == "cam");
                var h264Running = cam.GetProperty("parts").EnumerateArray().Any(p => p.GetProperty("part").GetString() == "h264Encoder" && p.GetProperty("state").GetString() == "running");
                var root = status.RootElement;
                last = $"feeds {feedList.Count}, cam viewers {cam.GetProperty("viewers").GetInt32()}, h264 running {h264Running}, streams {root.GetProperty("streams").GetArrayLength()}, " +
                       $"destinations {root.GetProperty("destinations").GetArrayLength()}/{root.GetProperty("destinationClients").GetInt32()}, stream tasks {root.GetProperty("streamInputTasks").GetInt32()}, " +
                       $"topics {root.GetProperty("topics").EnumerateObject().Count()}, connections {health.RootElement.GetProperty("connections").GetInt32()}";
                if (feedList.Count == 1 && cam.GetProperty("viewers").GetInt32() == 1 && !h264Running
                    && root.GetProperty("streams").GetArrayLength() == 0 && root.GetProperty("destinationClients").GetInt32() == 0
                    && root.GetProperty("streamInputTasks").GetInt32() == 0 && !root.GetProperty("topics").EnumerateObject().Any()
                    && health.RootElement.GetProperty("connections").GetInt32() <= 3)
                {
                    return watch.Elapsed;
                }

                await Task.Delay(250);
            }

            throw new TimeoutException($"clients still there after {limit}: {last}");
        }

        private async Task RawViewersAsync(CancellationToken token)
        {
            // Two that never read (4 KiB receive buffers), held past the send timeout; four that read and leave.
            var stalled = new[]
            {
                await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/cam/raw", receiveBuffer: 4096),
                await RawSocketViewer.ConnectAsync(server.BaseUri, "/ws/cam/raw", receiveBuffer: 4096),
            };
            try
            {
                await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
                {
                    using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/raw"), cancellationToken: token);
                    await viewer.ReceiveFramesAsync(5, TimeSpan.FromSeconds(20));
                    Assert.Equal(0, viewer.TornFrames);
                }));
                await Task.Delay(TimeSpan.FromSeconds(5), token);
            }
            finally
            {
                foreach (var viewer in stalled)
                {
                    viewer.Dispose();
                }
            }
        }

        private async Task JpegViewersAsync(CancellationToken token)
        {
            // Three that read three pictures; one slow one that reads a picture a second for three seconds.
            var readers = Enumerable.Range(0, 3).Select(async _ =>
            {
                using var viewer = await MessageClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
                for (var i = 0; i < 3; i++)
                {
                    var (type, data) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(20));
                    Assert.Equal(WebSocketMessageType.Binary, type);
                    Assert.True(data is [0xFF, 0xD8, ..], "not a JPEG");
                }
            });
            var slow = Task.Run(async () =>
            {
                using var viewer = await MessageClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
                for (var i = 0; i < 3; i++)
                {
                    await viewer.ReceiveAsync(TimeSpan.FromSeconds(20));
                    await Task.Delay(1000, token);
                }
            }, token);
            await Task.WhenAll([.. readers, slow]);
        }

        private async Task MjpegViewersAsync(CancellationToken token)
        {
            // One that sends its GET and never reads, beside three that read three parts.
            using var stalled = new TcpClient { ReceiveBufferSize = 4096 };
            await stalled.ConnectAsync(IPAddress.Loopback, server.BaseUri.Port, token);
            await stalled.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /mjpeg/cam HTTP/1.1\r\nHost: 127.0.0.1:{server.BaseUri.Port}\r\n\r\n"), token);
            await Task.WhenAll(Enumerable.Range(0, 3).Select(async _ =>
            {
                using var viewer = await MjpegClient.ConnectAsync(server.Http("mjpeg/cam"), token);
                for (var i = 0; i < 3; i++)
                {
                    var (_, jpeg) = await viewer.ReadPartAsync(token);
                    Assert.True(jpeg is [0xFF, 0xD8, ..], "not a JPEG");
                }
            }));
            await Task.Delay(TimeSpan.FromSeconds(5), token);
        }

        private async Task Mp4ViewersAsync(CancellationToken token)
        {
            // The first starts the feed's H.264 encoder (an ffmpeg child); it stops after the last leaves.
            await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
            {
                using var viewer = await MessageClient.ConnectAsync(server.Ws("ws/cam/mp4"));
                var (type, mime) = await viewer.ReceiveAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(WebSocketMessageType.Text, type);
                Assert.StartsWith("video/mp4", Encoding.UTF8.GetString(mime), StringComparison.Ordinal);
                for (var i = 0; i < 4; i++)
                {
                    Assert.Equal(WebSocketMessageType.Binary, (await viewer.ReceiveAsync(TimeSpan.FromSeconds(20))).Type);
                }
            }));
            await Task.Delay(0, token);
        }

        private async Task PublishRouteAndPushAsync(int round, CancellationToken token)
        {
            var feed = $"pub{round}";
            var pushed = $"push{round}";
            var stream = $"soak/s{round}";
            await using var ffmpeg = Ffmpeg.PublishVideo(server.Http($"ts/{feed}"), size: "320x240", fps: 25);
            using var pusher = new ClientWebSocket();
            await pusher.ConnectAsync(server.Ws($"in/{pushed}"), token);
            var pushing = PushAsync(pusher, TimeSpan.FromSeconds(4), token);
            // A squatter: a POST to /ts/ with headers and no body, let go after the first-bytes timeout (2 s).
            using var squatter = new TcpClient();
            await squatter.ConnectAsync(IPAddress.Loopback, server.BaseUri.Port, token);
            await squatter.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"POST /ts/squat{round} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"), token);

            await WaitAsync(async () => (await s_http.GetAsync(server.Http($"api/feeds/{feed}"), token)).IsSuccessStatusCode, $"feed {feed} from ffmpeg", token);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync("POST", "api/streams", $$"""{"stream":"/{{stream}}","feeds":["{{feed}}","{{pushed}}"]}""")).Status);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync("POST", "api/destinations", $$"""{"id":"d{{round}}","stream":"/{{stream}}","destination":"{{relay.Ws($"in/soak{round}")}}"}""")).Status);
            // A destination of the raw feed to a relay that accepts and never reads: it must cost a bounded queue.
            Assert.Equal(HttpStatusCode.OK, (await SendAsync("POST", "api/destinations", $$"""{"id":"hole{{round}}","stream":"cam","destination":"ws://127.0.0.1:{{blackHole.Port}}/in/hole"}""")).Status);

            // A jsmpeg-like viewer of the stream reads; another of the publisher's feed never does.
            using var stalledTs = await RawSocketViewer.ConnectAsync(server.BaseUri, $"/ws/{feed}/ts", receiveBuffer: 4096);
            using (var viewer = await TsViewer.ConnectAsync(server.Ws($"ws/{stream}")))
            {
                Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 20_000, TimeSpan.FromSeconds(20)), $"the stream viewer got {viewer.ByteCount} bytes");
            }

            await WaitAsync(async () =>
            {
                using var status = JsonDocument.Parse(await s_http.GetStringAsync(server.Http("api/relay"), token));
                return status.RootElement.GetProperty("destinations").EnumerateArray()
                    .Any(d => d.GetProperty("id").GetString() == $"d{round}" && d.GetProperty("state").GetString() == "connected" && d.GetProperty("bytesSent").GetInt64() > 0);
            }, $"destination d{round} pushing", token);
            await Task.Delay(TimeSpan.FromSeconds(2), token);

            Assert.Equal(HttpStatusCode.OK, (await SendAsync("DELETE", $"api/destinations/d{round}")).Status);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync("DELETE", $"api/destinations/hole{round}")).Status);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync("DELETE", $"api/streams/{stream}")).Status);
            await pushing;
        }

        /// <summary>Sends the TS file round and round at about twice its rate for <paramref name="duration"/>, then closes.</summary>
        private async Task PushAsync(ClientWebSocket socket, TimeSpan duration, CancellationToken token)
        {
            const int chunk = 188 * 56;
            var watch = Stopwatch.StartNew();
            var offset = 0;
            while (watch.Elapsed < duration)
            {
                var length = Math.Min(chunk, ts.Length - offset);
                await socket.SendAsync(ts.AsMemory(offset, length), WebSocketMessageType.Binary, endOfMessage: true, token);
                offset = (offset + length) % ts.Length;
                await Task.Delay(40, token);
            }

            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", token);
        }

        private async Task TopicClientsAsync(int round, CancellationToken token)
        {
            // Three clients send 32 KiB messages to each other while a fourth never reads.
            var topic = server.Ws($"lab/t{round % 3}");
            using var stalled = await RawSocketViewer.ConnectAsync(server.BaseUri, topic.AbsolutePath, receiveBuffer: 4096);
            var clients = new List<ClientWebSocket>();
            try
            {
                for (var i = 0; i < 3; i++)
                {
                    var client = new ClientWebSocket();
                    clients.Add(client);
                    await client.ConnectAsync(topic, token);
                }

                var received = new long[clients.Count];
                using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(token);
                var readers = clients.Select(async (client, index) =>
                {
                    var buffer = new byte[64 * 1024];
                    try
                    {
                        while (true)
                        {
                            var result = await client.ReceiveAsync(buffer, stopReading.Token);
                            Interlocked.Add(ref received[index], result.Count);
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }).ToList();
                var message = RandomNumberGenerator.GetBytes(32 * 1024);
                for (var i = 0; i < 20; i++)
                {
                    await clients[i % clients.Count].SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, token);
                    await Task.Delay(50, token);
                }

                await WaitAsync(() => Task.FromResult(received.All(r => Interlocked.Read(ref r) >= 6 * message.Length)), "topic messages between the readers", token);
                await Task.Delay(TimeSpan.FromSeconds(3), token);
                await stopReading.CancelAsync();
                await Task.WhenAll(readers);
            }
            finally
            {
                foreach (var client in clients)
                {
                    client.Abort();
                    client.Dispose();
                }
            }
        }

        private async Task<(HttpStatusCode Status, string Body)> SendAsync(string method, string path, string? body = null)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), server.Http(path));
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            using var response = await s_http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        private static async Task WaitAsync(Func<Task<bool>> condition, string what, CancellationToken token)
        {
            var watch = Stopwatch.StartNew();
            while (!await condition())
            {
                if (watch.Elapsed > TimeSpan.FromSeconds(25))
                {
                    throw new TimeoutException($"no {what} within 25 s");
                }

                await Task.Delay(100, token);
            }
        }

        private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;
    }
}

/// <summary>The server's RSS, open descriptors and threads at one moment.</summary>
internal readonly record struct Sample(long RssBytes, int Descriptors, int Threads, int Assemblies)
{
    public bool Within(Sample baseline) =>
        RssBytes <= baseline.RssBytes + SoakTests.RssMarginBytes && Descriptors <= baseline.Descriptors + SoakTests.DescriptorMargin && Threads <= baseline.Threads + SoakTests.ThreadMargin;

    public Sample Max(Sample other) => new(Math.Max(RssBytes, other.RssBytes), Math.Max(Descriptors, other.Descriptors), Math.Max(Threads, other.Threads), Math.Max(Assemblies, other.Assemblies));

    public override string ToString() => $"RSS {RssBytes / (1024.0 * 1024):0.0} MiB, {Descriptors} descriptors (and {Assemblies} assemblies), {Threads} threads";
}

/// <summary>
/// Tests whose subject is timing under a load they make themselves (the soak's clients that must keep up within
/// its 4 s send timeout): run after the parallel tests, alone, so that the suite's other load on two cores does not
/// make a reading client look stalled.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAlone
{
    public const string Name = "run alone";
}
