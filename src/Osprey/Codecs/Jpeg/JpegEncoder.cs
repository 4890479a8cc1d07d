using Osprey.Media;
using static Osprey.Interop.TurboJpeg;

namespace Osprey.Codecs.Jpeg;

/// <summary>
/// Encodes raw YUYV 4:2:2 and NV12 pictures to JPEG with libjpeg-turbo, straight from YUV planes (no RGB step),
/// into the caller's buffer (no copy of the JPEG), optionally with the probe header in a COM segment.
/// </summary>
/// <remarks>
/// Not thread-safe: one encoder per encoding thread. It owns a TurboJPEG compressor and the plane buffers it
/// splits packed input into, kept and grown only when a larger picture comes, so that encoding a stream of
/// same-sized frames allocates nothing.
/// </remarks>
public sealed class JpegEncoder : IDisposable
{
    /// <summary>Largest width or height a JPEG can have (libjpeg's JPEG_MAX_DIMENSION).</summary>
    public const int MaxDimension = 65500;

    /// <summary>
    /// Where the JPEG goes when a probe prefix is wanted: its SOI then lands on the prefix's last two bytes,
    /// which <see cref="JpegProbe.WritePrefix"/> overwrites afterwards.
    /// </summary>
    private const int ProbedJpegOffset = JpegProbe.PrefixSize - 2;

    private readonly SafeTurboJpegHandle _handle;
    private byte[] _y = [];
    private byte[] _u = [];
    private byte[] _v = [];
    private int _boundWidth;
    private int _boundHeight;
    private int _boundSubsamp = -1;
    private long _bound;

    /// <summary>Creates an encoder for JPEG quality <paramref name="quality"/> (1 to 100).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The quality is outside 1..100.</exception>
    /// <exception cref="DllNotFoundException">libturbojpeg.so.0 is not installed (the message says which package to install).</exception>
    public JpegEncoder(int quality = 80)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        TurboJpegLibrary.EnsureAvailable();
        Quality = quality;
        _handle = tjInitCompress();
        if (_handle.IsInvalid)
        {
            var message = GetErrorString(null);
            _handle.Dispose();
            throw new JpegException($"libjpeg-turbo could not create a compressor: {message}");
        }
    }

    /// <summary>JPEG quality, 1 to 100.</summary>
    public int Quality { get; }

    /// <summary>
    /// Upper bound of the bytes <see cref="EncodeYuyv"/> and <see cref="EncodeNv12"/> write for a
    /// <paramref name="width"/> x <paramref name="height"/> picture, probe prefix included; the destination must
    /// be at least this long.
    /// </summary>
    /// <remarks>
    /// This is libjpeg-turbo's own worst case (<c>tjBufSize</c>, larger than the raw picture: about
    /// width x height x 4 for 4:2:2), not a typical size. It has to be: with TJFLAG_NOREALLOC the library takes
    /// the buffer to be <c>tjBufSize</c> long whatever it is told.
    /// </remarks>
    public static int MaxEncodedSize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, MaxDimension);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, MaxDimension);
        var bound = ProbedJpegOffset + Math.Max(BufSize(width, height, TJSAMP_422), BufSize(width, height, TJSAMP_420));
        if (bound > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"A {width}x{height} picture is too large to encode into one buffer.");
        }

        return (int)bound;
    }

    /// <summary>
    /// Encodes packed YUYV 4:2:2 (bytes Y0 U Y1 V) to a 4:2:2 JPEG in <paramref name="destination"/>. With a
    /// <paramref name="probe"/>, the JPEG starts with the <see cref="JpegProbe"/> prefix (SOI + COM probe).
    /// </summary>
    /// <param name="yuyv">Exactly width x height x 2 bytes.</param>
    /// <param name="width">Width in pixels: even, as YUYV needs.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="probe">
    /// The probe header to carry, or null for a plain JPEG. Its <see cref="ProbeHeader.PayloadSize"/> is replaced
    /// by the JPEG's length (the whole frame, as for raw frames), which only the encoder knows.
    /// </param>
    /// <param name="destination">At least <see cref="MaxEncodedSize"/> bytes.</param>
    /// <returns>Bytes written at the start of <paramref name="destination"/>.</returns>
    /// <exception cref="ArgumentException">A size is wrong: odd width, input of the wrong length, destination too small.</exception>
    /// <exception cref="JpegException">libjpeg-turbo failed (its message is included).</exception>
    public int EncodeYuyv(ReadOnlySpan<byte> yuyv, int width, int height, ProbeHeader? probe, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        ValidateSize(width, height, evenHeight: false, destination);
        var pixels = width * height;
        if (yuyv.Length != (long)pixels * 2)
        {
            throw new ArgumentException(
                $"A {width}x{height} YUYV picture is {(long)pixels * 2} bytes; {yuyv.Length} were given.", nameof(yuyv));
        }

        var chroma = pixels / 2;
        EnsurePlanes(pixels, chroma);
        YuvPlanes.DeinterleaveYuyv(yuyv, _y, _u, _v);
        ExpandPlanes(pixels, chroma);
        return Compress(
            _y.AsSpan(0, pixels), width, _u.AsSpan(0, chroma), _v.AsSpan(0, chroma), width / 2,
            width, height, TJSAMP_422, flags: 0, probe, destination);
    }

    /// <summary>
    /// Encodes NV12 (a Y plane, then interleaved U V at half resolution both ways) to a 4:2:0 JPEG in
    /// <paramref name="destination"/>; the probe works as in <see cref="EncodeYuyv"/>.
    /// </summary>
    /// <param name="nv12">Exactly width x height x 3 / 2 bytes.</param>
    /// <param name="width">Width in pixels: even.</param>
    /// <param name="height">Height in pixels: even.</param>
    /// <param name="probe">The probe header to carry (its payload size becomes the JPEG's length), or null.</param>
    /// <param name="destination">At least <see cref="MaxEncodedSize"/> bytes.</param>
    /// <returns>Bytes written at the start of <paramref name="destination"/>.</returns>
    /// <exception cref="ArgumentException">A size is wrong: odd width or height, input of the wrong length, destination too small.</exception>
    /// <exception cref="JpegException">libjpeg-turbo failed (its message is included).</exception>
    public int EncodeNv12(ReadOnlySpan<byte> nv12, int width, int height, ProbeHeader? probe, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        ValidateSize(width, height, evenHeight: true, destination);
        var pixels = width * height;
        var chroma = pixels / 4;
        if (nv12.Length != (long)pixels + (chroma * 2))
        {
            throw new ArgumentException(
                $"A {width}x{height} NV12 picture is {(long)pixels + (chroma * 2)} bytes; {nv12.Length} were given.", nameof(nv12));
        }

        EnsurePlanes(pixels, chroma);
        YuvPlanes.DeinterleaveUv(nv12[pixels..], _u, _v);
        YuvPlanes.ExpandToFullRange(nv12[..pixels], _y, luma: true);
        YuvPlanes.ExpandToFullRange(_u.AsSpan(0, chroma), _u, luma: false);
        YuvPlanes.ExpandToFullRange(_v.AsSpan(0, chroma), _v, luma: false);
        return Compress(
            _y.AsSpan(0, pixels), width, _u.AsSpan(0, chroma), _v.AsSpan(0, chroma), width / 2,
            width, height, TJSAMP_420, flags: 0, probe, destination);
    }

    /// <summary>Raw frames are BT.601 limited range; JFIF is full range: expand before compressing.</summary>
    private void ExpandPlanes(int pixels, int chroma)
    {
        YuvPlanes.ExpandToFullRange(_y.AsSpan(0, pixels), _y, luma: true);
        YuvPlanes.ExpandToFullRange(_u.AsSpan(0, chroma), _u, luma: false);
        YuvPlanes.ExpandToFullRange(_v.AsSpan(0, chroma), _v, luma: false);
    }

    /// <summary>Destroys the TurboJPEG compressor.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>
    /// Compresses three planes (Y, U, V; U and V empty for greyscale) to a JPEG with subsampling
    /// <paramref name="subsamp"/> (a TJSAMP value) at the start of <paramref name="destination"/>, after the
    /// probe prefix when there is a probe. The planes must cover the picture padded to whole chroma samples
    /// (tjPlaneWidth x tjPlaneHeight). Tests use it for the subsamplings the public methods never produce.
    /// </summary>
    internal unsafe int Compress(
        ReadOnlySpan<byte> y, int yStride, ReadOnlySpan<byte> u, ReadOnlySpan<byte> v, int chromaStride,
        int width, int height, int subsamp, int flags, ProbeHeader? probe, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var offset = probe.HasValue ? ProbedJpegOffset : 0;
        // TJFLAG_NOREALLOC makes libjpeg-turbo assume tjBufSize bytes at the output pointer, whatever size it is
        // given. Ask the library itself (cached per size) rather than trust our copy of its formula, so that a
        // different build can never make it write past the destination.
        var bound = NativeBound(width, height, subsamp);
        if (destination.Length - offset < bound)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} bytes; a {width}x{height} JPEG may need {offset + bound}.",
                nameof(destination));
        }

        int jpegLength;
        fixed (byte* yPlane = y)
        fixed (byte* uPlane = u)
        fixed (byte* vPlane = v)
        fixed (byte* output = destination)
        {
            var planes = stackalloc byte*[3];
            planes[0] = yPlane;
            planes[1] = uPlane;
            planes[2] = vPlane;
            var strides = stackalloc int[3];
            strides[0] = yStride;
            strides[1] = chromaStride;
            strides[2] = chromaStride;
            var jpegBuffer = output + offset;
            var jpegSize = (nuint)(destination.Length - offset);
            var result = tjCompressFromYUVPlanes(
                _handle, planes, width, strides, height, subsamp, &jpegBuffer, &jpegSize, Quality, flags | TJFLAG_NOREALLOC);
            if (result != 0)
            {
                throw new JpegException($"libjpeg-turbo could not encode a {width}x{height} picture: {GetErrorString(_handle)}");
            }

            if (jpegBuffer != output + offset || jpegSize < 4 || jpegSize > (nuint)bound)
            {
                // NOREALLOC promises neither happens; if a library broke that promise, say so rather than
                // return bytes from somewhere else.
                throw new JpegException($"libjpeg-turbo returned a {jpegSize}-byte JPEG outside the destination.");
            }

            jpegLength = (int)jpegSize;
        }

        if (probe is { } header)
        {
            var total = ProbedJpegOffset + jpegLength;
            JpegProbe.WritePrefix(destination, header with { PayloadSize = (uint)total });
            return total;
        }

        return jpegLength;
    }

    /// <summary>Our copy of libjpeg-turbo 2.x's tjBufSize: MCU-padded pixels x (2 + chroma share) + 2048.</summary>
    internal static long BufSize(int width, int height, int subsamp)
    {
        var mcuWidth = tjMCUWidth[subsamp];
        var mcuHeight = tjMCUHeight[subsamp];
        var chromaFactor = subsamp == TJSAMP_GRAY ? 0 : 4 * 64 / (mcuWidth * mcuHeight);
        return (Pad(width, mcuWidth) * Pad(height, mcuHeight) * (2 + chromaFactor)) + 2048;
    }

    private static long Pad(long value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static void ValidateSize(int width, int height, bool evenHeight, Span<byte> destination)
    {
        if (width < 2 || width > MaxDimension || width % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(width), width, $"Width must be even and between 2 and {MaxDimension} (YUYV and NV12 carry one chroma sample per pixel pair).");
        }

        if (height < 1 || height > MaxDimension || (evenHeight && height % 2 != 0))
        {
            throw new ArgumentOutOfRangeException(
                nameof(height), height, evenHeight
                    ? $"Height must be even and between 2 and {MaxDimension} (NV12 carries one chroma row per two rows)."
                    : $"Height must be between 1 and {MaxDimension}.");
        }

        var required = MaxEncodedSize(width, height);
        if (destination.Length < required)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} bytes; a {width}x{height} JPEG needs MaxEncodedSize = {required}.",
                nameof(destination));
        }
    }

    private long NativeBound(int width, int height, int subsamp)
    {
        if (width != _boundWidth || height != _boundHeight || subsamp != _boundSubsamp)
        {
            var bound = tjBufSize(width, height, subsamp);
            if (bound == nuint.MaxValue || bound > (nuint)Array.MaxLength)
            {
                throw new JpegException($"libjpeg-turbo cannot size a {width}x{height} JPEG: {GetErrorString(null)}");
            }

            _bound = (long)bound;
            _boundWidth = width;
            _boundHeight = height;
            _boundSubsamp = subsamp;
        }

        return _bound;
    }

    private void EnsurePlanes(int lumaBytes, int chromaBytes)
    {
        // Pinned (POH): libjpeg-turbo reads them for milliseconds under `fixed`, and POH objects never stand in
        // the way of a compacting GC meanwhile.
        if (_y.Length < lumaBytes)
        {
            _y = GC.AllocateUninitializedArray<byte>(lumaBytes, pinned: true);
        }

        if (_u.Length < chromaBytes)
        {
            _u = GC.AllocateUninitializedArray<byte>(chromaBytes, pinned: true);
            _v = GC.AllocateUninitializedArray<byte>(chromaBytes, pinned: true);
        }
    }
}
