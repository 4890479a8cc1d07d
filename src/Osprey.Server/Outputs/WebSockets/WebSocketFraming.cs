using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Server.Outputs.WebSockets;

/// <summary>
/// What one WebSocket viewer sends for each frame of its feed, and how it reads the feed: one instance per
/// viewer, holding that viewer's state (the stream header it has, its prefix buffer, BerryMSE's numbering).
/// </summary>
/// <remarks>Per-viewer bytes are only small prefixes; a frame's bytes go from the shared buffer. The common
/// per-frame path completes without a state machine while the socket takes the bytes at once.</remarks>
internal abstract class WebSocketFraming
{
    /// <summary>Makes the framing <paramref name="framing"/> names for one viewer of <paramref name="feed"/>.</summary>
    /// <remarks><paramref name="maxQueuedBytes"/> bounds what an ordered (stream) viewer may hold queued.</remarks>
    public static WebSocketFraming Create(ViewerFraming framing, Feed feed, long maxQueuedBytes = ViewerLimits.DefaultMaxQueuedBytes)
    {
        WebSocketFraming made = framing switch
        {
            ViewerFraming.Frames => new FramesFraming(feed),
            ViewerFraming.Stream => new StreamFraming(feed),
            ViewerFraming.Fmp4 => new Fmp4Framing(feed),
            ViewerFraming.WebCodecs => new WebCodecsFraming(feed),
            ViewerFraming.BerryMse => new BerryMseFraming(feed),
            ViewerFraming.Go2rtcMse => new Go2rtcMseFraming(feed),
            _ => throw new ArgumentOutOfRangeException(nameof(framing), framing, "Unknown viewer framing."),
        };
        made.MaxQueuedBytes = maxQueuedBytes;
        return made;
    }

    protected WebSocketFraming(Feed feed) => Feed = feed;

    /// <summary>The feed this viewer watches.</summary>
    protected Feed Feed { get; }

    /// <summary>The most bytes of frames an ordered reader of this viewer may queue (latest-mode readers hold one frame).</summary>
    protected long MaxQueuedBytes { get; private set; } = ViewerLimits.DefaultMaxQueuedBytes;

    /// <summary>True for pictures (latest mode): one frame per wake, the newest; false sends every frame taken.</summary>
    public virtual bool OneFramePerWake => false;

    /// <summary>Opens this viewer's reader, before the 101 so that the first frame is already latched or queued.</summary>
    public abstract IFrameReader OpenReader();

    /// <summary>Sends what <paramref name="frame"/> becomes for this viewer (nothing, one message, or a header and then it).</summary>
    /// <returns>False when the client is gone.</returns>
    public abstract ValueTask<bool> SendAsync(Frame frame, WebSocketConnection connection);
}

/// <summary>How a WebSocket viewer frames what it sends.</summary>
internal enum ViewerFraming
{
    /// <summary>One binary message per frame, the frame's bytes only (raw, JPEG); newest frame first.</summary>
    Frames,

    /// <summary>fMP4 for MSE: a text message with the MIME type and the init segment first (again when it changes), then one media segment per message, in order.</summary>
    Fmp4,

    /// <summary>WebCodecs: a text message with the decoder config JSON, then [u64 µs timestamp][u8 flags][AVCC access unit] per message.</summary>
    WebCodecs,

    /// <summary>BerryMSE's layout: the init segment, then its 104-byte-moof fragments numbered per viewer.</summary>
    BerryMse,

    /// <summary>go2rtc's <c>mse</c>: a text message <c>{"type":"mse","value":MIME}</c> and the init segment first (again when it changes), then one media segment per message.</summary>
    Go2rtcMse,

    /// <summary>A byte stream (MPEG-TS for jsmpeg, vw and relays): the feed's header bytes (PAT/PMT) as a binary message first, then every chunk in order; a slow viewer skips whole groups of pictures.</summary>
    Stream,
}
