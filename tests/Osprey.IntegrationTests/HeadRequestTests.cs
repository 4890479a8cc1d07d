using System.Net;
using System.Net.Sockets;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>HEAD answers what GET would, without a body (health checks such as <c>wget --spider</c> send HEAD).</summary>
public class HeadRequestTests(DefaultServerFixture fixture) : IClassFixture<DefaultServerFixture>
{
    [Theory]
    [InlineData("healthz", "application/json")]
    [InlineData("healthcheck", "application/json")]
    [InlineData("", "text/html")]
    [InlineData("api/feeds", "application/json")]
    [InlineData("api/feeds/test", "application/json")]
    [InlineData("snapshot/test.jpg", "image/jpeg")]
    [InlineData("mjpeg/test", "multipart/x-mixed-replace")]
    public async Task Head_AnswersGetsStatusAndType_WithNoBody(string path, string contentType)
    {
        var (head, headBody) = await RawRequestAsync("HEAD", path);
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        Assert.Contains($"Content-Type: {contentType}", head, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(headBody);
    }

    [Fact]
    public async Task Head_OnAnUnknownFeed_Is404LikeGet()
    {
        using var http = new HttpClient();
        using var get = await http.GetAsync(fixture.Server.Http("api/feeds/nosuch"));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, fixture.Server.Http("api/feeds/nosuch")));
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(get.StatusCode, head.StatusCode);
    }

    [Fact]
    public async Task HeadThenGet_OnOneConnection_BothAnswer()
    {
        // A body sent after a HEAD head would be read as the next response: one kept-alive connection shows it.
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 });
        for (var i = 0; i < 3; i++)
        {
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, fixture.Server.Http("healthz")));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Contains("\"ok\"", await http.GetStringAsync(fixture.Server.Http("healthz")), StringComparison.Ordinal);
        }
    }

    /// <summary>One request on its own connection, read until the server closes it or 2 s pass.</summary>
    private async Task<(string Head, byte[] Body)> RawRequestAsync(string method, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, fixture.Server.BaseUri.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{method} /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            // A streaming answer that did not end: whatever arrived is judged below.
        }

        var bytes = received.ToArray();
        var end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end >= 0, $"no complete head in {bytes.Length} bytes");
        return (Encoding.ASCII.GetString(bytes, 0, end), bytes[(end + 4)..]);
    }
}
