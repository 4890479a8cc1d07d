using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// A publisher that holds a feed's name and sends nothing (issue 13, item 6) loses it after the first-bytes
/// timeout; with <c>--publisher-takeover</c> a second publisher replaces the first instead of getting 409.
/// </summary>
public class PublisherSquattingTests
{
    private static readonly HttpClient s_http = new();

    [Fact]
    public async Task APublisherThatSendsHeadersAndNoBody_OrAnIdleInSocket_LosesTheName_AndRealFfmpegThenPublishes()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--publisher-first-bytes-timeout", "1");

        // Headers of an endless chunked upload, then silence.
        using var squatter = new TcpClient();
        await squatter.ConnectAsync("127.0.0.1", server.BaseUri.Port);
        var stream = squatter.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /ts/video0 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        using var idle = new ClientWebSocket();
        await idle.ConnectAsync(server.Ws("in/cam"), CancellationToken.None);
        await WaitForRelayAsync(server, "\"feed\":\"video0\"");

        // The squatter's connection is closed (ended or reset) once its time is up.
        using (var closed = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                Assert.Equal(0, await stream.ReadAsync(new byte[256], closed.Token));
            }
            catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
            }
        }

        await using var ffmpeg = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await using var pusher = Ffmpeg.PublishVideo(server.Http("ts/cam"));
        await TsIngestTests.WaitForFeedAsync(server, "video0");
        await TsIngestTests.WaitForFeedAsync(server, "cam");
        Assert.False(ffmpeg.HasExited, ffmpeg.Errors);
        Assert.False(pusher.HasExited, pusher.Errors);
        Assert.Contains("\"timedOut\":2", await s_http.GetStringAsync(server.Http("api/relay")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithTakeover_ASecondFfmpegTakesTheFeed_AndTheFirstIsDisconnected()
    {
        await using var server = await OspreyProcess.StartAsync("stream", "--publisher-takeover");
        await using var first = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        await TsIngestTests.WaitForFeedAsync(server, "video0");
        using var viewer = await TsViewer.ConnectAsync(server.Ws("ws/video0/ts"));
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > 20_000, TimeSpan.FromSeconds(15)), first.Errors);

        await using var second = Ffmpeg.PublishVideo(server.Http("ts/video0"));
        Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(15)), "the first publisher was not disconnected");
        var before = viewer.ByteCount;
        Assert.True(await viewer.ReceiveUntilAsync(v => v.ByteCount > before + 50_000, TimeSpan.FromSeconds(15)), second.Errors);
        Assert.False(second.HasExited, second.Errors);
        Assert.Contains("\"takenOver\":1", await s_http.GetStringAsync(server.Http("api/relay")), StringComparison.Ordinal);
    }

    private static async Task WaitForRelayAsync(OspreyProcess server, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !(await s_http.GetStringAsync(server.Http("api/relay"))).Contains(text, StringComparison.Ordinal))
        {
            await Task.Delay(50);
        }
    }
}
