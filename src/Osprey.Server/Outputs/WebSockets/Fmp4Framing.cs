using System.Text;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// <see cref="ViewerFraming.Fmp4"/>, for MSE: a text message with the MIME type and a binary one with the init
/// segment before the first fragment of each header version, then each moof+mdat fragment as one message.
/// </summary>
internal sealed class Fmp4Framing(Feed feed) : FragmentFraming(feed)
{
    /// <inheritdoc/>
    protected override async ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection) =>
        await connection.SendAsync(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(header.MimeType)) &&
        await connection.SendAsync(WebSocketOpcode.Binary, header.InitSegment);

    /// <inheritdoc/>
    protected override ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection) =>
        connection.SendAsync(WebSocketOpcode.Binary, bytes);
}
