using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>Floods of idle connections against the real server under a 1024-descriptor limit.</summary>
public class ConnectionLimitTests
{
    [Fact]
    public async Task AThousandIdleConnections_UnderA1024DescriptorLimit_AreRefusedWith503_AndTheServerLives()
    {
        await using var server = await OspreyProcess.StartWrappedAsync(["prlimit", "--nofile=1024:1024"], "--source", "cam=testpattern:?width=160&height=120&fps=10");
        var flood = new List<Socket>();
        var refused = 0;
        try
        {
            // From four loopback addresses, under the per-address cap (256): only the total cap can refuse.
            for (var i = 0; i < 1000; i++)
            {
                flood.Add(await ConnectFromAsync(server, IPAddress.Parse($"127.0.0.{2 + (i % 4)}")));
            }

            await Task.Delay(1000);
            foreach (var socket in flood)
            {
                if (await ReadRefusalAsync(socket) is { } text)
                {
                    Assert.StartsWith("HTTP/1.1 503", text, StringComparison.Ordinal);
                    refused++;
                }
            }

            Assert.False(server.HasExited, server.Output);
            Assert.InRange(refused, 1, 999);
        }
        finally
        {
            foreach (var socket in flood)
            {
                socket.Dispose();
            }
        }

        // The flood gone, the server answers and has counted what it refused.
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        JsonDocument? health = null;
        while (health is null && DateTime.UtcNow < deadline)
        {
            try
            {
                health = JsonDocument.Parse(await http.GetStringAsync(server.Http("healthz")));
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200);
            }
        }

        Assert.NotNull(health);
        Assert.Equal(refused, health.RootElement.GetProperty("connectionsRefused").GetInt64());
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task OneAddressOverItsCap_IsRefused_WhileAViewerFromAnotherAddressWatches()
    {
        await using var server = await OspreyProcess.StartAsync("--source", "cam=testpattern:?width=160&height=120&fps=10", "--max-connections-per-address", "50");
        var flood = new List<Socket>();
        try
        {
            for (var i = 0; i < 80; i++)
            {
                flood.Add(await ConnectFromAsync(server, IPAddress.Parse("127.0.0.9")));
            }

            await Task.Delay(500);
            var refused = 0;
            foreach (var socket in flood)
            {
                if (await ReadRefusalAsync(socket) is { } text)
                {
                    Assert.Contains("Too many connections from your address", text, StringComparison.Ordinal);
                    refused++;
                }
            }

            Assert.Equal(30, refused);
            using var viewer = await RawFrameClient.ConnectAsync(server.Ws("ws/cam/jpeg"));
            await viewer.ReceiveFramesAsync(3, TimeSpan.FromSeconds(10));
        }
        finally
        {
            foreach (var socket in flood)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task<Socket> ConnectFromAsync(OspreyProcess server, IPAddress from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(from, 0));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.BaseUri.Port), timeout.Token);
        return socket;
    }

    /// <summary>What the server sent on an idle connection within a moment: its refusal, or null (still open, silent).</summary>
    private static async Task<string?> ReadRefusalAsync(Socket socket)
    {
        var buffer = new byte[512];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        try
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return read > 0 ? Encoding.ASCII.GetString(buffer, 0, read) : null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
