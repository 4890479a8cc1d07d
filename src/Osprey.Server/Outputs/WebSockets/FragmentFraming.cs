using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// The framings of muxer fragments (fMP4, WebCodecs, BerryMSE): every fragment in order, each after the stream
/// header of exactly its version. A fragment of a header this viewer can no longer get (the feed moved on) is
/// skipped until one of the current version comes.
/// </summary>
internal abstract class FragmentFraming(Feed feed) : WebSocketFraming(feed)
{
    private StreamHeaderGate _header;

    /// <inheritdoc/>
    public override IFrameReader OpenReader() => Feed.OpenOrderedReader(maxBytes: MaxQueuedBytes);

    /// <inheritdoc/>
    // Container fragments are always muxer output in pooled arrays, so Segment is safe here.
    public override ValueTask<bool> SendAsync(Frame frame, WebSocketConnection connection) =>
        _header.IsCurrent(frame) ? SendFragmentAsync(frame.Segment, frame, connection) : SendWithHeaderAsync(frame, connection);

    /// <summary>Sends <paramref name="header"/> as this framing wants it; false when the client is gone.</summary>
    protected abstract ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection);

    /// <summary>Sends the fragment <paramref name="bytes"/> of <paramref name="frame"/>; false when the client is gone.</summary>
    protected abstract ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection);

    private async ValueTask<bool> SendWithHeaderAsync(Frame frame, WebSocketConnection connection)
    {
        var header = _header.Pending(Feed, frame, anyVersion: false);
        if (header is null)
        {
            return true; // a fragment of a header this viewer cannot get any more: wait for the next one
        }

        if (!await SendHeaderAsync(header, connection))
        {
            return false;
        }

        _header.MarkApplied(frame);
        return await SendFragmentAsync(frame.Segment, frame, connection);
    }
}
