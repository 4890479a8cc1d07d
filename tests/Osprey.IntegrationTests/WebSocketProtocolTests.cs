using System.Buffers.Binary;
using Osprey.IntegrationTests.Infrastructure;

namespace Osprey.IntegrationTests;

/// <summary>
/// RFC 6455's rules for what a server must refuse, over a raw TCP socket against the real server: on a viewer
/// route (Osprey's own frame parser) and on a relay topic (.NET's WebSocket behind Osprey's header guard).
/// </summary>
[Trait("Needs", "Socket")]
public class WebSocketProtocolTests(WebSocketProtocolTests.SmallFeedServer fixture) : IClassFixture<WebSocketProtocolTests.SmallFeedServer>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Routes => new() { "/ws/test/raw", "/topic/rfc" };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task CloseCodesThatMayNotBeSent_AreAnsweredWith1002_NotEchoed(string route)
    {
        foreach (var code in new[] { 999, 1004, 1005, 1006, 1015, 5000 })
        {
            using var client = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, route);
            var payload = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
            await client.SendMaskedFrameAsync(0x8, payload);
            var close = await client.ReadCloseAsync(s_timeout);
            Assert.True(close is not null, $"code {code}: no close frame");
            Assert.True(close.Value.Code == 1002, $"code {code} was answered with {close.Value.Code}");
        }
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task AOneByteClosePayload_IsAnsweredWith1002(string route)
    {
        using var client = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, route);
        await client.SendMaskedFrameAsync(0x8, new byte[] { 0x03 });
        Assert.Equal(1002, (await client.ReadCloseAsync(s_timeout))?.Code);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task AValidCloseCode_IsEchoed(string route)
    {
        using var client = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, route);
        await client.SendMaskedFrameAsync(0x8, new byte[] { 0x03, 0xE9 }); // 1001
        var close = await client.ReadCloseAsync(s_timeout);
        Assert.NotNull(close);
        Assert.True(close.Value.Code is 1001 or 1000, $"answered {close.Value.Code}");
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task TextThatIsNotUtf8_IsClosedWith1007(string route)
    {
        using var client = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, route);
        await client.SendMaskedFrameAsync(0x1, new byte[] { (byte)'o', (byte)'k', 0xFF, 0xFE });
        Assert.Equal(1007, (await client.ReadCloseAsync(s_timeout))?.Code);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task AnUnmaskedPing_IsAProtocolError_ClosedWith1002(string route)
    {
        using var client = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, route);
        await client.SendRawAsync([0x89, 0x00]); // FIN + ping, no mask bit, empty
        var close = await client.ReadCloseAsync(s_timeout);
        Assert.NotNull(close);
        Assert.Equal(1002, close.Value.Code);
        Assert.Contains("masked", close.Value.Reason);
    }

    [Fact]
    public async Task ATopicMessageOfTenMiB_IsRelayed_AndOneByteMore_IsClosedWith1009()
    {
        const int limit = 10 * 1024 * 1024;
        using var receiver = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, "/topic/big");
        using var sender = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, "/topic/big");
        await Task.Delay(200); // both joined before the message

        await sender.SendMaskedFrameAsync(0x2, new byte[limit]);
        var (first, length) = await receiver.ReadFrameHeaderAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(0x82, first);
        Assert.Equal(limit, length);
        await receiver.ReadPayloadAsync(length, keep: false);

        // One byte over, in two fragments so that no single frame is over the limit: the hub's own count refuses it.
        await sender.SendMaskedFrameAsync(0x2, new byte[limit], fin: false);
        await sender.SendMaskedFrameAsync(0x0, new byte[1]);
        var close = await sender.ReadCloseAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1009, close?.Code);

        // And one frame announcing more than the limit is refused from its header.
        using var big = await RawSocketViewer.ConnectAsync(fixture.Server.BaseUri, "/topic/big");
        var header = new byte[14];
        header[0] = 0x82;
        header[1] = 0xFF;
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(2), limit + 1);
        await big.SendRawAsync(header);
        Assert.Equal(1009, (await big.ReadCloseAsync(s_timeout))?.Code);
    }

    /// <summary>A server with a small raw feed, so that viewers' close frames come after little data.</summary>
    public sealed class SmallFeedServer : IAsyncLifetime
    {
        public OspreyProcess Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await OspreyProcess.StartAsync("--source", "test=testpattern:?width=64&height=48&fps=5");

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }
}
