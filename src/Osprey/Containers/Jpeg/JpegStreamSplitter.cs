using Osprey.Codecs.Jpeg;
namespace Osprey.Containers.Jpeg;

/// <summary>Receives one complete JPEG image from a <see cref="JpegStreamSplitter"/>.</summary>
/// <param name="state">The state passed to <see cref="JpegStreamSplitter.Push{TState}"/>.</param>
/// <param name="jpeg">The image, SOI to EOI inclusive; valid only during the call.</param>
public delegate void JpegImageHandler<in TState>(TState state, ReadOnlySpan<byte> jpeg);

/// <summary>
/// Splits a byte stream of concatenated JPEG images (MJPEG as ffmpeg writes it with <c>-f mjpeg</c>) into whole
/// images, whatever the read boundaries, skipping garbage and surviving truncated, corrupt and oversized images.
/// </summary>
/// <remarks>
/// <para>
/// The stream is parsed by structure, not by searching for FF D8 / FF D9: APPn segments (EXIF) may embed a
/// thumbnail with its own SOI and EOI, which such a search would split at. Segments are skipped by their length,
/// and entropy-coded data is searched for FF only, a vectorised search that covers nearly all of an image's bytes.
/// </para>
/// <code>
/// garbage…  FF D8  FF E0 00 10 [14 bytes]  FF DB 00 43 [65 bytes]  …  FF DA 00 0C [10 bytes]  ecs…  FF D9  garbage…
///           SOI    APP0, length 16         DQT, length 67              SOS, length 12          data   EOI
///
/// header:   (FF+ code [LL LL body])*        fill bytes FF may precede a code; 01, D0-D7 have no length
/// ecs:      bytes, FF 00 = stuffed FF,      any other FF xx ends the scan: EOI ends the image, anything else
///           FF D0-D7 = restart markers      (DHT, SOS… of the next progressive scan) is parsed as a header again
/// </code>
/// <para>
/// An image is recognised from FF D8 FF (SOI and the first marker's FF), which keeps random bytes from starting
/// images at every FF D8. It is delivered only if it has one frame header, before its first scan, and a scan
/// before EOI. A new SOI where a marker belongs ends the current image as truncated and starts the new one there.
/// </para>
/// <para>
/// An image cut short inside a segment reads the next image's bytes as its segment length or body, and so skips
/// into it. The parser notices later: a byte that is not a marker where one must be, a marker code no JPEG uses, a
/// length impossible for its marker (T.81 fixes those of SOFn, SOS, DRI and DNL), a second frame header, a scan
/// before the frame header, or EOI before any scan. The search for the next SOI then restarts just after the
/// corrupt image's own SOI, over the bytes already seen, so the images it swallowed are still delivered. Two limits
/// of reading structure alone: a cut 2 bytes before the end of a segment lines up exactly with the next image's
/// first marker, and yields one image made of the cut one's head followed by the whole next one (which decodes as
/// the next image, since its tables come later); and an EXIF thumbnail inside a corrupt image is found by the
/// restarted search and delivered as an image. ffmpeg's MJPEG encoder writes no EXIF.
/// </para>
/// <para>
/// Images that arrive whole inside one <see cref="Push{TState}"/> are handed out as a slice of the input, with no
/// copy. Only an image that spans pushes is accumulated in an internal buffer, which doubles as needed up to the
/// maximum image size and is then reused: no allocation in steady state. An image that has not ended within the
/// maximum size is dropped at that point and the search for the next SOI continues from there.
/// </para>
/// <para>
/// Decisions depend only on the bytes, never on where reads split them: any split of the same stream yields the
/// same images and counters. Not thread-safe; the handler must not call back into the splitter.
/// </para>
/// </remarks>
public sealed class JpegStreamSplitter
{
    private const int InitialBufferSize = 64 * 1024;

    private const string ErrorExpectedMarker = "A marker was expected after a segment.";
    private const string ErrorImpossibleMarker = "A marker code that is impossible in a header.";
    private const string ErrorBadLength = "A segment length impossible for its marker.";
    private const string ErrorSecondFrame = "A second frame header (SOFn).";
    private const string ErrorScanBeforeFrame = "A scan (SOS) before the frame header (SOFn).";
    private const string ErrorEoiBeforeScan = "EOI before any scan.";
    private const string ErrorNewSoi = "A new SOI began before EOI.";
    private const string ErrorOversized = "The image exceeded the maximum image size.";
    private const string ErrorReset = "Reset with an image in progress.";

    // A ReadOnlySpan<byte> property over constants compiles to a view of the assembly's data: no allocation.
    private static ReadOnlySpan<byte> SoiBytes => [0xFF, JpegMarkers.Soi];

    private readonly int _maxImageSize;
    private byte[] _buffer = [];
    // Bytes of the current image held in _buffer; non-zero exactly when the image began in an earlier push.
    private int _bufferLength;

    private State _state;
    // While seeking: how many bytes of FF D8 ended the previous push (0, 1 or 2); they are not garbage yet.
    private int _soiMatched;
    private byte _segmentMarker;
    private byte _lengthHigh;
    private int _segmentRemaining;
    private bool _sawFrame;
    private bool _sawScan;

    /// <summary>Creates a splitter.</summary>
    /// <param name="maxImageSize">
    /// The largest image delivered, in bytes; larger ones are dropped and counted in <see cref="OversizedImages"/>.
    /// It also bounds the internal buffer.
    /// </param>
    public JpegStreamSplitter(int maxImageSize = 8 * 1024 * 1024)
    {
        // SOI, the smallest frame header and scan header, EOI: nothing shorter is an image.
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImageSize, 16);
        _maxImageSize = maxImageSize;
    }

    private enum State : byte
    {
        /// <summary>Looking for FF D8 FF.</summary>
        SeekSoi,

        /// <summary>Inside an image, at a byte that must be the FF starting a marker.</summary>
        MarkerStart,

        /// <summary>After FF: the marker code, or another fill FF.</summary>
        MarkerCode,

        /// <summary>The first (high) byte of a segment length.</summary>
        LengthHigh,

        /// <summary>The second (low) byte of a segment length.</summary>
        LengthLow,

        /// <summary>Skipping a segment's body.</summary>
        SkipSegment,

        /// <summary>Entropy-coded data after a scan header.</summary>
        Entropy,

        /// <summary>Entropy-coded data, right after an FF.</summary>
        EntropyFF,
    }

    private enum Outcome
    {
        NeedMore,
        Complete,
        Corrupt,
        NewSoi,
    }

    /// <summary>Complete images delivered.</summary>
    public long Images { get; private set; }

    /// <summary>
    /// Bytes skipped while looking for SOI: garbage between images, plus what remains of a dropped image after the
    /// point where it was dropped (after its SOI for a corrupt one, after the size limit for an oversized one).
    /// </summary>
    public long GarbageBytes { get; private set; }

    /// <summary>
    /// Images abandoned before EOI: a new SOI began inside them, their structure was impossible (a marker code or
    /// segment length no JPEG has, a scan before the frame header, EOI before a scan), or <see cref="Reset"/> was
    /// called while one was in progress.
    /// </summary>
    public long TruncatedImages { get; private set; }

    /// <summary>Images dropped because they had not ended within the maximum image size.</summary>
    public long OversizedImages { get; private set; }

    /// <summary>A short human-readable reason for the last dropped image, or <see langword="null"/> if none was.</summary>
    public string? LastError { get; private set; }

    /// <summary>The internal buffer's capacity, for tests that check it stays bounded.</summary>
    internal int BufferCapacity => _buffer.Length;

    /// <summary>
    /// Consumes <paramref name="data"/> and calls <paramref name="onImage"/> once per complete image (SOI to EOI
    /// inclusive), in stream order. Never throws for bad data.
    /// </summary>
    /// <remarks>
    /// The span given to <paramref name="onImage"/> is valid only during the call: it is either a slice of
    /// <paramref name="data"/> or the internal buffer, which the next image overwrites. If the handler throws, the
    /// exception propagates and the rest of <paramref name="data"/> is not consumed.
    /// </remarks>
    public void Push<TState>(ReadOnlySpan<byte> data, TState state, JpegImageHandler<TState> onImage)
    {
        ArgumentNullException.ThrowIfNull(onImage);
        Feed(data, state, onImage);
    }

    /// <summary>
    /// Drops a partial image, for example because the source restarted; counts it in
    /// <see cref="TruncatedImages"/> if one was in progress.
    /// </summary>
    public void Reset()
    {
        if (_state != State.SeekSoi)
        {
            TruncatedImages++;
            LastError = ErrorReset;
        }

        // A pending FF or FF D8 will never become an SOI now.
        GarbageBytes += _soiMatched;
        _soiMatched = 0;
        _bufferLength = 0;
        _state = State.SeekSoi;
    }

    private void Feed<TState>(ReadOnlySpan<byte> data, TState state, JpegImageHandler<TState> onImage)
    {
        var pos = 0;
        // Where the current image starts in data; 0 when it began in an earlier push and is in _buffer.
        var imageStart = 0;

        while (true)
        {
            if (_state == State.SeekSoi)
            {
                if (!SeekSoi(data, ref pos, out imageStart))
                {
                    return;
                }
            }

            // Parse no further than the maximum size so that the drop point, and hence where the SOI search
            // resumes, does not depend on how reads split the stream.
            var end = (int)Math.Min(data.Length, (long)imageStart + _maxImageSize - _bufferLength);
            var outcome = ParseImage(data[..end], ref pos, out var error);
            switch (outcome)
            {
                case Outcome.Complete:
                    _state = State.SeekSoi;
                    Deliver(data[imageStart..pos], state, onImage);
                    break;

                case Outcome.NeedMore when end == data.Length:
                    Append(data[imageStart..]);
                    return;

                case Outcome.NeedMore:
                    // Dropped where it reached the limit: nothing of it is kept, and the SOI search goes on from here.
                    OversizedImages++;
                    LastError = ErrorOversized;
                    _bufferLength = 0;
                    _state = State.SeekSoi;
                    break;

                case Outcome.NewSoi:
                    // pos is just after the new FF D8, whose FF is the byte before the D8 (earlier fill bytes belong
                    // to the old image); SeekSoi confirms the FF after it and rebuilds any part in an earlier push.
                    TruncatedImages++;
                    LastError = error;
                    _bufferLength = 0;
                    _state = State.SeekSoi;
                    _soiMatched = 2;
                    break;

                case Outcome.Corrupt:
                    TruncatedImages++;
                    LastError = error;
                    _state = State.SeekSoi;
                    // The SOI itself is garbage now; the search restarts right after it.
                    GarbageBytes += 2;
                    if (_bufferLength == 0)
                    {
                        pos = imageStart + 2;
                    }
                    else
                    {
                        Rescan(data, ref pos, state, onImage);
                        // An image the rescan left open is in _buffer now, continued by data from its start.
                        imageStart = 0;
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// Restarts the SOI search just after the SOI of a corrupt image that began in an earlier push: first over the
    /// rest of the buffered part, then over <paramref name="data"/> from its start.
    /// </summary>
    private void Rescan<TState>(ReadOnlySpan<byte> data, ref int pos, TState state, JpegImageHandler<TState> onImage)
    {
        var buffered = _bufferLength;
        _bufferLength = 0;
        if (buffered >= 2)
        {
            // The buffer feeds itself: an image found in it is delivered from it in place, and one still open at
            // its end moves to its front (a forward overlapping copy, which Span.CopyTo allows). Within this call
            // no image is buffered at the start, so corruption there rewinds inside the span and never recurses.
            Feed(_buffer.AsSpan(2, buffered - 2), state, onImage);
            pos = 0;
        }
        else
        {
            // Only the SOI's FF was in an earlier push (SeekSoi rebuilt it); its D8 is data[0].
            pos = 2 - buffered;
        }
    }

    /// <summary>
    /// Looks for FF D8 FF from <paramref name="pos"/>, counting skipped bytes as garbage. On success, the image has
    /// started: <paramref name="pos"/> is at its first marker's FF and <paramref name="imageStart"/> at its SOI (0
    /// with the SOI in <see cref="_buffer"/> when part of it came in an earlier push).
    /// </summary>
    private bool SeekSoi(ReadOnlySpan<byte> data, ref int pos, out int imageStart)
    {
        imageStart = 0;
        while (pos < data.Length)
        {
            if (_soiMatched == 0)
            {
                var rest = data[pos..];
                var found = rest.IndexOf(SoiBytes);
                if (found < 0)
                {
                    // A trailing FF may be the start of an SOI split across pushes.
                    var pending = rest[^1] == 0xFF ? 1 : 0;
                    GarbageBytes += rest.Length - pending;
                    _soiMatched = pending;
                    pos = data.Length;
                    return false;
                }

                GarbageBytes += found;
                pos += found + 2;
                _soiMatched = 2;
                continue;
            }

            var b = data[pos];
            if (_soiMatched == 1)
            {
                // FF, then: D8 continues the SOI; another FF replaces it as the candidate; anything else ends it.
                if (b == JpegMarkers.Soi)
                {
                    _soiMatched = 2;
                    pos++;
                }
                else
                {
                    GarbageBytes++;
                    _soiMatched = 0;
                    if (b == 0xFF)
                    {
                        _soiMatched = 1;
                        pos++;
                    }
                }

                continue;
            }

            if (b != 0xFF)
            {
                // FF D8 without a marker after it is not an image start; b itself is looked at again.
                GarbageBytes += 2;
                _soiMatched = 0;
                continue;
            }

            _soiMatched = 0;
            StartImage();
            if (pos >= 2)
            {
                imageStart = pos - 2;
            }
            else
            {
                // Part of FF D8 came in an earlier push (or from the buffer during a rescan): rebuild it.
                var fromBefore = 2 - pos;
                EnsureCapacity(fromBefore);
                _buffer[0] = 0xFF;
                if (fromBefore == 2)
                {
                    _buffer[1] = JpegMarkers.Soi;
                }

                _bufferLength = fromBefore;
                imageStart = 0;
            }

            return true;
        }

        return false;
    }

    private void StartImage()
    {
        _state = State.MarkerStart;
        _sawFrame = false;
        _sawScan = false;
    }

    /// <summary>
    /// Runs the image state machine over <paramref name="data"/> from <paramref name="pos"/>. Returns
    /// <see cref="Outcome.Complete"/> with <paramref name="pos"/> after EOI, <see cref="Outcome.NewSoi"/> with it after
    /// the new SOI's D8, <see cref="Outcome.Corrupt"/>, or <see cref="Outcome.NeedMore"/> at the end of the data.
    /// </summary>
    private Outcome ParseImage(ReadOnlySpan<byte> data, ref int pos, out string? error)
    {
        error = null;
        while (pos < data.Length)
        {
            switch (_state)
            {
                case State.Entropy:
                    // The hot loop: almost all of an image is entropy-coded data, and FF is rare in it (about one
                    // byte in 256, mostly stuffed FF 00), so a vectorised search covers most bytes.
                    var found = data[pos..].IndexOf((byte)0xFF);
                    if (found < 0)
                    {
                        pos = data.Length;
                        return Outcome.NeedMore;
                    }

                    pos += found + 1;
                    _state = State.EntropyFF;
                    break;

                case State.EntropyFF:
                    var next = data[pos];
                    if (next == 0x00 || (uint)(next - 0xD0) <= 7)
                    {
                        // Stuffed FF or a restart marker: still entropy-coded data.
                        pos++;
                        _state = State.Entropy;
                    }
                    else if (next == 0xFF)
                    {
                        // Fill byte before a marker (or before a stuffed FF 00).
                        pos++;
                    }
                    else
                    {
                        // A real marker: the code is handled as in a header, so EOI ends the image and DHT, SOS
                        // and friends of a further (progressive) scan are parsed as segments.
                        _state = State.MarkerCode;
                    }

                    break;

                case State.MarkerStart:
                    if (data[pos] != 0xFF)
                    {
                        error = ErrorExpectedMarker;
                        return Outcome.Corrupt;
                    }

                    pos++;
                    _state = State.MarkerCode;
                    break;

                case State.MarkerCode:
                    var code = data[pos++];
                    if (code == 0xFF)
                    {
                        break;
                    }

                    if (code == JpegMarkers.Eoi)
                    {
                        if (!_sawScan)
                        {
                            error = ErrorEoiBeforeScan;
                            return Outcome.Corrupt;
                        }

                        return Outcome.Complete;
                    }

                    if (code == JpegMarkers.Soi)
                    {
                        error = ErrorNewSoi;
                        return Outcome.NewSoi;
                    }

                    if (JpegMarkers.HasNoLength(code))
                    {
                        _state = State.MarkerStart;
                        break;
                    }

                    if (JpegMarkers.IsImpossibleInHeader(code))
                    {
                        error = ErrorImpossibleMarker;
                        return Outcome.Corrupt;
                    }

                    if (code == JpegMarkers.Sos)
                    {
                        if (!_sawFrame)
                        {
                            error = ErrorScanBeforeFrame;
                            return Outcome.Corrupt;
                        }

                        _sawScan = true;
                    }
                    else if (JpegMarkers.IsStartOfFrame(code))
                    {
                        // One frame per image (hierarchical JPEG aside, which no video encoder writes): a second
                        // one is the next image's header, reached by a cut image whose segment ran into it.
                        if (_sawFrame)
                        {
                            error = ErrorSecondFrame;
                            return Outcome.Corrupt;
                        }

                        _sawFrame = true;
                    }

                    _segmentMarker = code;
                    _state = State.LengthHigh;
                    break;

                case State.LengthHigh:
                    _lengthHigh = data[pos++];
                    _state = State.LengthLow;
                    break;

                case State.LengthLow:
                    var length = (_lengthHigh << 8) | data[pos++];
                    if (!JpegMarkers.IsPlausibleLength(_segmentMarker, length))
                    {
                        error = ErrorBadLength;
                        return Outcome.Corrupt;
                    }

                    _segmentRemaining = length - 2;
                    _state = State.SkipSegment;
                    break;

                case State.SkipSegment:
                    var skip = Math.Min(_segmentRemaining, data.Length - pos);
                    pos += skip;
                    _segmentRemaining -= skip;
                    if (_segmentRemaining == 0)
                    {
                        _state = _segmentMarker == JpegMarkers.Sos ? State.Entropy : State.MarkerStart;
                    }

                    break;
            }
        }

        return Outcome.NeedMore;
    }

    private void Deliver<TState>(ReadOnlySpan<byte> tail, TState state, JpegImageHandler<TState> onImage)
    {
        Images++;
        if (_bufferLength == 0)
        {
            onImage(state, tail);
            return;
        }

        Append(tail);
        var length = _bufferLength;
        // Cleared before the call so that an exception from the handler leaves a consistent splitter.
        _bufferLength = 0;
        onImage(state, _buffer.AsSpan(0, length));
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        EnsureCapacity(_bufferLength + bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_bufferLength));
        _bufferLength += bytes.Length;
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _buffer.Length)
        {
            return;
        }

        // Doubling up to the cap: a handful of allocations while the first large images arrive, none after.
        var size = Math.Max(_buffer.Length, Math.Min(InitialBufferSize, _maxImageSize));
        while (size < needed)
        {
            size = (int)Math.Min((long)size * 2, _maxImageSize);
        }

        var grown = GC.AllocateUninitializedArray<byte>(size);
        _buffer.AsSpan(0, _bufferLength).CopyTo(grown);
        _buffer = grown;
    }
}
