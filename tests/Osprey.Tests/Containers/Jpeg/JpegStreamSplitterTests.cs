using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Osprey.Containers.Jpeg;
using Osprey.Tests.Codecs.Jpeg;

namespace Osprey.Tests.Containers.Jpeg;

public class JpegStreamSplitterTests
{
    private static readonly JpegImageHandler<List<byte[]>> s_collect = static (list, jpeg) => list.Add(jpeg.ToArray());

    [Fact]
    public void ImagesArrivingWholeInOnePush_AreHandedOutAsSlicesOfTheInput()
    {
        var images = new[] { TestJpegs.Baseline(seed: 1), TestJpegs.Progressive(seed: 2), TestJpegs.WithThumbnail(seed: 3) };
        var stream = Concat(images);
        var offsets = new List<int>();
        var splitter = new JpegStreamSplitter();

        splitter.Push(stream, (stream, offsets), static (s, jpeg) =>
        {
            // Same memory as the input, not a copy: find where it points.
            var offset = (int)Unsafe.ByteOffset(ref MemoryMarshal.GetArrayDataReference(s.stream), ref MemoryMarshal.GetReference(jpeg));
            Assert.True(jpeg.SequenceEqual(s.stream.AsSpan(offset, jpeg.Length)));
            s.offsets.Add(offset);
        });

        Assert.Equal(new[] { 0, images[0].Length, images[0].Length + images[1].Length }, offsets);
        Assert.Equal(3, splitter.Images);
        Assert.Equal(0, splitter.BufferCapacity);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void SameStream_PushedWholeByteByByteAndInRandomChunks_YieldsTheInputImagesByteExact()
    {
        var images = FfmpegJpegs.Frames320x240.Concat([TestJpegs.Baseline(seed: 4), TestJpegs.Progressive(seed: 5),
            TestJpegs.WithThumbnail(seed: 6), TestJpegs.Baseline(fillBytes: 3, seed: 7)]).ToArray();
        var stream = Concat(images);

        var whole = Split(new JpegStreamSplitter(), stream, [stream.Length]);
        var byteByByte = Split(new JpegStreamSplitter(), stream, Enumerable.Repeat(1, stream.Length));
        var random = new Random(42);
        for (var round = 0; round < 20; round++)
        {
            var maxChunk = round % 2 == 0 ? 64 : 20_000;
            var chunks = Split(new JpegStreamSplitter(), stream, RandomChunks(random, stream.Length, maxChunk));
            AssertImages(images, chunks);
        }

        AssertImages(images, whole);
        AssertImages(images, byteByByte);
    }

    [Fact]
    public void EveryTwoWaySplit_GivesTheSameImagesAndCounters()
    {
        var images = new[] { TestJpegs.Baseline(seed: 8), TestJpegs.WithThumbnail(seed: 9), TestJpegs.Progressive(seed: 10) };
        // Garbage with look-alikes of an SOI start, a truncated image, and a corrupt one around good images.
        byte[] stream = [.. "junk"u8, 0xFF, .. images[0], 0xFF, 0xD8, 0x00, .. images[1][..90], .. images[2],
            .. Corrupt(images[0], at: 3), .. images[1], 0xFF];
        var reference = new JpegStreamSplitter();
        var expected = Split(reference, stream, [stream.Length]);
        AssertImages([images[0], images[2], images[1]], expected);
        Assert.Equal(3, reference.TruncatedImages);

        for (var at = 0; at <= stream.Length; at++)
        {
            var splitter = new JpegStreamSplitter();
            var actual = Split(splitter, stream, [at, stream.Length - at]);
            AssertImages(expected, actual);
            AssertSameCounters(reference, splitter);
        }
    }

    [Fact]
    public void App1WithAnEmbeddedThumbnail_IsNotSplitAtTheThumbnailsSoiOrEoi()
    {
        var image = TestJpegs.WithThumbnail(seed: 11);
        Assert.True(image.AsSpan(4).IndexOf(new byte[] { 0xFF, 0xD8, 0xFF }) > 0, "the sample must embed an SOI");

        var splitter = new JpegStreamSplitter();
        var actual = Split(splitter, [.. image, .. image], Enumerable.Repeat(7, 2 * image.Length / 7 + 1));

        AssertImages([image, image], actual);
        Assert.Equal(0, splitter.TruncatedImages);
        Assert.Equal(0, splitter.GarbageBytes);
    }

    [Fact]
    public void ProgressiveImageWithTwoScans_IsDeliveredAsOneImage()
    {
        var image = TestJpegs.Progressive(seed: 12);
        var splitter = new JpegStreamSplitter();

        AssertImages([image], Split(splitter, image, [image.Length]));
        AssertImages([image], Split(new JpegStreamSplitter(), image, Enumerable.Repeat(1, image.Length)));
        Assert.Equal(0, splitter.TruncatedImages);
    }

    [Fact]
    public void FillBytesBeforeMarkers_StuffedBytesAndRestartMarkers_DoNotEndTheImage()
    {
        var image = TestJpegs.Baseline(fillBytes: 5, seed: 13);
        Assert.True(image.AsSpan().IndexOf(new byte[] { 0xFF, 0x00 }) > 0);
        Assert.True(image.AsSpan().IndexOf(new byte[] { 0xFF, 0xD3 }) > 0);

        AssertImages([image], Split(new JpegStreamSplitter(), image, [image.Length]));
    }

    [Fact]
    public void GarbageBeforeBetweenAndAfterImages_IsSkippedAndCountedExactly()
    {
        var a = TestJpegs.Baseline(seed: 14);
        var b = TestJpegs.Progressive(seed: 15);
        // FF and FF D8 that do not start an image are garbage too; an FF right before an SOI is garbage.
        byte[] before = [0x00, 0x01, 0xFF, 0xFF, 0x02, 0xFF, 0xD8, 0x00, 0xFF];
        byte[] between = [.. "not a jpeg, just noise"u8, 0xFF, 0xD9, 0xFF, 0xD8, 0xD8];
        byte[] after = [0xFF, 0xD8, 0xD9, 0x10, 0x20];
        byte[] stream = [.. before, .. a, .. between, .. b, .. after];

        foreach (var chunking in Chunkings(stream.Length))
        {
            var splitter = new JpegStreamSplitter();
            AssertImages([a, b], Split(splitter, stream, chunking));
            Assert.Equal(before.Length + between.Length + after.Length, splitter.GarbageBytes);
            Assert.Equal(0, splitter.TruncatedImages);
            Assert.Null(splitter.LastError);
        }
    }

    [Fact]
    public void TrailingFf_IsNotCountedUntilTheNextPushShowsItIsNotAnSoi()
    {
        var splitter = new JpegStreamSplitter();
        Split(splitter, [0x01, 0xFF], [2]);
        Assert.Equal(1, splitter.GarbageBytes);

        Split(splitter, [0x02], [1]);
        Assert.Equal(3, splitter.GarbageBytes);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void TruncatedImageFollowedByAGoodOne_TheGoodOneIsDelivered_AndTheCutOneCounted()
    {
        var frames = FfmpegJpegs.Frames320x240;
        var bad = frames[0];
        var good = frames[1];
        var sos = bad.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        var eoi = bad.Length - 2;
        // Cuts the structure sees at once: at a marker, after a marker's FF, and anywhere in the scan data.
        int[] cuts = [2, 20, 21, sos, sos + 1, sos + 14, sos + 15, (sos + eoi) / 2, eoi - 1, eoi, eoi + 1];

        foreach (var cut in cuts)
        {
            byte[] stream = [.. bad[..cut], .. good];
            foreach (var chunking in Chunkings(stream.Length))
            {
                var splitter = new JpegStreamSplitter();
                AssertImages([good], Split(splitter, stream, chunking));
                Assert.Equal(1, splitter.TruncatedImages);
                Assert.Equal(0, splitter.GarbageBytes);
                Assert.Equal("A new SOI began before EOI.", splitter.LastError);
            }
        }
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void ImageCutAnywhereInItsHeaders_DoesNotCostTheImagesItsSegmentsRanInto()
    {
        var frames = FfmpegJpegs.Frames320x240;
        var bad = frames[0];
        var followers = new List<byte[]>();
        // More than the longest segment can skip (64 KiB), so the corruption always shows within the stream.
        while (followers.Sum(f => f.Length) < 140_000)
        {
            followers.AddRange(frames.Skip(1));
        }

        var sos = bad.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        var random = new Random(7);
        for (var cut = 3; cut < sos + 14; cut++)
        {
            byte[] stream = [.. bad[..cut], .. Concat(followers)];
            var splitter = new JpegStreamSplitter();
            var actual = Split(splitter, stream, cut % 2 == 0 ? [stream.Length] : RandomChunks(random, stream.Length, 5000));

            Assert.Equal(followers.Count, actual.Count);
            AssertImages(followers[1..], actual[1..]);
            if (actual[0].AsSpan().SequenceEqual(followers[0]))
            {
                Assert.Equal(1, splitter.TruncatedImages);
            }
            else
            {
                // The one case structure cannot see: the cut segment's remaining length covered exactly the next
                // SOI, so the next image's markers line up; what comes out is the cut head plus the next image.
                AssertImages([[.. bad[..cut], .. followers[0]]], [actual[0]]);
                Assert.Equal(0, splitter.TruncatedImages);
            }
        }
    }

    [Fact]
    public void ImageWithAThumbnailCutAnywhere_NeverThrows_AndTheImagesAfterItAreDelivered()
    {
        var bad = TestJpegs.WithThumbnail(seed: 16);
        var thumbnailAt = bad.AsSpan(2).IndexOf(new byte[] { 0xFF, 0xD8 }) + 2;
        var thumbnail = TestJpegs.Baseline(8, 8, 20, 0, 116);
        Assert.True(bad.AsSpan(thumbnailAt, thumbnail.Length).SequenceEqual(thumbnail));
        var a = TestJpegs.Baseline(seed: 17);
        var b = TestJpegs.Progressive(seed: 18);
        byte[][] followers = [.. Enumerable.Range(0, 600).Select(i => i % 2 == 0 ? a : b)];

        for (var cut = 3; cut < bad.Length - 1; cut++)
        {
            byte[] stream = [.. bad[..cut], .. Concat(followers)];
            var actual = Split(new JpegStreamSplitter(), stream, [stream.Length]);

            // After corruption the search restarts right after the cut image's SOI, so a complete thumbnail in it
            // comes out first; and a cut that lines up with the next image's markers merges into it.
            if (actual[0].AsSpan().SequenceEqual(thumbnail))
            {
                actual.RemoveAt(0);
            }

            Assert.Equal(followers.Length, actual.Count);
            AssertImages(followers[1..], actual[1..]);
        }
    }

    [Fact]
    public void NewSoiInsideAnImage_CountsTheOldOneTruncated_AndStartsTheNewOneThere()
    {
        var good = TestJpegs.Baseline(seed: 19);
        var sosAt = good.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        byte[] stream = [.. good[..(sosAt + 14)], .. good, .. good[..sosAt], .. good];

        foreach (var chunking in Chunkings(stream.Length))
        {
            var splitter = new JpegStreamSplitter();
            AssertImages([good, good], Split(splitter, stream, chunking));
            Assert.Equal(2, splitter.TruncatedImages);
            Assert.Equal(0, splitter.GarbageBytes);
            Assert.Equal("A new SOI began before EOI.", splitter.LastError);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(0xFFFF)]
    public void CorruptSegmentLength_ResyncsOnTheNextSoi(int length)
    {
        var good = TestJpegs.Baseline(seed: 20);
        var dqt = good.AsSpan().IndexOf(new byte[] { 0xFF, 0xDB });
        var bad = (byte[])good.Clone();
        bad[dqt + 2] = (byte)(length >> 8);
        bad[dqt + 3] = (byte)length;
        // A length longer than the data swallows whatever follows; enough images follow for the segment to end
        // inside image data, where the missing marker shows the corruption and the search restarts after the bad
        // SOI, over the swallowed images.
        var count = length > good.Length ? 1 + (length / good.Length) : 1;
        byte[][] followers = [.. Enumerable.Range(0, count).Select(i => TestJpegs.Baseline(seed: (byte)(21 + i)))];
        byte[] stream = [.. bad, .. Concat(followers)];

        foreach (var chunking in Chunkings(stream.Length))
        {
            var splitter = new JpegStreamSplitter();
            var actual = Split(splitter, stream, chunking);
            AssertImages(followers, actual);
            Assert.Equal(1, splitter.TruncatedImages);
            Assert.NotNull(splitter.LastError);
        }
    }

    [Fact]
    public void ImpossibleStructures_AreNotDelivered_AndResync()
    {
        var good = TestJpegs.Baseline(seed: 22);
        var sof = good.AsSpan().IndexOf(new byte[] { 0xFF, 0xC0 });
        var noFrame = (byte[])good.Clone();
        noFrame[sof + 1] = 0xE5; // the SOF0 becomes an APP5, so the scan has no frame header
        var reservedMarker = (byte[])good.Clone();
        reservedMarker[sof + 1] = 0x42;
        byte[] secondFrame = [.. good[..(sof + 13)], .. good[sof..]];
        var sos = good.AsSpan().IndexOf(new byte[] { 0xFF, 0xDA });
        var oddScanLength = (byte[])good.Clone();
        oddScanLength[sos + 3] = 9; // a scan header is 6 + 2 per component
        var dri = good.AsSpan().IndexOf(new byte[] { 0xFF, 0xDD });
        var zeroLength = (byte[])good.Clone();
        zeroLength[dri + 3] = 0;
        byte[] tablesOnly = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x03, 0x00, 0xFF, 0xD9];
        byte[] notAMarker = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x7F];

        foreach (var (bad, error) in new[]
        {
            (noFrame, "A scan (SOS) before the frame header (SOFn)."),
            (reservedMarker, "A marker code that is impossible in a header."),
            (secondFrame, "A second frame header (SOFn)."),
            (oddScanLength, "A segment length impossible for its marker."),
            (zeroLength, "A segment length impossible for its marker."),
            (tablesOnly, "EOI before any scan."),
            (notAMarker, "A marker was expected after a segment."),
        })
        {
            var splitter = new JpegStreamSplitter();
            AssertImages([good], Split(splitter, [.. bad, .. good], [bad.Length + 5, good.Length - 5]));
            Assert.Equal(1, splitter.TruncatedImages);
            Assert.Equal(error, splitter.LastError);
        }
    }

    [Fact]
    public void ImageLargerThanTheMaximum_IsDroppedAndCounted_AndTheNextOneIsDelivered()
    {
        var small = TestJpegs.Baseline(seed: 23);
        var large = TestJpegs.Baseline(entropyLength: 5000, seed: 24);
        const int Max = 1024;
        byte[] stream = [.. small, .. large, .. small, .. large, .. small];

        foreach (var chunking in Chunkings(stream.Length).Append([.. Enumerable.Repeat(100, stream.Length / 100 + 1)]))
        {
            var splitter = new JpegStreamSplitter(Max);
            AssertImages([small, small, small], Split(splitter, stream, chunking));
            Assert.Equal(2, splitter.OversizedImages);
            Assert.Equal(0, splitter.TruncatedImages);
            Assert.Equal("The image exceeded the maximum image size.", splitter.LastError);
            // The part after the limit is skipped as garbage; the part before it was dropped.
            Assert.Equal(2 * (large.Length - Max), splitter.GarbageBytes);
            Assert.True(splitter.BufferCapacity <= Max);
        }
    }

    [Fact]
    public void ImageOfExactlyTheMaximumSize_IsDelivered()
    {
        var image = TestJpegs.Baseline(entropyLength: 3000, seed: 25);
        var splitter = new JpegStreamSplitter(image.Length);

        AssertImages([image, image], Split(splitter, [.. image, .. image], Enumerable.Repeat(999, 2 * image.Length / 999 + 1)));
        Assert.Equal(0, splitter.OversizedImages);
        Assert.Equal(image.Length, splitter.BufferCapacity);
    }

    [Fact]
    public void TenMegabytesOfRandomGarbage_NeverThrows_DeliversOnlyWellFormedImages_AndKeepsTheBufferBounded()
    {
        var random = new Random(1234);
        var garbage = new byte[10 * 1024 * 1024];
        random.NextBytes(garbage);
        // Sprinkle SOI starts and markers so that the parser, not just the SOI search, sees the garbage.
        for (var i = 0; i < 20_000; i++)
        {
            var at = random.Next(garbage.Length - 4);
            garbage[at] = 0xFF;
            garbage[at + 1] = (byte)(i % 3 == 0 ? 0xD8 : random.Next(0xC0, 0xFF));
            garbage[at + 2] = 0xFF;
        }

        foreach (var max in new[] { 64 * 1024, 8 * 1024 * 1024 })
        {
            var splitter = new JpegStreamSplitter(max);
            var images = Split(splitter, garbage, RandomChunks(random, garbage.Length, 100_000));

            Assert.True(splitter.BufferCapacity <= max);
            foreach (var image in images)
            {
                // Anything random bytes happened to form must itself split back out as exactly one image.
                AssertImages([image], Split(new JpegStreamSplitter(), image, [image.Length]));
            }

            // The sprinkled starts reach the parser, which rejects them.
            Assert.True(splitter.TruncatedImages > 100);
            Assert.True(splitter.GarbageBytes > garbage.Length / 2);
        }
    }

    [Fact]
    public void Reset_DropsThePartialImage_CountsItTruncated_AndTheNextImageIsDelivered()
    {
        var image = TestJpegs.Baseline(seed: 26);
        var splitter = new JpegStreamSplitter();
        var images = new List<byte[]>();

        splitter.Push(image.AsSpan(0, image.Length / 2), images, s_collect);
        splitter.Reset();
        // The rest of the old image is garbage after a restart; then a whole new one.
        splitter.Push([.. image[(image.Length / 2)..], .. image], images, s_collect);
        splitter.Reset();

        AssertImages([image], images);
        Assert.Equal(1, splitter.TruncatedImages);
        Assert.Equal("Reset with an image in progress.", splitter.LastError);
        Assert.Equal(image.Length - (image.Length / 2), splitter.GarbageBytes);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void SteadyState_AllocatesNothing()
    {
        var images = FfmpegJpegs.Frames320x240;
        var stream = Concat([.. images, .. images, .. images]);
        var splitter = new JpegStreamSplitter();
        JpegImageHandler<StrongBox<int>> handler = static (counter, _) => counter.Value++;
        var box = new StrongBox<int>();

        // Warm up: the buffer grows to fit the largest image that spans pushes.
        for (var i = 0; i < stream.Length; i += 1000)
        {
            splitter.Push(stream.AsSpan(i, Math.Min(1000, stream.Length - i)), box, handler);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < stream.Length; i += 1000)
        {
            splitter.Push(stream.AsSpan(i, Math.Min(1000, stream.Length - i)), box, handler);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2 * 3 * images.Count, box.Value);
    }

    [Fact]
    public void Push_RejectsANullHandler()
    {
        Assert.Throws<ArgumentNullException>(() => new JpegStreamSplitter().Push(new byte[1], 0, null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => new JpegStreamSplitter(15));
    }

    internal static byte[] Concat(IEnumerable<byte[]> parts) => [.. parts.SelectMany(part => part)];

    private static List<byte[]> Split(JpegStreamSplitter splitter, byte[] stream, IEnumerable<int> chunkSizes)
    {
        var images = new List<byte[]>();
        var pos = 0;
        foreach (var size in chunkSizes)
        {
            var take = Math.Min(size, stream.Length - pos);
            splitter.Push(stream.AsSpan(pos, take), images, s_collect);
            pos += take;
        }

        Assert.Equal(stream.Length, pos);
        return images;
    }

    private static IEnumerable<int> RandomChunks(Random random, int total, int maxChunk)
    {
        var chunks = new List<int>();
        for (var left = total; left > 0;)
        {
            // Zero-length pushes are legal and must change nothing.
            var size = Math.Min(left, random.Next(0, maxChunk + 1));
            chunks.Add(size);
            left -= size;
        }

        return chunks;
    }

    private static IEnumerable<int[]> Chunkings(int total) =>
        [
            [total],
            [.. Enumerable.Repeat(1, total)],
            [.. RandomChunks(new Random(total), total, 17)],
            [.. RandomChunks(new Random(-total), total, 300)],
        ];

    private static byte[] Corrupt(byte[] image, int at)
    {
        var copy = (byte[])image.Clone();
        copy[at] = 0x00;
        return copy;
    }

    private static void AssertImages(IReadOnlyList<byte[]> expected, IReadOnlyList<byte[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"image {i} differs");
        }
    }

    private static void AssertSameCounters(JpegStreamSplitter expected, JpegStreamSplitter actual)
    {
        Assert.Equal(expected.Images, actual.Images);
        Assert.Equal(expected.GarbageBytes, actual.GarbageBytes);
        Assert.Equal(expected.TruncatedImages, actual.TruncatedImages);
        Assert.Equal(expected.OversizedImages, actual.OversizedImages);
        Assert.Equal(expected.LastError, actual.LastError);
    }
}
