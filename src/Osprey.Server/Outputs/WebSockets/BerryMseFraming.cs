using System.Diagnostics;
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
/// <remarks>
/// BerryMSE's demo.js hands every message to <c>appendBuffer</c> at once, with no queue: a message that arrives
/// while the last append is still parsed throws ("still processing an 'appendBuffer'") and is lost, and since
/// BerryMSE numbers the timeline per message, the lost fragment is a hole where playback stops for good. So this
/// layout starts a viewer at the next IDR (as BerryMSE does) rather than with the cached group, and paces what
/// the encoder or the network delivers in a burst: a fragment goes out no sooner than three quarters of its capture
/// spacing after the one before (a backlog drains at 4/3 of the live rate), and never closer than <see cref="s_minimumGap"/>,
/// after the init segment too, and <see cref="s_decoderStartGap"/> after the first IDR. Frames that come at the
/// live rate go out at once. Osprey's own
/// <c>/ws/{feed}/mp4</c> queues its appends and keeps the instant start.
/// </remarks>
internal sealed class BerryMseFraming(Feed feed) : FragmentFraming(feed)
{
    /// <summary>Long enough for Chromium to parse a small fragment on a busy machine; caps this layout at 50 fragments a second.</summary>
    private static readonly TimeSpan s_minimumGap = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// After the first IDR the browser builds its decoder, holding its main thread: the next fragment waits this long.
    /// Chromium 156 holds it about 250 ms on a quiet two-core machine (messages sent in that time are handed to the
    /// page back to back); the backlog of this wait drains at 4/3 of the live rate.
    /// </summary>
    private static readonly TimeSpan s_decoderStartGap = TimeSpan.FromMilliseconds(400);

    /// <summary>A capture-time jump (a pause, a skip) is not waited for.</summary>
    private static readonly TimeSpan s_maximumGap = TimeSpan.FromMilliseconds(40);

    private readonly byte[] _moof = new byte[BerryMseWriter.MoofSize];
    private uint _sequence;
    private long _lastSent;
    private long _lastCapture;
    private bool _afterHeader;
    private bool _afterFirstPicture;

    /// <inheritdoc/>
    public override IFrameReader OpenReader() => Feed.OpenOrderedReader(startAtNextKeyFrame: true, maxBytes: MaxQueuedBytes);

    /// <inheritdoc/>
    protected override async ValueTask<bool> SendHeaderAsync(StreamHeader header, WebSocketConnection connection)
    {
        await PaceAsync(s_minimumGap);
        _afterHeader = true;
        _lastSent = Stopwatch.GetTimestamp();
        return await connection.SendAsync(WebSocketOpcode.Binary, header.InitSegment);
    }

    /// <inheritdoc/>
    protected override ValueTask<bool> SendFragmentAsync(ArraySegment<byte> bytes, Frame frame, WebSocketConnection connection)
    {
        var gap = _afterFirstPicture ? s_decoderStartGap
            : _afterHeader || _lastCapture == 0 ? s_minimumGap
            : Clamp(Stopwatch.GetElapsedTime(_lastCapture, frame.CaptureTimestamp) * 3 / 4);
        _afterFirstPicture = _afterHeader;
        _afterHeader = false;
        _lastCapture = frame.CaptureTimestamp;
        var due = _lastSent == 0 ? TimeSpan.Zero : gap - Stopwatch.GetElapsedTime(_lastSent);
        return due > TimeSpan.Zero ? SendLaterAsync(due, bytes, connection) : SendNowAsync(bytes, connection);
    }

    private static TimeSpan Clamp(TimeSpan gap) => gap < s_minimumGap ? s_minimumGap : gap > s_maximumGap ? s_maximumGap : gap;

    private async ValueTask PaceAsync(TimeSpan gap)
    {
        var due = _lastSent == 0 ? TimeSpan.Zero : gap - Stopwatch.GetElapsedTime(_lastSent);
        if (due > TimeSpan.Zero)
        {
            await Task.Delay(due);
        }
    }

    private async ValueTask<bool> SendLaterAsync(TimeSpan due, ArraySegment<byte> bytes, WebSocketConnection connection)
    {
        await Task.Delay(due);
        return await SendNowAsync(bytes, connection);
    }

    private ValueTask<bool> SendNowAsync(ArraySegment<byte> bytes, WebSocketConnection connection)
    {
        _lastSent = Stopwatch.GetTimestamp();
        bytes.AsSpan(0, BerryMseWriter.MoofSize).CopyTo(_moof);
        BerryMseMuxer.PatchForViewer(_moof, ++_sequence);
        return connection.SendAsync(WebSocketOpcode.Binary, _moof, bytes[BerryMseWriter.MoofSize..]);
    }
}
