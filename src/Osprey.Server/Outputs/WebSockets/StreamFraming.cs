using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// <see cref="ViewerFraming.Stream"/>: a byte stream (MPEG-TS for jsmpeg, vw and relays), every chunk in order
/// as one binary message, the programme tables (PAT/PMT) first and again when they change.
/// </summary>
internal sealed class StreamFraming(Feed feed) : WebSocketFraming(feed)
{
    /// <summary>The most chunks queued for a viewer; see <see cref="FeedRegistry.StreamGroupOfPicturesFrames"/>.</summary>
    private const int StreamQueueFrames = FeedRegistry.StreamGroupOfPicturesFrames;

    private StreamHeaderGate _tables;

    /// <inheritdoc/>
    // A byte stream's chunks are network reads (tens to hundreds per group of pictures), not pictures: its queue
    // must hold a whole cached group of pictures, or a new viewer would overflow at once and wait for the next.
    public override IFrameReader OpenReader() => Feed.OpenOrderedReader(StreamQueueFrames, maxBytes: MaxQueuedBytes);

    /// <inheritdoc/>
    public override ValueTask<bool> SendAsync(Frame frame, WebSocketConnection connection)
    {
        // TS is self-describing: a newer table than the chunk's is still right, and a feed without tables (jsmpeg
        // needs none) plays too.
        var tables = _tables.Pending(Feed, frame, anyVersion: true);
        return tables is null
            ? connection.SendAsync(WebSocketOpcode.Binary, frame.Memory)
            : SendWithTablesAsync(tables, frame, connection);
    }

    private async ValueTask<bool> SendWithTablesAsync(StreamHeader tables, Frame frame, WebSocketConnection connection)
    {
        if (!await connection.SendAsync(WebSocketOpcode.Binary, tables.InitSegment))
        {
            return false;
        }

        _tables.MarkApplied(frame);
        return await connection.SendAsync(WebSocketOpcode.Binary, frame.Memory);
    }
}
