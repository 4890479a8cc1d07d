using System.Buffers.Binary;
using System.Text;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.WebSockets;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// <see cref="ViewerFraming.WebCodecs"/>: a text message with the decoder config JSON before the first fragment
/// of each header version, then per access unit [u64 capture time µs][u8 flags: bit0 key frame][the AVCC
/// sample]. The sample is the fMP4 fragment's mdat payload, sent from the shared fragment: no second mux.
/// </summary>
internal sealed class WebCodecsFraming(Feed feed) : FragmentFraming(feed)
{
    private const int PrefixSize = 9;

    private readonly byte[] _prefix = new byte[PrefixSize];

    /// <inheritdoc/>
    protected override ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection) =>
        connection.SendAsync(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(header.DecoderConfigJson ?? "{}"));

    /// <inheritdoc/>
    protected override ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection)
    {
        var moofSize = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan());
        BinaryPrimitives.WriteInt64BigEndian(_prefix, frame.CaptureTimeMicros);
        _prefix[8] = frame.IsKeyFrame ? (byte)1 : (byte)0;
        return connection.SendAsync(WebSocketOpcode.Binary, _prefix, bytes[(moofSize + 8)..]);
    }
}
