using static Osprey.Interop.TurboJpeg;

namespace Osprey.Codecs.Jpeg;

/// <summary>
/// Decodes baseline and progressive JPEGs (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, greyscale) to packed YUYV 4:2:2
/// with libjpeg-turbo, from its YUV planes (no RGB step), resampling chroma to 4:2:2 as needed.
/// </summary>
/// <remarks>
/// <para>
/// YUYV carries one chroma sample per pixel pair, so an odd-width JPEG decodes to the next even width, its last
/// column repeated. Pictures wider or taller than <see cref="MaxDimension"/> are refused from their header,
/// before anything is allocated for them. Within the limit, memory follows the claimed size: YUV planes of
/// up to 3 bytes per pixel here, and for a progressive JPEG libjpeg-turbo's whole-picture coefficient buffer
/// (up to 6 bytes per pixel), so a decoder for a known camera is best given a tight limit.
/// </para>
/// <para>
/// Bad data is an outcome, not an exception: corrupt, truncated or hostile input makes the Try methods return
/// false with a message. Only programming errors throw (a destination too small for the size the header
/// announced). Not thread-safe: one decoder per decoding thread; it keeps its plane buffers between calls.
/// </para>
/// </remarks>
public sealed class JpegDecoder : IDisposable
{
    /// <summary>The default for <see cref="MaxDimension"/>.</summary>
    public const int DefaultMaxDimension = 8192;

    private const byte NeutralChroma = 128;

    private SafeTurboJpegHandle _handle;
    private byte[] _y = [];
    private byte[] _u = [];
    private byte[] _v = [];
    private byte[] _rowU = [];
    private byte[] _rowV = [];
    private byte[] _blendU = [];
    private byte[] _blendV = [];

    /// <summary>Creates a decoder that accepts pictures up to <paramref name="maxDimension"/> pixels wide and high.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDimension"/> is below 1 or above 65500 (JPEG's own limit).</exception>
    /// <exception cref="DllNotFoundException">libturbojpeg.so.0 is not installed (the message says which package to install).</exception>
    public JpegDecoder(int maxDimension = DefaultMaxDimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDimension, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDimension, JpegEncoder.MaxDimension);
        TurboJpegLibrary.EnsureAvailable();
        MaxDimension = maxDimension;
        _handle = CreateDecompressor();
    }

    /// <summary>Largest width or height accepted: a bound on the memory one hostile header can make us use.</summary>
    public int MaxDimension { get; }

    /// <summary>
    /// The size a JPEG decodes to, from its header: <paramref name="width"/> rounded up to even,
    /// <paramref name="height"/>, and the bytes of YUYV (width x height x 2). False for input that is not a
    /// JPEG this decoder can decode (including one larger than <see cref="MaxDimension"/>).
    /// </summary>
    public bool TryGetYuyvSize(ReadOnlySpan<byte> jpeg, out int width, out int height, out int yuyvBytes)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var ok = TryReadHeader(jpeg, out var header, out _);
        width = ok ? header.Width : 0;
        height = ok ? header.Height : 0;
        yuyvBytes = ok ? header.YuyvBytes : 0;
        return ok;
    }

    /// <summary>
    /// Decodes <paramref name="jpeg"/> to packed YUYV (Y0 U Y1 V) at the start of <paramref name="yuyv"/>.
    /// </summary>
    /// <param name="jpeg">The JPEG; a probe prefix (COM segment) is fine.</param>
    /// <param name="yuyv">At least the size <see cref="TryGetYuyvSize"/> gives.</param>
    /// <param name="width">The picture's width, rounded up to even.</param>
    /// <param name="height">The picture's height.</param>
    /// <param name="error">
    /// Why decoding failed; or, on success, libjpeg-turbo's warning when it recovered from damaged data (a
    /// truncated JPEG comes out with its missing part grey); null for a clean decode.
    /// </param>
    /// <returns>False for input that cannot be decoded, with <paramref name="error"/> saying why.</returns>
    /// <exception cref="ArgumentException"><paramref name="yuyv"/> is smaller than the picture the header announces.</exception>
    public unsafe bool TryDecodeToYuyv(ReadOnlySpan<byte> jpeg, Span<byte> yuyv, out int width, out int height, out string? error)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        width = 0;
        height = 0;
        if (!TryReadHeader(jpeg, out var header, out error))
        {
            return false;
        }

        if (yuyv.Length < header.YuyvBytes)
        {
            throw new ArgumentException(
                $"The destination holds {yuyv.Length} bytes; this {header.Width}x{header.Height} JPEG decodes to " +
                $"{header.YuyvBytes} bytes of YUYV (size it with TryGetYuyvSize).", nameof(yuyv));
        }

        // The planes as libjpeg-turbo writes them (tjPlaneWidth/tjPlaneHeight): the picture padded to whole
        // chroma samples. The Y stride is also even, so an odd width has room for its repeated last column.
        var hFactor = tjMCUWidth[header.Subsamp] / 8;
        var vFactor = tjMCUHeight[header.Subsamp] / 8;
        var lumaWidth = Pad(header.JpegWidth, hFactor);
        var lumaHeight = Pad(header.JpegHeight, vFactor);
        var yStride = Pad(lumaWidth, 2);
        var gray = header.Subsamp == TJSAMP_GRAY;
        var chromaWidth = gray ? 0 : lumaWidth / hFactor;
        var chromaHeight = gray ? 0 : lumaHeight / vFactor;
        EnsureBuffers(yStride * lumaHeight, chromaWidth * chromaHeight, header.Width / 2, chromaWidth);

        int result;
        fixed (byte* source = jpeg)
        fixed (byte* yPlane = _y)
        fixed (byte* uPlane = _u)
        fixed (byte* vPlane = _v)
        {
            var planes = stackalloc byte*[3];
            planes[0] = yPlane;
            planes[1] = gray ? null : uPlane;
            planes[2] = gray ? null : vPlane;
            var strides = stackalloc int[3];
            strides[0] = yStride;
            strides[1] = chromaWidth;
            strides[2] = chromaWidth;
            // LIMITSCANS: refuse progressive JPEGs with more than 500 scans, which cost CPU without bound.
            result = tjDecompressToYUVPlanes(_handle, source, (nuint)jpeg.Length, planes, 0, strides, 0, TJFLAG_LIMITSCANS);
        }

        if (result != 0)
        {
            var message = GetErrorString(_handle);
            if (!IsRecoveredWarning(message))
            {
                error = $"JPEG could not be decoded: {message}";
                return false;
            }

            // libjpeg-turbo went on past damaged data and filled in what was missing: the picture is whole.
            error = $"JPEG decoded with a warning: {message}";
        }

        Pack(header, yStride, chromaWidth, chromaHeight, yuyv);
        width = header.Width;
        height = header.Height;
        return true;
    }

    /// <summary>Destroys the TurboJPEG decompressor.</summary>
    public void Dispose() => _handle.Dispose();

    private static SafeTurboJpegHandle CreateDecompressor()
    {
        var handle = tjInitDecompress();
        if (handle.IsInvalid)
        {
            var message = GetErrorString(null);
            handle.Dispose();
            throw new JpegException($"libjpeg-turbo could not create a decompressor: {message}");
        }

        return handle;
    }

    private void ReplaceDecompressor()
    {
        var fresh = CreateDecompressor();
        _handle.Dispose();
        _handle = fresh;
    }

    private static int Pad(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private unsafe bool TryReadHeader(ReadOnlySpan<byte> jpeg, out Header header, out string? error)
    {
        header = default;
        if (jpeg.Length < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        {
            error = jpeg.IsEmpty ? "The input is empty." : "The input is not a JPEG (no SOI marker at its start).";
            return false;
        }

        int width = 0, height = 0, subsamp = -1, colorspace = -1;
        int result;
        fixed (byte* source = jpeg)
        {
            result = tjDecompressHeader3(_handle, source, (nuint)jpeg.Length, &width, &height, &subsamp, &colorspace);
        }

        // A warning (-1 with only warnings met) still fills the outputs, so it is not a failure here.
        if (result != 0)
        {
            var message = GetErrorString(_handle);
            if (!IsRecoveredWarning(message))
            {
                error = $"The JPEG header could not be read: {message}";
                // libjpeg-turbo 2.x returns from a failed tjDecompressHeader3 without aborting the decompressor:
                // it stays mid-header and every later call fails with the same error. A fresh one is the way out.
                ReplaceDecompressor();
                return false;
            }
        }

        if (width < 1 || height < 1)
        {
            // jpeg_read_header(require_image: FALSE) met the end of the data before a frame header.
            error = "The JPEG ends before its frame header (it is truncated, or holds tables only).";
            return false;
        }

        if (width > MaxDimension || height > MaxDimension)
        {
            error = $"The JPEG claims {width}x{height} pixels, more than the {MaxDimension}x{MaxDimension} this decoder accepts.";
            return false;
        }

        if (subsamp is < 0 or >= TJ_NUMSAMP)
        {
            error = "The JPEG's chroma subsampling is not one libjpeg-turbo can decode to planes.";
            return false;
        }

        if (colorspace != TJCS_YCbCr && colorspace != TJCS_GRAY)
        {
            // RGB, CMYK and YCCK JPEGs exist (Adobe tools) but never come from cameras; their planes are not YUV.
            error = $"The JPEG's colour space ({ColorspaceName(colorspace)}) is not supported: only YCbCr and greyscale are.";
            return false;
        }

        var evenWidth = Pad(width, 2);
        header = new Header(width, height, subsamp, evenWidth, evenWidth * height * 2);
        error = null;
        return true;
    }

    /// <summary>
    /// Whether a failed call (-1) only met warnings, so its output is whole. tjGetErrorCode alone cannot say:
    /// libjpeg-turbo 2.x reports TJERR_WARNING for a fatal error too once a warning came before it (it keeps a
    /// sticky flag), and then the picture stopped part-way. The message can: libjpeg prints only the first
    /// warning but every fatal error, so the last message is the fatal one when there was one. libjpeg's
    /// warnings (JWRN_* in jerror.h) all start with one of these; anything else is taken as fatal.
    /// </summary>
    private bool IsRecoveredWarning(string message) =>
        tjGetErrorCode(_handle) == TJERR_WARNING &&
        (message.StartsWith("Corrupt JPEG data", StringComparison.Ordinal) ||
         message.StartsWith("Premature end of JPEG file", StringComparison.Ordinal) ||
         message.StartsWith("Warning:", StringComparison.Ordinal) ||
         message.StartsWith("Inconsistent progression sequence", StringComparison.Ordinal) ||
         message.StartsWith("Invalid SOS parameters for sequential JPEG", StringComparison.Ordinal) ||
         message.StartsWith("Unknown Adobe color transform code", StringComparison.Ordinal));

    private static string ColorspaceName(int colorspace) => colorspace switch
    {
        TJCS_RGB => "RGB",
        TJCS_CMYK => "CMYK",
        TJCS_YCCK => "YCCK",
        _ => "unknown",
    };

    private void Pack(in Header header, int yStride, int chromaWidth, int chromaHeight, Span<byte> yuyv)
    {
        var width = header.Width;
        var pairs = width / 2;
        var rowBytes = width * 2;
        var subsamp = header.Subsamp;
        if (subsamp == TJSAMP_GRAY)
        {
            _rowU.AsSpan(0, pairs).Fill(NeutralChroma);
        }

        // JFIF samples are full range; raw frames are BT.601 limited range (as cameras deliver YUYV).
        YuvPlanes.CompressToLimitedRange(_y.AsSpan(0, yStride * header.Height), luma: true);
        if (subsamp != TJSAMP_GRAY)
        {
            YuvPlanes.CompressToLimitedRange(_u.AsSpan(0, chromaWidth * chromaHeight), luma: false);
            YuvPlanes.CompressToLimitedRange(_v.AsSpan(0, chromaWidth * chromaHeight), luma: false);
        }

        for (var row = 0; row < header.Height; row++)
        {
            var yRow = _y.AsSpan(row * yStride, width);
            if (header.JpegWidth < width && (subsamp == TJSAMP_444 || subsamp == TJSAMP_440 || subsamp == TJSAMP_GRAY))
            {
                // Odd width, and no chroma padding made libjpeg-turbo write the extra column: repeat the last.
                yRow[width - 1] = yRow[width - 2];
            }

            ReadOnlySpan<byte> uRow;
            ReadOnlySpan<byte> vRow;
            switch (subsamp)
            {
                case TJSAMP_422:
                    uRow = _u.AsSpan(row * chromaWidth, pairs);
                    vRow = _v.AsSpan(row * chromaWidth, pairs);
                    break;
                case TJSAMP_420:
                    BlendChromaRows(row, chromaWidth, chromaHeight, _rowU, _rowV, pairs);
                    uRow = _rowU.AsSpan(0, pairs);
                    vRow = _rowV.AsSpan(0, pairs);
                    break;
                case TJSAMP_444:
                    YuvPlanes.HalveRow(_u.AsSpan(row * chromaWidth, chromaWidth), _rowU.AsSpan(0, pairs));
                    YuvPlanes.HalveRow(_v.AsSpan(row * chromaWidth, chromaWidth), _rowV.AsSpan(0, pairs));
                    uRow = _rowU.AsSpan(0, pairs);
                    vRow = _rowV.AsSpan(0, pairs);
                    break;
                case TJSAMP_440:
                    BlendChromaRows(row, chromaWidth, chromaHeight, _blendU, _blendV, chromaWidth);
                    YuvPlanes.HalveRow(_blendU.AsSpan(0, chromaWidth), _rowU.AsSpan(0, pairs));
                    YuvPlanes.HalveRow(_blendV.AsSpan(0, chromaWidth), _rowV.AsSpan(0, pairs));
                    uRow = _rowU.AsSpan(0, pairs);
                    vRow = _rowV.AsSpan(0, pairs);
                    break;
                case TJSAMP_411:
                    YuvPlanes.DoubleRow(_u.AsSpan(row * chromaWidth, chromaWidth), _rowU.AsSpan(0, pairs));
                    YuvPlanes.DoubleRow(_v.AsSpan(row * chromaWidth, chromaWidth), _rowV.AsSpan(0, pairs));
                    uRow = _rowU.AsSpan(0, pairs);
                    vRow = _rowV.AsSpan(0, pairs);
                    break;
                default: // TJSAMP_GRAY
                    uRow = _rowU.AsSpan(0, pairs);
                    vRow = uRow;
                    break;
            }

            YuvPlanes.PackYuyvRow(yRow, uRow, vRow, yuyv.Slice(row * rowBytes, rowBytes));
        }
    }

    /// <summary>Output row <paramref name="row"/> of chroma subsampled 2x vertically: its nearer and farther chroma rows, blended.</summary>
    private void BlendChromaRows(int row, int chromaWidth, int chromaHeight, byte[] uOut, byte[] vOut, int count)
    {
        var near = row >> 1;
        var far = (row & 1) == 0 ? Math.Max(near - 1, 0) : Math.Min(near + 1, chromaHeight - 1);
        YuvPlanes.BlendRows(_u.AsSpan(near * chromaWidth, count), _u.AsSpan(far * chromaWidth, count), uOut.AsSpan(0, count));
        YuvPlanes.BlendRows(_v.AsSpan(near * chromaWidth, count), _v.AsSpan(far * chromaWidth, count), vOut.AsSpan(0, count));
    }

    private void EnsureBuffers(int lumaBytes, int chromaBytes, int pairs, int chromaWidth)
    {
        // Pinned (POH): libjpeg-turbo writes them for milliseconds under `fixed`, and POH objects never stand in
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

        if (_rowU.Length < pairs)
        {
            _rowU = new byte[pairs];
            _rowV = new byte[pairs];
        }

        if (_blendU.Length < chromaWidth)
        {
            _blendU = new byte[chromaWidth];
            _blendV = new byte[chromaWidth];
        }
    }

    /// <summary>What the header says: the JPEG's own size and subsampling, and the YUYV it decodes to.</summary>
    private readonly record struct Header(int JpegWidth, int JpegHeight, int Subsamp, int Width, int YuyvBytes)
    {
        public int Height => JpegHeight;
    }
}
