using Osprey.Containers.Mp4;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;
using Osprey.Transforms;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// <see cref="ViewerFraming.BerryMse"/>: BerryMSE's exact layout, the init segment before the first fragment of
/// each header version, then fragments with a 104-byte moof. BerryMSE numbers fragments per client (mfhd
/// sequence, tfdt), so each viewer sends its own patched copy of the moof and the mdat from the shared fragment.
/// </summary>
internal sealed class BerryMseFraming(Feed feed) : FragmentFraming(feed)
{
    private readonly byte[] _moof = new byte[BerryMseWriter.MoofSize];
    private uint _sequence;

    /// <inheritdoc/>
    // BerryMSE's pages append each message at once with no queue ("still processing an appendBuffer" loses a
    // burst), and BerryMSE itself starts a client at the next IDR: so does this layout, at the live rate.
    public override IFrameReader OpenReader() => Feed.OpenOrderedReader(startAtNextKeyFrame: true, maxBytes: MaxQueuedBytes);

    /// <inheritdoc/>
    protected override ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection) =>
        connection.SendAsync(WebSocketOpcode.Binary, header.InitSegment);

    /// <inheritdoc/>
    protected override ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection)
    {
        bytes.AsSpan(0, BerryMseWriter.MoofSize).CopyTo(_moof);
        BerryMseMuxer.PatchForViewer(_moof, ++_sequence);
        return connection.SendAsync(WebSocketOpcode.Binary, _moof, bytes[BerryMseWriter.MoofSize..]);
    }
}
