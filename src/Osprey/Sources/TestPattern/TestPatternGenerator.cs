using Osprey.Media;

namespace Osprey.Sources.TestPattern;

/// <summary>
/// Draws the YUYV 4:2:2 test pattern: eight 75% colour bars scrolling across the top three quarters with a
/// bright block bouncing over them, and the same bars standing still across the bottom quarter, so that a
/// viewer sees motion and a test can check colours at fixed places.
/// </summary>
/// <remarks>
/// Every byte of the frame is written on every call (frames come from a pool and hold old pictures), by
/// copying prepared rows: about one memcpy of the frame per frame.
/// </remarks>
public sealed class TestPatternGenerator
{
    /// <summary>BT.601 limited-range Y, Cb, Cr of the 75% bars: white, yellow, cyan, green, magenta, red, blue, black.</summary>
    public static ReadOnlySpan<byte> BarsYCbCr =>
    [
        180, 128, 128,
        162, 44, 142,
        131, 156, 44,
        112, 72, 58,
        84, 184, 198,
        65, 100, 212,
        35, 212, 114,
        16, 128, 128,
    ];

    /// <summary>The bars' colours in RGB, as a correct BT.601 conversion shows them.</summary>
    public static ReadOnlySpan<byte> BarsRgb =>
    [
        191, 191, 191,
        191, 191, 0,
        0, 191, 191,
        0, 191, 0,
        191, 0, 191,
        191, 0, 0,
        0, 0, 191,
        0, 0, 0,
    ];

    /// <summary>Pixels the bars scroll per frame (even, so that Y0 U Y1 V pairs stay aligned).</summary>
    public const int ScrollPixelsPerFrame = 4;

    private const byte BlockY = 235;
    private const byte BlockChroma = 128;

    private readonly byte[] _scrollingRow; // two periods of bars, so that any offset is one contiguous copy
    private readonly byte[] _staticRow;
    private readonly byte[] _blockRow;
    private readonly int _blockSize;
    private int _blockX;
    private int _blockY;
    private int _blockDx = 6;
    private int _blockDy = 4;

    /// <summary>Prepares a pattern of <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public TestPatternGenerator(int width, int height)
    {
        if (width < 16 || height < 8 || width % 2 != 0)
        {
            throw new ArgumentException($"Test pattern size {width}x{height} is not usable: width must be even and at least 16, height at least 8.");
        }

        if (width > 8192 || height > 8192)
        {
            throw new ArgumentException($"Test pattern size {width}x{height} is too large (8192x8192 at most).");
        }

        Width = width;
        Height = height;
        FrameSize = width * height * 2;
        _staticRow = new byte[width * 2];
        DrawBars(_staticRow, width);
        _scrollingRow = new byte[width * 4];
        _staticRow.CopyTo(_scrollingRow, 0);
        _staticRow.CopyTo(_scrollingRow, width * 2);
        _blockSize = Math.Max(2, Math.Min(width, height) / 8) & ~1;
        _blockRow = new byte[_blockSize * 2];
        for (var i = 0; i < _blockRow.Length; i += 4)
        {
            _blockRow[i] = BlockY;
            _blockRow[i + 1] = BlockChroma;
            _blockRow[i + 2] = BlockY;
            _blockRow[i + 3] = BlockChroma;
        }
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Bytes per frame: width x height x 2.</summary>
    public int FrameSize { get; }

    /// <summary>First row of the static bars.</summary>
    public int StaticBarsTop => Height - (Height / 4);

    /// <summary>Draws frame number <paramref name="counter"/> (from 1) into <paramref name="frame"/>, probe header included.</summary>
    public void Draw(Span<byte> frame, uint counter, long captureTimeMicros)
    {
        if (frame.Length != FrameSize)
        {
            throw new ArgumentException($"Frame must be {FrameSize} bytes.", nameof(frame));
        }

        var rowBytes = Width * 2;
        var scrolled = (int)((counter * ScrollPixelsPerFrame) % (uint)Width) & ~1;
        var scrollingSource = _scrollingRow.AsSpan(scrolled * 2, rowBytes);
        var staticTop = StaticBarsTop;
        for (var y = 0; y < staticTop; y++)
        {
            scrollingSource.CopyTo(frame.Slice(y * rowBytes, rowBytes));
        }

        for (var y = staticTop; y < Height; y++)
        {
            _staticRow.CopyTo(frame.Slice(y * rowBytes, rowBytes));
        }

        MoveBlock(staticTop);
        for (var y = _blockY; y < _blockY + _blockSize; y++)
        {
            _blockRow.CopyTo(frame.Slice((y * rowBytes) + (_blockX * 2), _blockRow.Length));
        }

        new ProbeHeader(counter, captureTimeMicros, (ushort)Width, (ushort)Height, (uint)FrameSize).WriteTo(frame);
    }

    private void MoveBlock(int areaHeight)
    {
        var maxX = Width - _blockSize;
        var maxY = Math.Max(0, areaHeight - _blockSize);
        _blockX += _blockDx;
        _blockY += _blockDy;
        if (_blockX < 0 || _blockX > maxX)
        {
            _blockDx = -_blockDx;
            _blockX = Math.Clamp(_blockX, 0, maxX);
        }

        if (_blockY < 0 || _blockY > maxY)
        {
            _blockDy = -_blockDy;
            _blockY = Math.Clamp(_blockY, 0, maxY);
        }

        _blockX &= ~1;
    }

    private static void DrawBars(Span<byte> row, int width)
    {
        var colours = BarsYCbCr;
        for (var x = 0; x < width; x += 2)
        {
            var bar = Math.Min(7, x * 8 / width);
            var o = x * 2;
            row[o] = colours[bar * 3];
            row[o + 1] = colours[(bar * 3) + 1];
            row[o + 2] = colours[bar * 3];
            row[o + 3] = colours[(bar * 3) + 2];
        }
    }
}
