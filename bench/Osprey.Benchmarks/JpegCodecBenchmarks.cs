using BenchmarkDotNet.Attributes;
using Osprey.Codecs.Jpeg;
using Osprey.Media;
using Osprey.Sources.TestPattern;

namespace Osprey.Benchmarks;

/// <summary>
/// One JPEG encode of the YUYV test pattern (quality 80, 4:2:2, with the probe prefix) at three sizes, one NV12
/// encode, and one decode back to YUYV, each on one thread; steady state allocates nothing.
/// </summary>
[MemoryDiagnoser]
public class JpegCodecBenchmarks
{
    private readonly Picture _vga = new(640, 480);
    private readonly Picture _hd = new(1280, 720);
    private readonly Picture _fullHd = new(1920, 1080);
    private JpegEncoder _encoder = null!;
    private JpegDecoder _decoder = null!;
    private byte[] _nv12 = null!;
    private byte[] _vgaJpeg = null!;
    private byte[] _decoded = null!;
    private uint _counter;

    [GlobalSetup]
    public void Setup()
    {
        _encoder = new JpegEncoder(80);
        _decoder = new JpegDecoder();
        _nv12 = GC.AllocateUninitializedArray<byte>(640 * 480 * 3 / 2, pinned: true);
        // NV12 of the same picture: its Y plane, and each 2x2 block's chroma from the block's top pair.
        var yuyv = _vga.Yuyv;
        for (var i = 0; i < 640 * 480; i++)
        {
            _nv12[i] = yuyv[i * 2];
        }

        for (var row = 0; row < 240; row++)
        {
            for (var pair = 0; pair < 320; pair++)
            {
                var source = (row * 2 * 640 * 2) + (pair * 4);
                _nv12[(640 * 480) + (row * 640) + (pair * 2)] = yuyv[source + 1];
                _nv12[(640 * 480) + (row * 640) + (pair * 2) + 1] = yuyv[source + 3];
            }
        }

        var length = _encoder.EncodeYuyv(_vga.Yuyv, 640, 480, null, _vga.Jpeg);
        _vgaJpeg = _vga.Jpeg[..length];
        _decoded = GC.AllocateUninitializedArray<byte>(640 * 480 * 2, pinned: true);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _encoder.Dispose();
        _decoder.Dispose();
    }

    [Benchmark]
    public int EncodeYuyv640x480() => Encode(_vga);

    [Benchmark]
    public int EncodeYuyv1280x720() => Encode(_hd);

    [Benchmark]
    public int EncodeYuyv1920x1080() => Encode(_fullHd);

    [Benchmark]
    public int EncodeNv12640x480() =>
        _encoder.EncodeNv12(_nv12, 640, 480, new ProbeHeader(++_counter, 0, 640, 480, 0), _vga.Jpeg);

    [Benchmark]
    public int DecodeToYuyv640x480() => _decoder.TryDecodeToYuyv(_vgaJpeg, _decoded, out var width, out _, out _) ? width : 0;

    private int Encode(Picture picture) =>
        _encoder.EncodeYuyv(
            picture.Yuyv, picture.Width, picture.Height,
            new ProbeHeader(++_counter, 0, (ushort)picture.Width, (ushort)picture.Height, 0), picture.Jpeg);

    /// <summary>A test-pattern frame and a destination of <see cref="JpegEncoder.MaxEncodedSize"/>, pinned like pooled frames.</summary>
    private sealed class Picture
    {
        public Picture(int width, int height)
        {
            Width = width;
            Height = height;
            var generator = new TestPatternGenerator(width, height);
            Yuyv = GC.AllocateUninitializedArray<byte>(generator.FrameSize, pinned: true);
            generator.Draw(Yuyv, 7, 0);
            Jpeg = GC.AllocateUninitializedArray<byte>(JpegEncoder.MaxEncodedSize(width, height), pinned: true);
        }

        public int Width { get; }

        public int Height { get; }

        public byte[] Yuyv { get; }

        public byte[] Jpeg { get; }
    }
}
