using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary><see cref="ViewerFraming.Frames"/>: pictures (raw, JPEG), one binary message per frame holding its bytes only, newest first.</summary>
internal sealed class FramesFraming(Feed feed) : WebSocketFraming(feed)
{
    /// <inheritdoc/>
    public override bool OneFramePerWake => true;

    /// <inheritdoc/>
    public override IFrameReader OpenReader() => Feed.OpenReader();

    /// <inheritdoc/>
    // Memory, not Segment: a V4L2 frame is mmap memory with no array (see SocketFrameSender).
    public override ValueTask<bool> SendAsync(Frame frame, WebSocketConnection connection) =>
        connection.SendAsync(WebSocketOpcode.Binary, frame.Memory);
}
