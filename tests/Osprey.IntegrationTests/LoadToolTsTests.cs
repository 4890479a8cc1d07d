using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.LoadTest;

namespace Osprey.IntegrationTests;

/// <summary>osprey-load's ts mode: its publisher, its jsmpeg-style viewers and their checks, against the real server and a scripted one.</summary>
public class LoadToolTsTests
{
    [Fact]
    public async Task TsMode_PublishesARealMpeg1File_AndEveryViewerGetsEveryByteInOrder_WithLatencyMeasured()
    {
        var file = await MakeMpeg1FileAsync();
        try
        {
            await using var server = await OspreyProcess.StartAsync("stream");
            var report = await LoadRunner.RunAsync(
                new LoadOptions
                {
                    Url = server.Ws("ws/video0/ts"),
                    TsFile = file,
                    Viewers = 4,
                    Duration = TimeSpan.FromSeconds(3),
                    Warmup = TimeSpan.FromSeconds(0.5),
                    ServerPid = server.Pid,
                },
                CancellationToken.None);

            Assert.Equal(StreamMode.Ts, report.Mode);
            Assert.Equal(4, report.ViewersConnected);
            Assert.Equal(0, report.ConnectionErrors);
            var ts = Assert.IsType<TsSummary>(report.Ts);
            var publisher = Assert.IsType<TsPublisherResult>(ts.Publisher);
            Assert.True(publisher.Connected);
            Assert.Null(publisher.Error);
            Assert.True(publisher.Markers > 0);

            // Every viewer: packets in order on every PID, and every byte the markers account for arrived, none twice.
            Assert.All(report.Viewers, viewer =>
            {
                var checks = Assert.IsType<TsViewerResult>(viewer.Ts);
                Assert.Null(viewer.Error);
                Assert.True(checks.InOrder, $"viewer {viewer.Id}: {checks.ContinuityErrors} continuity errors, {checks.SyncLosses} sync losses, {checks.ExcessBytes} excess bytes");
                Assert.True(checks.MarkersReceived > 0);
                Assert.True(checks.CheckedBytes > 0);
                Assert.Equal(checks.ExpectedBytes, checks.CheckedBytes + checks.SkippedBytes);
                Assert.Equal(0, checks.Skips);
                Assert.Equal(0, checks.SkippedBytes);
                Assert.True(checks.StreamBytesInWindow > 0);

                // The server's framing: the programme tables first, then chunks of whole packets.
                Assert.True(checks.TableMessages >= 1);
                Assert.Equal(0, checks.UnalignedMessages);
                Assert.True(checks.Complete);
            });
            Assert.Equal(4, ts.ViewersComplete);
            Assert.Equal(0, ts.ContinuityErrors);
            Assert.Equal(0, ts.ExcessBytes);

            // Latency was measured from the markers, and the server's cost was sampled.
            Assert.True(report.Latency.Samples > 0);
            Assert.NotNull(report.Latency.P99Ms);
            Assert.True(report.Server!.CpuSeconds > 0);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task TsMode_WithNoViewers_MeasuresTheIngestAlone()
    {
        var file = await MakeMpeg1FileAsync();
        try
        {
            await using var server = await OspreyProcess.StartAsync("stream");
            var report = await LoadRunner.RunAsync(
                new LoadOptions
                {
                    Url = server.Ws("ws/cam/ts"),
                    TsFile = file,
                    TsMarkers = false,
                    TsWriteSize = 1316,
                    Viewers = 0,
                    Duration = TimeSpan.FromSeconds(2),
                    Warmup = TimeSpan.FromSeconds(0.2),
                    ServerPid = server.Pid,
                },
                CancellationToken.None);

            var publisher = report.Ts!.Publisher!;
            Assert.True(publisher.Connected);
            Assert.Null(publisher.Error);
            Assert.Equal(0, publisher.Markers);
            Assert.True(publisher.BytesInWindow > 0);
            Assert.True(report.WindowSeconds > 0);
            Assert.True(report.Server!.CpuSeconds > 0);
            Assert.Contains("publisher", server.Output, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task TsMode_FindsACounterJumpInsideAMessage_AndTakesAJumpAtAMessageStartAsASkip()
    {
        // A scripted server: the programme tables alone, then video packets with their counters 0..9, then a message
        // that resumes at a payload unit start with a jump (a skip), then one that jumps inside (an error).
        var tables = Packets((0x0000, 0, true), (0x1000, 0, true));
        var first = Packets([.. Enumerable.Range(0, 10).Select(cc => (0x0100, cc, cc == 0))]);
        var resumed = Packets((0x0000, 1, true), (0x0100, 7, true), (0x0100, 8, false));
        var broken = Packets((0x0100, 9, true), (0x0100, 10, false), (0x0100, 3, false));
        await using var server = await ScriptedWebSocketServer.StartAsync([tables, first, resumed, broken]);

        var report = await LoadRunner.RunAsync(
            new LoadOptions { Url = server.Url, Mode = StreamMode.Ts, Viewers = 1, Duration = TimeSpan.FromSeconds(1), Warmup = TimeSpan.Zero },
            CancellationToken.None);

        var checks = report.Viewers.Single().Ts!;
        Assert.Equal(4, checks.Messages);
        Assert.Equal(1, checks.TableMessages);
        Assert.Equal(1, checks.Resumes);
        Assert.Equal(1, checks.ContinuityErrors);
        Assert.False(checks.InOrder);
        Assert.Equal(0, checks.SyncLosses);
        Assert.Equal(0, checks.UnalignedMessages);
    }

    /// <summary>A 3 s 320x240 MPEG-1 transport stream from ffmpeg, as jsmpeg's examples make.</summary>
    private static async Task<string> MakeMpeg1FileAsync()
    {
        var file = Path.Combine(Path.GetTempPath(), $"osprey-load-{Guid.NewGuid():N}.ts");
        await using var ffmpeg = Ffmpeg.Start(
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3",
            "-f", "mpegts", "-codec:v", "mpeg1video", "-b:v", "500k", "-bf", "0", "-y", file);
        Assert.True(await ffmpeg.WaitForExitAsync(TimeSpan.FromSeconds(60)), "ffmpeg did not finish");
        Assert.True(ffmpeg.ExitCode == 0, ffmpeg.Errors);
        return file;
    }

    /// <summary>Whole packets with the given PID, continuity counter and payload_unit_start (PID 0: a PAT naming PMT PID 0x1000).</summary>
    private static byte[] Packets(params (int Pid, int Counter, bool Start)[] packets)
    {
        var bytes = new byte[packets.Length * 188];
        for (var i = 0; i < packets.Length; i++)
        {
            var (pid, counter, start) = packets[i];
            var packet = bytes.AsSpan(i * 188, 188);
            packet.Fill(0xFF);
            packet[0] = 0x47;
            packet[1] = (byte)((start ? 0x40 : 0) | (pid >> 8));
            packet[2] = (byte)pid;
            packet[3] = (byte)(0x10 | (counter & 0x0F));
            if (pid == 0)
            {
                // pointer 0; table 0, section length 13; ts id 1; version/current; sections 0/0; program 1 -> PID 0x1000; CRC (unchecked)
                byte[] pat = [0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0, 0, 0, 0];
                pat.CopyTo(packet[4..]);
            }
        }

        return bytes;
    }

    /// <summary>A WebSocket server on loopback that sends each client the same binary messages, then holds the connection.</summary>
    private sealed class ScriptedWebSocketServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        private ScriptedWebSocketServer(TcpListener listener, IReadOnlyList<byte[]> messages)
        {
            _listener = listener;
            _accepting = AcceptAsync(messages);
        }

        public Uri Url => new($"ws://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/ws/scripted/ts");

        public static Task<ScriptedWebSocketServer> StartAsync(IReadOnlyList<byte[]> messages)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return Task.FromResult(new ScriptedWebSocketServer(listener, messages));
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting.WaitAsync(TimeSpan.FromSeconds(5));
            _stop.Dispose();
        }

        private async Task AcceptAsync(IReadOnlyList<byte[]> messages)
        {
            var clients = new List<Task>();
            try
            {
                // Bounded by the test: Dispose stops the listener.
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    clients.Add(ServeAsync(client, messages));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }

            await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(5));
        }

        private async Task ServeAsync(TcpClient client, IReadOnlyList<byte[]> messages)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var head = new StringBuilder();
                    var buffer = new byte[4096];
                    while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await stream.ReadAsync(buffer, _stop.Token);
                        if (n == 0)
                        {
                            return;
                        }

                        head.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }

                    var key = head.ToString().Split("\r\n").First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))["Sec-WebSocket-Key:".Length..].Trim();
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the accept key
                    var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), _stop.Token);
                    foreach (var message in messages)
                    {
                        byte[] header = message.Length < 126
                            ? [0x82, (byte)message.Length]
                            : [0x82, 126, (byte)(message.Length >> 8), (byte)message.Length];
                        await stream.WriteAsync(header, _stop.Token);
                        await stream.WriteAsync(message, _stop.Token);
                    }

                    // Hold the connection (reading the client's close) until the client or the test ends it.
                    while (await stream.ReadAsync(buffer, _stop.Token) > 0)
                    {
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
                {
                    // The client or the test ended it.
                }
            }
        }
    }
}
