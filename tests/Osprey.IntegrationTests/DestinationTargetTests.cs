using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// Destinations cannot be aimed at Osprey's own host or network (issue 13, item 7): loopback, link-local and
/// private targets are refused unless allowed, and lastError never repeats what the peer sent.
/// </summary>
public class DestinationTargetTests
{
    [Fact]
    public async Task DestinationsToLoopbackPrivateOrUnspecifiedTargets_AreRefusedWith403_UnlessAllowed()
    {
        await using var server = await OspreyProcess.StartAsync("stream");
        foreach (var target in new[] { "ws://127.0.0.1:22/", "ws://[::1]:8888/in/x", "ws://10.1.2.3/in/x", "ws://169.254.169.254/", "ws://0.0.0.0:8888/", "ws://localhost:8888/" })
        {
            var refused = await VwApiTests.SendAsync(server, "POST", "api/destinations", $$"""{"id":"x","stream":"s","destination":"{{target}}"}""");
            Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
            Assert.Contains("not allowed", refused.Body, StringComparison.Ordinal);
        }

        var token = await VwApiTests.SendAsync(server, "POST", "api/destinations", """{"id":"x","stream":"s","destination":"ws://relay.example/in/x","token":"t"}""");
        Assert.Equal(HttpStatusCode.Forbidden, token.Status);
        Assert.Contains("wss://", token.Body, StringComparison.Ordinal);
        Assert.Equal("{}\n", (await VwApiTests.SendAsync(server, "GET", "api/destinations/all")).Body);
        Assert.Contains("\"destinations\":{\"max\":32,\"now\":0,\"refused\":7", (await VwApiTests.SendAsync(server, "GET", "api/relay")).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAllowedTargetsLastError_SaysWhatHappened_WithoutThePeersBytes()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var peer = ServeBannerAsync(listener, stop.Token);

        await using var server = await OspreyProcess.StartAsync("stream", "--allow-destination", "127.0.0.1/32");
        await VwApiTests.SendAsync(server, "POST", "api/destinations", $$"""{"id":"scan","stream":"s","destination":"ws://127.0.0.1:{{port}}/"}""");
        string relay;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        do
        {
            await Task.Delay(200);
            relay = (await VwApiTests.SendAsync(server, "GET", "api/relay")).Body;
        }
        while (DateTime.UtcNow < deadline && relay.Contains("\"lastError\":null", StringComparison.Ordinal));

        Assert.Contains("\"lastError\":\"", relay, StringComparison.Ordinal);
        Assert.DoesNotContain("SSH-2.0", relay, StringComparison.Ordinal);
        Assert.DoesNotContain("secretbanner", relay, StringComparison.Ordinal);
        await stop.CancelAsync();
        await peer;
    }

    /// <summary>Accepts the WebSocket upgrade, then closes with a description a banner grabber would want to read.</summary>
    private static async Task ServeBannerAsync(TcpListener listener, CancellationToken stop)
    {
        try
        {
            for (var i = 0; i < 20 && !stop.IsCancellationRequested; i++)
            {
                using var client = await listener.AcceptTcpClientAsync(stop);
                var stream = client.GetStream();
                var request = new byte[4096];
                var length = await stream.ReadAsync(request, stop);
                var key = Encoding.ASCII.GetString(request, 0, length).Split("\r\n").First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))[18..].Trim();
#pragma warning disable CA5350 // RFC 6455 fixes SHA-1 for the handshake
                var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), stop);
                var reason = Encoding.ASCII.GetBytes("SSH-2.0-OpenSSH_9.2 secretbanner");
                await stream.WriteAsync((byte[])[0x88, (byte)(reason.Length + 2), 0x03, 0xE8, .. reason], stop);
                await Task.Delay(200, stop);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
        }
    }
}
