using System.Text.Json;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// <see cref="ViewerFraming.Go2rtcMse"/>, go2rtc's <c>/api/ws</c> answer to <c>{"type":"mse"}</c> as its video-rtc.js
/// (and Frigate's MSE player) reads it: <c>{"type":"mse","value":"video/mp4; codecs=\"avc1...\""}</c>, then the init
/// segment and each moof+mdat fragment as binary messages, the same fragments <see cref="Fmp4Framing"/> sends.
/// </summary>
internal sealed class Go2rtcMseFraming(Feed feed) : FragmentFraming(feed)
{
    /// <summary>go2rtc's message <c>{"type": type, "value": value}</c> as UTF-8 JSON.</summary>
    public static byte[] Message(string type, string value)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", type);
            json.WriteString("value", value);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <inheritdoc/>
    protected override async ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection) =>
        await connection.SendAsync(WebSocketOpcode.Text, Message("mse", header.MimeType)) &&
        await connection.SendAsync(WebSocketOpcode.Binary, header.InitSegment);

    /// <inheritdoc/>
    protected override ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection) =>
        connection.SendAsync(WebSocketOpcode.Binary, bytes);
}
