using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Osprey.IntegrationTests.Infrastructure;
using Osprey.Sources.TestPattern;
using static Osprey.IntegrationTests.Infrastructure.PagePixels;

namespace Osprey.IntegrationTests;

/// <summary>
/// Chromium plays through a loopback UDP relay that drops 5 % of the server's RTP packets: the browser NACKs
/// them, the server answers from its packet history, and the picture keeps decoding.
/// </summary>
[Collection("chromium")]
public sealed partial class WebRtcLossTests(Browser browser) : IAsyncLifetime
{
    private OspreyProcess _server = null!;
    private IPage? _page;

    public async Task InitializeAsync() => _server = await OspreyProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_page is not null)
        {
            await _page.CloseAsync();
        }

        await _server.DisposeAsync();
    }

    [Fact]
    public async Task FivePercentLoss_IsRepairedByNacks_AndThePictureKeepsDecoding()
    {
        var port = int.Parse(WebRtcPortLine().Match(_server.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        using var relay = new LossyRelay(new IPEndPoint(IPAddress.Loopback, port), dropRate: 0.05, seed: 4585);
        _page = await browser.Instance.NewPageAsync();
        await _page.GotoAsync(_server.Http("/healthz").ToString());
        await _page.EvaluateAsync<string>(WebRtcChromiumTests.PlayScript, new object?[] { "test", relay.Port });
        await WebRtcChromiumTests.WaitForFramesAsync(_page, 20);

        // Ten seconds of 5 % loss (about 150 lost packets at this rate).
        var framesBefore = await DecodedFramesAsync(_page);
        await _page.WaitForTimeoutAsync(10_000);
        var framesAfter = await DecodedFramesAsync(_page);
        Assert.True(relay.Dropped > 20, $"the relay dropped only {relay.Dropped} packets");
        Assert.True(framesAfter - framesBefore > 150, $"only {framesAfter - framesBefore} frames decoded in 10 s under loss");

        var counters = await GetWebRtcCountersAsync();
        var nacked = counters.GetProperty("nackedPackets").GetInt64();
        var retransmitted = counters.GetProperty("retransmissions").GetInt64();
        Assert.True(nacked > 0, "no packet was NACKed");
        Assert.True(retransmitted >= relay.Dropped / 2, $"{retransmitted} retransmissions for {relay.Dropped} dropped packets ({nacked} NACKed)");
        var nackCount = await _page.EvaluateAsync<int>(
            "async () => { let n = 0; (await window.whep.pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.nackCount; }); return n; }");
        Assert.True(nackCount > 0, "the browser's stats show no NACK sent");

        // Still the picture it should be.
        var pixels = await ReadCanvasAsync(_page, "#whep", WebRtcChromiumTests.StaticBarCentres(640, 480));
        for (var bar = 0; bar < 8; bar++)
        {
            AssertColour(pixels[bar], TestPatternGenerator.BarsRgb.Slice(bar * 3, 3).ToArray(), $"bar {bar} under loss", tolerance: 24);
        }
    }

    private static Task<int> DecodedFramesAsync(IPage page) =>
        page.EvaluateAsync<int>("() => document.querySelector('#whep').getVideoPlaybackQuality().totalVideoFrames");

    private async Task<JsonElement> GetWebRtcCountersAsync()
    {
        using var http = new HttpClient();
        using var feed = JsonDocument.Parse(await http.GetStringAsync(_server.Http("/api/feeds/test")));
        return feed.RootElement.GetProperty("parts").EnumerateArray().First(p => p.GetProperty("part").GetString() == "webrtc").GetProperty("counters").Clone();
    }

    [GeneratedRegex(@"WebRTC: UDP port (\d+)")]
    private static partial Regex WebRtcPortLine();

    /// <summary>
    /// One loopback UDP socket between the browser and the server: what the server sends goes to the browser's
    /// last address, what the browser sends goes to the server; RTP from the server (not RTCP, STUN or DTLS) is
    /// dropped at <c>dropRate</c>, from a seeded generator.
    /// </summary>
    private sealed class LossyRelay : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly IPEndPoint _server;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly Random _random;
        private readonly double _dropRate;
        private long _dropped;

        public LossyRelay(IPEndPoint server, double dropRate, int seed)
        {
            _server = server;
            _dropRate = dropRate;
            _random = new Random(seed);
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _socket.ReceiveBufferSize = 4 * 1024 * 1024;
            _loop = Task.Run(RunAsync);
        }

        public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

        public long Dropped => Interlocked.Read(ref _dropped);

        private async Task RunAsync()
        {
            var buffer = new byte[2048];
            EndPoint? browser = null;
            var deadline = DateTime.UtcNow.AddMinutes(2); // bounded, whatever happens to the test
            while (!_stop.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                SocketReceiveFromResult received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    if (_stop.IsCancellationRequested)
                    {
                        return;
                    }

                    continue;
                }

                var from = (IPEndPoint)received.RemoteEndPoint;
                var datagram = buffer.AsMemory(0, received.ReceivedBytes);
                if (from.Equals(_server))
                {
                    var isRtp = datagram.Length > 1 && datagram.Span[0] is >= 128 and <= 191 && datagram.Span[1] is < 192 or > 223;
                    if (isRtp && _random.NextDouble() < _dropRate)
                    {
                        Interlocked.Increment(ref _dropped);
                        continue;
                    }

                    if (browser is not null)
                    {
                        await _socket.SendToAsync(datagram, SocketFlags.None, browser);
                    }
                }
                else
                {
                    browser = from;
                    await _socket.SendToAsync(datagram, SocketFlags.None, _server);
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _socket.Dispose();
            _loop.Wait(TimeSpan.FromSeconds(2));
            _stop.Dispose();
        }
    }
}
