using System.Buffers.Binary;
using Osprey.Codecs.Jpeg;
using Osprey.Media;
using Osprey.Sources.TestPattern;
using static Osprey.Interop.TurboJpeg;

namespace Osprey.Tests.Codecs.Jpeg;

public class JpegCodecTests
{
    private const int Tolerance = 6;

    [Fact]
    public void TurboJpegLibrary_IsAvailableHere()
    {
        Assert.True(TurboJpegLibrary.IsAvailable(out var error), error);
        Assert.Null(error);
        Assert.Equal("libturbojpeg0", TurboJpegLibrary.DebianPackage);
    }

    [Fact]
    public void TheTestPatternWithAProbe_EncodesToAJpegThatStartsWithTheProbe_EndsWithEoi_AndDecodesBackToTheBars()
    {
        var generator = new TestPatternGenerator(640, 480);
        var frame = new byte[generator.FrameSize];
        generator.Draw(frame, 7, 1_234_567);
        var probe = new ProbeHeader(7, 1_234_567, 640, 480, 0);
        using var encoder = new JpegEncoder(80);
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(640, 480)];

        var length = encoder.EncodeYuyv(frame, 640, 480, probe, jpeg);

        Assert.True(length > JpegProbe.PrefixSize && length < frame.Length / 4, $"length {length}");
        Assert.True(JpegProbe.TryRead(jpeg, out var read));
        // The payload size is the only field the encoder fills in: the JPEG's length, as raw frames carry theirs.
        Assert.Equal(probe with { PayloadSize = (uint)length }, read);
        Assert.Equal(new byte[] { 0xFF, 0xD9 }, jpeg[(length - 2)..length]);

        using var decoder = new JpegDecoder();
        Assert.True(decoder.TryGetYuyvSize(jpeg.AsSpan(0, length), out var w, out var h, out var bytes));
        Assert.Equal((640, 480, frame.Length), (w, h, bytes));
        var decoded = new byte[bytes];
        Assert.True(decoder.TryDecodeToYuyv(jpeg.AsSpan(0, length), decoded, out w, out h, out var error), error);
        Assert.Null(error);
        Assert.Equal((640, 480), (w, h));
        foreach (var row in new[] { generator.StaticBarsTop + 8, 420, 470 })
        {
            for (var bar = 0; bar < 8; bar++)
            {
                var x = ((bar * 640 / 8) + (640 / 16)) & ~1;
                var o = (row * 640 * 2) + (x * 2);
                var expected = TestPatternGenerator.BarsYCbCr.Slice(bar * 3, 3);
                AssertNear(frame[o], expected[0], "source Y");
                AssertNear(expected[0], decoded[o], $"Y of bar {bar} at row {row}");
                AssertNear(expected[0], decoded[o + 2], $"Y1 of bar {bar} at row {row}");
                AssertNear(expected[1], decoded[o + 1], $"Cb of bar {bar} at row {row}");
                AssertNear(expected[2], decoded[o + 3], $"Cr of bar {bar} at row {row}");
            }
        }
    }

    [Fact]
    public void WithoutAProbe_TheJpegStartsWithSoiAndJfif()
    {
        var (frame, _) = TestPattern(320, 240);
        using var encoder = new JpegEncoder();
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(320, 240)];
        var length = encoder.EncodeYuyv(frame, 320, 240, probe: null, jpeg);
        Assert.Equal(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }, jpeg[..4]);
        Assert.False(JpegProbe.TryRead(jpeg.AsSpan(0, length), out _));
        Assert.Equal(new byte[] { 0xFF, 0xD9 }, jpeg[(length - 2)..length]);
    }

    [Fact]
    public void Quality_ChangesTheSize()
    {
        var (frame, _) = TestPattern(640, 480);
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(640, 480)];
        using var low = new JpegEncoder(30);
        using var high = new JpegEncoder(95);
        Assert.Equal(30, low.Quality);
        var lowLength = low.EncodeYuyv(frame, 640, 480, null, jpeg);
        var highLength = high.EncodeYuyv(frame, 640, 480, null, jpeg);
        Assert.True(lowLength < highLength, $"q30 {lowLength} bytes, q95 {highLength} bytes");
    }

    [Fact]
    public void Nv12_EncodesTo420_AndDecodesWithTheRightSizeAndColours()
    {
        const int width = 320, height = 240;
        var nv12 = new byte[width * height * 3 / 2];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                nv12[(y * width) + x] = Quadrant(x, y, width, height).Y;
            }
        }

        for (var cy = 0; cy < height / 2; cy++)
        {
            for (var cx = 0; cx < width / 2; cx++)
            {
                var (_, u, v) = Quadrant(cx * 2, cy * 2, width, height);
                nv12[(width * height) + (cy * width) + (cx * 2)] = u;
                nv12[(width * height) + (cy * width) + (cx * 2) + 1] = v;
            }
        }

        using var encoder = new JpegEncoder(85);
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(width, height)];
        var length = encoder.EncodeNv12(nv12, width, height, new ProbeHeader(3, 4, width, height, 0), jpeg);
        Assert.True(JpegProbe.TryRead(jpeg, out var probe));
        Assert.Equal((uint)length, probe.PayloadSize);

        using var decoder = new JpegDecoder();
        var decoded = new byte[width * height * 2];
        Assert.True(decoder.TryDecodeToYuyv(jpeg.AsSpan(0, length), decoded, out var w, out var h, out var error), error);
        Assert.Equal((width, height), (w, h));
        AssertQuadrantCentres(decoded, width, height, gray: false);
    }

    [Fact]
    public void RangeConversion_MapsBt601LimitedToFullRangeAndBack()
    {
        byte[] limited = [0, 16, 126, 235, 255];
        var full = new byte[limited.Length];
        YuvPlanes.ExpandToFullRange(limited, full, luma: true);
        Assert.Equal(new byte[] { 0, 0, 128, 255, 255 }, full); // below 16 and above 235 are clamped
        YuvPlanes.CompressToLimitedRange(full, luma: true);
        Assert.Equal(new byte[] { 16, 16, 126, 235, 235 }, full);

        byte[] chroma = [16, 128, 240];
        var expanded = new byte[3];
        YuvPlanes.ExpandToFullRange(chroma, expanded, luma: false);
        Assert.Equal(new byte[] { 1, 128, 255 }, expanded);
        YuvPlanes.CompressToLimitedRange(expanded, luma: false);
        Assert.Equal(new byte[] { 16, 128, 240 }, expanded);

        // The vector path (16 at a time) agrees with the scalar one.
        var ramp = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var vectored = new byte[256];
        YuvPlanes.ExpandToFullRange(ramp, vectored, luma: false);
        for (var i = 250; i < 256; i++)
        {
            var single = new byte[1];
            YuvPlanes.ExpandToFullRange(ramp.AsSpan(i, 1), single, luma: false);
            Assert.Equal(single[0], vectored[i]);
        }
    }

    [Theory]
    [InlineData(TJSAMP_444, 0)]
    [InlineData(TJSAMP_422, 0)]
    [InlineData(TJSAMP_420, 0)]
    [InlineData(TJSAMP_440, 0)]
    [InlineData(TJSAMP_411, 0)]
    [InlineData(TJSAMP_GRAY, 0)]
    [InlineData(TJSAMP_420, TJFLAG_PROGRESSIVE)]
    [InlineData(TJSAMP_444, TJFLAG_PROGRESSIVE)]
    public void EverySubsampling_BaselineOrProgressive_DecodesToYuyvWithItsColours(int subsamp, int flags)
    {
        const int width = 128, height = 96;
        var jpeg = EncodePlanar(width, height, subsamp, flags);
        using var decoder = new JpegDecoder();
        Assert.True(decoder.TryGetYuyvSize(jpeg, out var w, out var h, out var bytes));
        Assert.Equal((width, height, width * height * 2), (w, h, bytes));
        var decoded = new byte[bytes];
        Assert.True(decoder.TryDecodeToYuyv(jpeg, decoded, out w, out h, out var error), error);
        Assert.Null(error);
        AssertQuadrantCentres(decoded, width, height, gray: subsamp == TJSAMP_GRAY);
    }

    [Theory]
    [InlineData(TJSAMP_444)]
    [InlineData(TJSAMP_422)]
    [InlineData(TJSAMP_420)]
    [InlineData(TJSAMP_GRAY)]
    public void AnOddWidthJpeg_DecodesToTheNextEvenWidth_WithItsLastColumnRepeated(int subsamp)
    {
        const int width = 63, height = 33;
        var jpeg = EncodePlanar(width, height, subsamp, flags: 0);
        using var decoder = new JpegDecoder();
        Assert.True(decoder.TryGetYuyvSize(jpeg, out var w, out var h, out var bytes));
        Assert.Equal((64, 33, 64 * 33 * 2), (w, h, bytes));
        var decoded = new byte[bytes];
        Assert.True(decoder.TryDecodeToYuyv(jpeg, decoded, out w, out h, out var error), error);
        Assert.Equal((64, 33), (w, h));
        for (var row = 0; row < height; row++)
        {
            var last = (row * 64 * 2) + (63 * 2);
            AssertNear(decoded[last - 2], decoded[last], $"repeated last column, row {row}");
        }

        AssertQuadrantCentres(decoded, 64, height, gray: subsamp == TJSAMP_GRAY, sourceWidth: width);
    }

    [Fact]
    public void DecodingIntoAYuyvBuffer_LargerThanNeeded_WritesOnlyThePicture()
    {
        var jpeg = EncodePlanar(64, 32, TJSAMP_422, 0);
        using var decoder = new JpegDecoder();
        var decoded = new byte[(64 * 32 * 2) + 16];
        decoded.AsSpan(64 * 32 * 2).Fill(0xAB);
        Assert.True(decoder.TryDecodeToYuyv(jpeg, decoded, out _, out _, out _));
        Assert.All(decoded[(64 * 32 * 2)..], b => Assert.Equal(0xAB, b));
    }

    public static TheoryData<string> CorruptInputs => ["random 1 KB", "random 10 MB", "SOI then random 10 MB", "truncated at 10",
        "truncated at 100", "truncated at half", "truncated at length-2", "bytes flipped in the middle", "empty", "SOI only",
        "SOS removed"];

    [Theory]
    [MemberData(nameof(CorruptInputs))]
    public void CorruptInput_NeverThrows_AndFailsWithAnError_OrRecoversWithAWarning(string kind)
    {
        var jpeg = Corrupt(kind, out var expected);
        using var decoder = new JpegDecoder();

        var (ok, error) = DecodeAnyway(decoder, jpeg);

        if (expected == Outcome.Fails)
        {
            Assert.False(ok, $"{kind}: decoded");
        }
        else if (expected == Outcome.Recovers)
        {
            Assert.True(ok, $"{kind}: {error}");
            Assert.StartsWith("JPEG decoded with a warning", error, StringComparison.Ordinal);
        }

        // The decoder is still usable afterwards (a failed header read must not leave it stuck).
        var good = EncodePlanar(64, 32, TJSAMP_420, 0);
        Assert.True(decoder.TryDecodeToYuyv(good, new byte[64 * 32 * 2], out _, out _, out var goodError), goodError);
        Assert.Null(goodError);
    }

    [Fact]
    public void ThousandsOfRandomlyDamagedJpegs_NeverThrow_AndLeaveTheDecoderWorking()
    {
        var (frame, _) = TestPattern(160, 120);
        var original = Encode(frame, 160, 120);
        var random = new Random(2024);
        using var decoder = new JpegDecoder();
        int decoded = 0, refused = 0;
        for (var i = 0; i < 2000; i++)
        {
            var jpeg = (byte[])original.Clone();
            for (var flips = random.Next(1, 6); flips > 0; flips--)
            {
                jpeg[random.Next(2, jpeg.Length)] = (byte)random.Next(256);
            }

            var length = random.Next(3) == 0 ? random.Next(2, jpeg.Length) : jpeg.Length;
            var (ok, _) = DecodeAnyway(decoder, jpeg.AsSpan(0, length));
            _ = ok ? decoded++ : refused++;
        }

        Assert.True(decoded > 0 && refused > 0, $"decoded {decoded}, refused {refused}");
        Assert.True(decoder.TryDecodeToYuyv(original, new byte[frame.Length], out _, out _, out var error), error);
        Assert.Null(error);
    }

    [Fact]
    public void ATruncatedJpeg_IsRecoveredWithAWarning_WhenItsHeaderIsWhole()
    {
        var (frame, _) = TestPattern(640, 480);
        var jpeg = Encode(frame, 640, 480);
        using var decoder = new JpegDecoder();
        var decoded = new byte[frame.Length];
        Assert.True(decoder.TryDecodeToYuyv(jpeg.AsSpan(0, jpeg.Length / 2), decoded, out var w, out var h, out var error));
        Assert.Equal((640, 480), (w, h));
        Assert.NotNull(error);
        Assert.Contains("warning", error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(60000, 60000)]
    [InlineData(8193, 16)]
    [InlineData(16, 8193)]
    public void AJpegClaimingAHugeSize_IsRefusedFromItsHeader_BeforeAnythingIsAllocated(int width, int height)
    {
        var jpeg = EncodePlanar(64, 32, TJSAMP_422, 0);
        var sof = IndexOfMarker(jpeg, 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), (ushort)width);
        using var decoder = new JpegDecoder();

        Assert.False(decoder.TryGetYuyvSize(jpeg, out _, out _, out _));
        var before = GC.GetAllocatedBytesForCurrentThread();
        // A small destination: the size limit answers first, so this is a refusal, not a too-small-buffer throw.
        Assert.False(decoder.TryDecodeToYuyv(jpeg, new byte[64 * 32 * 2], out _, out _, out var error));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024, "no plane buffers for the claimed size");
        Assert.Contains($"{width}x{height}", error, StringComparison.Ordinal);
        Assert.Contains("8192x8192", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ADecoderGivenATighterLimit_RefusesLargerPictures()
    {
        var jpeg = EncodePlanar(64, 32, TJSAMP_422, 0);
        using var decoder = new JpegDecoder(maxDimension: 48);
        Assert.Equal(48, decoder.MaxDimension);
        Assert.False(decoder.TryGetYuyvSize(jpeg, out _, out _, out _));
        Assert.False(decoder.TryDecodeToYuyv(jpeg, new byte[64 * 32 * 2], out _, out _, out var error));
        Assert.Contains("48x48", error, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new JpegDecoder(0));
    }

    [Fact]
    public void ADestinationSmallerThanThePicture_IsAProgrammingError_AndThrows()
    {
        var jpeg = EncodePlanar(64, 32, TJSAMP_422, 0);
        using var decoder = new JpegDecoder();
        var error = Assert.Throws<ArgumentException>(() => decoder.TryDecodeToYuyv(jpeg, new byte[(64 * 32 * 2) - 1], out _, out _, out _));
        Assert.Equal("yuyv", error.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    [InlineData(-5)]
    public void QualityOutside1To100_Throws(int quality) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new JpegEncoder(quality));

    [Fact]
    public void AnOddWidth_IsRefused()
    {
        using var encoder = new JpegEncoder();
        var destination = new byte[JpegEncoder.MaxEncodedSize(640, 480)];
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => encoder.EncodeYuyv(new byte[641 * 480 * 2], 641, 480, null, destination));
        Assert.Equal("width", error.ParamName);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => encoder.EncodeNv12(new byte[641 * 480 * 3 / 2], 641, 480, null, destination));
        Assert.Equal("width", error.ParamName);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => encoder.EncodeNv12(new byte[640 * 481 * 3 / 2], 640, 481, null, destination));
        Assert.Equal("height", error.ParamName);
    }

    [Fact]
    public void ADestinationSmallerThanMaxEncodedSize_IsRefused()
    {
        var (frame, _) = TestPattern(640, 480);
        using var encoder = new JpegEncoder();
        var destination = new byte[JpegEncoder.MaxEncodedSize(640, 480) - 1];
        var error = Assert.Throws<ArgumentException>(() => encoder.EncodeYuyv(frame, 640, 480, null, destination));
        Assert.Equal("destination", error.ParamName);
        Assert.Contains("MaxEncodedSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InputOfTheWrongLength_IsRefused()
    {
        using var encoder = new JpegEncoder();
        var destination = new byte[JpegEncoder.MaxEncodedSize(640, 480)];
        var error = Assert.Throws<ArgumentException>(() => encoder.EncodeYuyv(new byte[(640 * 480 * 2) - 2], 640, 480, null, destination));
        Assert.Equal("yuyv", error.ParamName);
        error = Assert.Throws<ArgumentException>(() => encoder.EncodeNv12(new byte[640 * 480 * 2], 640, 480, null, destination));
        Assert.Equal("nv12", error.ParamName);
    }

    [Fact]
    public void AnEncoderOrDecoder_RefusesWorkAfterDispose()
    {
        var encoder = new JpegEncoder();
        encoder.Dispose();
        encoder.Dispose();
        Assert.Throws<ObjectDisposedException>(() => encoder.EncodeYuyv(new byte[64], 16, 2, null, new byte[JpegEncoder.MaxEncodedSize(16, 2)]));
        var decoder = new JpegDecoder();
        decoder.Dispose();
        Assert.Throws<ObjectDisposedException>(() => decoder.TryGetYuyvSize([0xFF, 0xD8, 0xFF, 0xD9], out _, out _, out _));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(16, 8)]
    [InlineData(640, 480)]
    [InlineData(642, 9)]
    [InlineData(1920, 1080)]
    [InlineData(4000, 3)]
    public void MaxEncodedSize_CoversLibjpegTurbosOwnBound_ForBothSubsamplings_PlusTheProbePrefix(int width, int height)
    {
        var max = JpegEncoder.MaxEncodedSize(width, height);
        foreach (var subsamp in new[] { TJSAMP_422, TJSAMP_420 })
        {
            var native = (long)tjBufSize(width, height, subsamp);
            Assert.Equal(native, JpegEncoder.BufSize(width, height, subsamp));
            Assert.True(max >= native + JpegProbe.PrefixSize - 2, $"{width}x{height} subsamp {subsamp}: {max} < {native}");
        }
    }

    [Fact]
    public void SmallAndUnalignedPictures_EncodeAndDecode()
    {
        using var encoder = new JpegEncoder();
        using var decoder = new JpegDecoder();
        foreach (var (width, height) in new[] { (2, 1), (18, 5), (34, 17), (98, 66) })
        {
            var yuyv = new byte[width * height * 2];
            for (var i = 0; i < yuyv.Length; i += 4)
            {
                (yuyv[i], yuyv[i + 1], yuyv[i + 2], yuyv[i + 3]) = ((byte)100, (byte)90, (byte)100, (byte)170);
            }

            var jpeg = new byte[JpegEncoder.MaxEncodedSize(width, height)];
            var length = encoder.EncodeYuyv(yuyv, width, height, new ProbeHeader(1, 2, (ushort)width, (ushort)height, 0), jpeg);
            var decoded = new byte[yuyv.Length];
            Assert.True(decoder.TryDecodeToYuyv(jpeg.AsSpan(0, length), decoded, out var w, out var h, out var error), error);
            Assert.Equal((width, height), (w, h));
            for (var i = 0; i < decoded.Length; i++)
            {
                AssertNear(yuyv[i], decoded[i], $"{width}x{height} byte {i}");
            }
        }
    }

    [Fact]
    public void EncodingAndDecoding_AllocateNothing_OnceWarm()
    {
        var (frame, _) = TestPattern(640, 480);
        using var encoder = new JpegEncoder();
        using var decoder = new JpegDecoder();
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(640, 480)];
        var decoded = new byte[frame.Length];
        var probe = new ProbeHeader(1, 2, 640, 480, 0);
        var length = 0;
        for (var i = 0; i < 3; i++)
        {
            length = encoder.EncodeYuyv(frame, 640, 480, probe, jpeg);
            Assert.True(decoder.TryDecodeToYuyv(jpeg.AsSpan(0, length), decoded, out _, out _, out _));
        }

        // A one-time runtime allocation (tiering, a lazy initialiser) can land in any one round on a loaded machine
        // (seen once: 6,824 bytes in one round of five); a per-frame allocation shows in every round. So: the least
        // any of several rounds allocates must be 0.
        var fewest = long.MaxValue;
        for (var round = 0; round < 5 && fewest != 0; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 5; i++)
            {
                length = encoder.EncodeYuyv(frame, 640, 480, probe with { Counter = (uint)i }, jpeg);
                decoder.TryDecodeToYuyv(jpeg.AsSpan(0, length), decoded, out _, out _, out _);
            }

            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, fewest);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(333)]
    public void YuyvSplitIntoPlanes_PacksBackToTheSameBytes(int pairs)
    {
        var yuyv = new byte[pairs * 4];
        new Random(pairs).NextBytes(yuyv);
        var y = new byte[pairs * 2];
        var u = new byte[pairs];
        var v = new byte[pairs];
        YuvPlanes.DeinterleaveYuyv(yuyv, y, u, v);
        for (var i = 0; i < pairs; i++)
        {
            Assert.Equal((yuyv[i * 4], yuyv[(i * 4) + 1], yuyv[(i * 4) + 2], yuyv[(i * 4) + 3]), (y[i * 2], u[i], y[(i * 2) + 1], v[i]));
        }

        var packed = new byte[yuyv.Length];
        YuvPlanes.PackYuyvRow(y, u, v, packed);
        Assert.Equal(yuyv, packed);

        var uv = new byte[pairs * 2];
        for (var i = 0; i < pairs; i++)
        {
            (uv[i * 2], uv[(i * 2) + 1]) = (u[i], v[i]);
        }

        var u2 = new byte[pairs];
        var v2 = new byte[pairs];
        YuvPlanes.DeinterleaveUv(uv, u2, v2);
        Assert.Equal(u, u2);
        Assert.Equal(v, v2);
    }

    [Fact]
    public void BlendRows_IsTheThreeToOneTriangleFilter_InVectorAndScalarParts()
    {
        var near = Enumerable.Range(0, 37).Select(i => (byte)(i * 7)).ToArray();
        var far = Enumerable.Range(0, 37).Select(i => (byte)(255 - (i * 5))).ToArray();
        var blended = new byte[37];
        YuvPlanes.BlendRows(near, far, blended);
        for (var i = 0; i < 37; i++)
        {
            Assert.Equal((byte)(((near[i] * 3) + far[i] + 2) >> 2), blended[i]);
        }
    }

    private static (byte[] Frame, TestPatternGenerator Generator) TestPattern(int width, int height)
    {
        var generator = new TestPatternGenerator(width, height);
        var frame = new byte[generator.FrameSize];
        generator.Draw(frame, 7, 0);
        return (frame, generator);
    }

    private static byte[] Encode(byte[] yuyv, int width, int height)
    {
        using var encoder = new JpegEncoder();
        var jpeg = new byte[JpegEncoder.MaxEncodedSize(width, height)];
        var length = encoder.EncodeYuyv(yuyv, width, height, null, jpeg);
        return jpeg[..length];
    }

    /// <summary>Four flat quadrants, distinct in Y, Cb and Cr, so that resampled chroma shows at their centres.</summary>
    private static (byte Y, byte U, byte V) Quadrant(int x, int y, int width, int height) =>
        (x < width / 2, y < height / 2) switch
        {
            (true, true) => (180, 128, 128),
            (false, true) => (81, 90, 240),
            (true, false) => (145, 54, 34),
            _ => (41, 240, 110),
        };

    /// <summary>A JPEG of <see cref="Quadrant"/> with any subsampling, through the encoder's planar core.</summary>
    private static byte[] EncodePlanar(int width, int height, int subsamp, int flags)
    {
        var hFactor = tjMCUWidth[subsamp] / 8;
        var vFactor = tjMCUHeight[subsamp] / 8;
        var lumaWidth = (width + hFactor - 1) / hFactor * hFactor;
        var lumaHeight = (height + vFactor - 1) / vFactor * vFactor;
        var y = new byte[lumaWidth * lumaHeight];
        for (var row = 0; row < lumaHeight; row++)
        {
            for (var x = 0; x < lumaWidth; x++)
            {
                y[(row * lumaWidth) + x] = Quadrant(Math.Min(x, width - 1), Math.Min(row, height - 1), width, height).Y;
            }
        }

        var gray = subsamp == TJSAMP_GRAY;
        var chromaWidth = gray ? 0 : lumaWidth / hFactor;
        var chromaHeight = gray ? 0 : lumaHeight / vFactor;
        var u = new byte[chromaWidth * chromaHeight];
        var v = new byte[chromaWidth * chromaHeight];
        for (var row = 0; row < chromaHeight; row++)
        {
            for (var x = 0; x < chromaWidth; x++)
            {
                var (_, cb, cr) = Quadrant(Math.Min(x * hFactor, width - 1), Math.Min(row * vFactor, height - 1), width, height);
                u[(row * chromaWidth) + x] = cb;
                v[(row * chromaWidth) + x] = cr;
            }
        }

        // The quadrant's values are limited range, as raw frames are; JFIF is full range, as EncodeYuyv makes it.
        YuvPlanes.ExpandToFullRange(y, y, luma: true);
        YuvPlanes.ExpandToFullRange(u, u, luma: false);
        YuvPlanes.ExpandToFullRange(v, v, luma: false);
        using var encoder = new JpegEncoder(90);
        var jpeg = new byte[(int)JpegEncoder.BufSize(width, height, subsamp)];
        var length = encoder.Compress(y, lumaWidth, u, v, chromaWidth, width, height, subsamp, flags, null, jpeg);
        return jpeg[..length];
    }

    private static void AssertQuadrantCentres(byte[] yuyv, int width, int height, bool gray, int? sourceWidth = null)
    {
        var w = sourceWidth ?? width;
        foreach (var (qx, qy) in new[] { (1, 1), (3, 1), (1, 3), (3, 3) })
        {
            var x = (qx * w / 4) & ~1;
            var row = qy * height / 4;
            var expected = Quadrant(x, row, w, height);
            var o = (row * width * 2) + (x * 2);
            AssertNear(expected.Y, yuyv[o], $"Y at {x},{row}");
            AssertNear(gray ? (byte)128 : expected.U, yuyv[o + 1], $"Cb at {x},{row}");
            AssertNear(gray ? (byte)128 : expected.V, yuyv[o + 3], $"Cr at {x},{row}");
        }
    }

    /// <summary>
    /// Decodes as a caller should: size from the header, then decode into that. Checks the contract on the way:
    /// a refusal carries an error and zero sizes, and input whose header is refused is refused by the decode too.
    /// </summary>
    private static (bool Ok, string? Error) DecodeAnyway(JpegDecoder decoder, ReadOnlySpan<byte> jpeg)
    {
        var sized = decoder.TryGetYuyvSize(jpeg, out var w, out var h, out var bytes);
        var destination = new byte[sized ? bytes : 640 * 480 * 2];
        var ok = decoder.TryDecodeToYuyv(jpeg, destination, out var width, out var height, out var error);
        if (ok)
        {
            Assert.True(sized);
            Assert.Equal((w, h), (width, height));
        }
        else
        {
            Assert.False(string.IsNullOrEmpty(error));
            Assert.Equal((0, 0), (width, height));
        }

        return (ok, error);
    }

    private enum Outcome
    {
        Fails,
        Recovers,
        Either,
    }

    private static byte[] Corrupt(string kind, out Outcome expected)
    {
        var random = new Random(kind.Length);
        var (frame, _) = TestPattern(320, 240);
        var jpeg = Encode(frame, 320, 240);
        expected = Outcome.Fails;
        switch (kind)
        {
            case "random 1 KB":
                return RandomBytes(random, 1024, soi: false);
            case "random 10 MB":
                return RandomBytes(random, 10 << 20, soi: false);
            case "SOI then random 10 MB":
                expected = Outcome.Either; // libjpeg skips garbage looking for markers; whatever it finds decides
                return RandomBytes(random, 10 << 20, soi: true);
            case "truncated at 10":
                return jpeg[..10];
            case "truncated at 100":
                return jpeg[..100];
            case "truncated at half":
                expected = Outcome.Recovers; // the rest of the picture comes out grey
                return jpeg[..(jpeg.Length / 2)];
            case "truncated at length-2":
                expected = Outcome.Recovers; // only EOI is missing
                return jpeg[..^2];
            case "bytes flipped in the middle":
                expected = Outcome.Either; // a bad Huffman code is a warning, a stray marker an error
                for (var i = jpeg.Length / 2; i < (jpeg.Length / 2) + 32; i++)
                {
                    jpeg[i] ^= 0x5A;
                }

                return jpeg;
            case "empty":
                return [];
            case "SOI only":
                return [0xFF, 0xD8, 0xFF, 0xD9];
            case "SOS removed":
                return jpeg[..IndexOfMarker(jpeg, 0xDA)];
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static byte[] RandomBytes(Random random, int length, bool soi)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        if (soi)
        {
            (bytes[0], bytes[1]) = (0xFF, 0xD8);
        }
        else if (bytes[0] == 0xFF)
        {
            bytes[0] = 0;
        }

        return bytes;
    }

    private static int IndexOfMarker(byte[] jpeg, byte marker)
    {
        for (var i = 2; i + 1 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"No FF {marker:X2} marker.");
    }

    private static void AssertNear(byte expected, byte actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance, $"{what}: expected {expected} ± {Tolerance}, got {actual}");
}
