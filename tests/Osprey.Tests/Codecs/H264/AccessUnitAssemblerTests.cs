using Osprey.Codecs.H264;

namespace Osprey.Tests.Codecs.H264;

public class AccessUnitAssemblerTests
{
    private static readonly AccessUnitHandler<List<(byte[] Au, bool Key)>> s_collect =
        static (list, au, key) => list.Add((au.ToArray(), key));

    public static TheoryData<string, string[]> Encodings => new()
    {
        { "baseline", [] },
        { "main", [] },
        { "high", [] },
        { "high", ["-x264-params", "slices=4"] },
    };

    [Trait("Needs", "Ffmpeg")]
    [Theory]
    [MemberData(nameof(Encodings))]
    public void RealFfmpegStream_FedWholeByteByByteAndInRandomChunks_GivesIdenticalAccessUnits_ThirtyWithKeyFramesEveryTen(string profile, string[] extra)
    {
        var stream = FfmpegH264.Encode(320, 240, profile, 30, extra);

        var whole = Assemble(stream, [stream.Length]);
        var byteByByte = Assemble(stream, Enumerable.Repeat(1, stream.Length));
        var random = new Random(7);
        for (var round = 0; round < 10; round++)
        {
            var chunks = Assemble(stream, RandomChunks(random, stream.Length, round % 2 == 0 ? 7 : 5000));
            AssertSame(whole, chunks);
        }

        AssertSame(whole, byteByByte);
        Assert.Equal(30, whole.Count);
        for (var i = 0; i < whole.Count; i++)
        {
            Assert.Equal(i % 10 == 0, whole[i].Key);
            Assert.Equal(i % 10 == 0, AnnexB.ContainsIdr(whole[i].Au));
        }
    }

    [Trait("Needs", "Ffmpeg")]
    [Theory]
    [MemberData(nameof(Encodings))]
    public void AccessUnits_HoldEveryNalUnitOfTheStreamInOrder_BehindFourByteStartCodes(string profile, string[] extra)
    {
        var stream = FfmpegH264.Encode(320, 240, profile, 30, extra);
        var slicesPerPicture = extra.Length > 0 ? 4 : 1;

        var aus = Assemble(stream, [stream.Length]);

        var expected = Nals(stream);
        var actual = aus.SelectMany(a => Nals(a.Au)).ToList();
        Assert.Equal(expected, actual);
        foreach (var (au, _) in aus)
        {
            // Only 4-byte start codes: each NAL is preceded by 00 00 00 01, so the bytes are exactly those.
            var rebuilt = Nals(au).SelectMany(n => new byte[] { 0, 0, 0, 1 }.Concat(n)).ToArray();
            Assert.Equal(rebuilt, au);
            Assert.Equal(slicesPerPicture, Nals(au).Count(n => AnnexB.TypeOf(n) is NalUnitType.Idr or NalUnitType.Slice));
        }

        // The first access unit carries the SPS, PPS and x264's SEI that precede its slice.
        Assert.Equal([NalUnitType.Sps, NalUnitType.Pps, NalUnitType.Sei, NalUnitType.Idr], Nals(aus[0].Au).Take(4).Select(n => AnnexB.TypeOf(n)));
    }

    [Fact]
    public void AudSpsPpsAndSeiAfterASlice_StartANewAccessUnit_ButASliceWithFirstMbNotZeroDoesNot()
    {
        byte[] stream =
        [
            0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCB, 0, 0, 1, 0x65, 0x88, 0x11, // AUD SPS PPS IDR(mb 0)
            0, 0, 1, 0x65, 0x41, 0x22, // IDR slice, first_mb_in_slice 1 (bits 010)
            0, 0, 1, 0x06, 0x05, 0x80, 0, 0, 1, 0x41, 0x9A, 0x33, // SEI then P slice (mb 0)
            0, 0, 1, 0x41, 0x9A, 0x44, // P slice, mb 0: a new picture
            0, 0, 1, 0x68, 0xCB, 0, 0, 1, 0x41, 0x9A, 0x55, // PPS then P slice
            0, 0, 1, 0x09, 0x30, 0, 0, 1, 0x41, 0x9A, 0x66, // AUD then P slice
        ];

        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();
        assembler.Push(stream, aus, s_collect);
        assembler.Flush(aus, s_collect);

        byte[][] expected =
        [
            [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCB, 0, 0, 0, 1, 0x65, 0x88, 0x11, 0, 0, 0, 1, 0x65, 0x41, 0x22],
            [0, 0, 0, 1, 0x06, 0x05, 0x80, 0, 0, 0, 1, 0x41, 0x9A, 0x33],
            [0, 0, 0, 1, 0x41, 0x9A, 0x44],
            [0, 0, 0, 1, 0x68, 0xCB, 0, 0, 0, 1, 0x41, 0x9A, 0x55],
            [0, 0, 0, 1, 0x09, 0x30, 0, 0, 0, 1, 0x41, 0x9A, 0x66],
        ];
        Assert.Equal(expected, aus.Select(a => a.Au));
        Assert.Equal([true, false, false, false, false], aus.Select(a => a.Key));
        Assert.Equal(5, assembler.AccessUnits);
        Assert.Equal(0, assembler.GarbageBytes);
    }

    [Fact]
    public void AnAccessUnitIsHandedOutWhenTheNextBegins_OrAtFlush()
    {
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();

        assembler.Push([0, 0, 0, 1, 0x65, 0x88, 0x11], aus, s_collect);
        Assert.Empty(aus);
        // The next picture's first two bytes decide: the first one goes out before the rest of the second arrives.
        assembler.Push([0, 0, 0, 1, 0x41], aus, s_collect);
        Assert.Empty(aus);
        assembler.Push([0x9A], aus, s_collect);
        Assert.Single(aus);
        assembler.Push([0x77], aus, s_collect);
        assembler.Flush(aus, s_collect);

        Assert.Equal([[0, 0, 0, 1, 0x65, 0x88, 0x11], [0, 0, 0, 1, 0x41, 0x9A, 0x77]], aus.Select(a => a.Au));
    }

    [Fact]
    public void FlushAfterEachPacket_HandsEachOutAtOnce_AndStartsOver()
    {
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();

        assembler.Push([0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xCB, 0, 0, 1, 0x65, 0x88], aus, s_collect);
        assembler.Flush(aus, s_collect);
        Assert.Single(aus);
        assembler.Push([0, 0, 0, 1, 0x41, 0x9A], aus, s_collect);
        assembler.Flush(aus, s_collect);

        Assert.Equal(2, aus.Count);
        Assert.Equal([0, 0, 0, 1, 0x41, 0x9A], aus[1].Au);
        Assert.Equal(0, assembler.GarbageBytes);
    }

    [Fact]
    public void GarbageBeforeTheFirstStartCode_IsCounted_ButLeadingZeroBytesAreNot()
    {
        byte[] stream = [0x12, 0x34, 0x00, 0x56, 0, 0, 0, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9A];

        foreach (var chunks in new[] { new[] { stream.Length }, Enumerable.Repeat(1, stream.Length).ToArray() })
        {
            var assembler = new AccessUnitAssembler();
            var aus = new List<(byte[] Au, bool Key)>();
            Feed(assembler, stream, chunks, aus);

            Assert.Equal(4, assembler.GarbageBytes);
            Assert.Equal([[0, 0, 0, 1, 0x65, 0x88], [0, 0, 0, 1, 0x41, 0x9A]], aus.Select(a => a.Au));
        }
    }

    [Fact]
    public void InputWithoutAStartCode_YieldsNothing_AndIsAllGarbage()
    {
        var bytes = new byte[10_000];
        new Random(3).NextBytes(bytes);
        bytes = [.. bytes.Select(b => b <= 1 ? (byte)0x55 : b)];
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();

        Feed(assembler, bytes, [1000, 1, 4000, 4999], aus);

        Assert.Empty(aus);
        Assert.Equal(bytes.Length, assembler.GarbageBytes);
    }

    [Fact]
    public void ParameterSetsWithNoPictureAtFlush_AreGarbage_NotAnAccessUnit()
    {
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();

        assembler.Push([0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCB], aus, s_collect);
        assembler.Flush(aus, s_collect);

        Assert.Empty(aus);
        Assert.Equal(12, assembler.GarbageBytes);
    }

    [Fact]
    public void NalUnitsWithTheForbiddenBit_AreDroppedAsGarbage()
    {
        byte[] stream = [0, 0, 1, 0x65, 0x88, 0, 0, 1, 0xE5, 0x12, 0x34, 0, 0, 0, 1, 0x41, 0x9A];
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();

        Feed(assembler, stream, [stream.Length], aus);

        Assert.Equal([[0, 0, 0, 1, 0x65, 0x88], [0, 0, 0, 1, 0x41, 0x9A]], aus.Select(a => a.Au));
        Assert.Equal(3, assembler.GarbageBytes);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void TruncatedStream_DeliversWhatIsWholeAndTheCutLastAccessUnitAtFlush()
    {
        var stream = FfmpegH264.Encode(320, 240, "main");
        var whole = Assemble(stream, [stream.Length]);
        var cut = stream.Length - (whole[^1].Au.Length / 2);

        var aus = Assemble(stream[..cut], [cut]);

        Assert.Equal(30, aus.Count);
        AssertSame(whole[..29], aus[..29]);
        Assert.Equal(whole[^1].Au[..(aus[^1].Au.Length)], aus[^1].Au);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void OversizedAccessUnit_IsDroppedAndCounted_AndTheNextOneIsDelivered()
    {
        var stream = FfmpegH264.Encode(320, 240, "high");
        var whole = Assemble(stream, [stream.Length]);
        // Larger than every P picture, smaller than the first IDR (which carries SPS, PPS and x264's SEI).
        var limit = whole.Skip(1).Take(9).Max(a => a.Au.Length) + 1;
        Assert.True(whole[0].Au.Length > limit);

        foreach (var chunks in new[] { new[] { stream.Length }, Enumerable.Repeat(3, (stream.Length / 3) + 1).ToArray() })
        {
            var assembler = new AccessUnitAssembler(limit);
            var aus = new List<(byte[] Au, bool Key)>();
            Feed(assembler, stream, chunks, aus);

            var expected = whole.Where(a => a.Au.Length <= limit).ToList();
            Assert.Equal(whole.Count - expected.Count, assembler.OversizedAccessUnits);
            AssertSame(expected, aus);
            Assert.True(assembler.BufferCapacity <= limit);
        }
    }

    [Fact]
    public void RandomBytes_NeverThrow_AndEveryAccessUnitStartsWithAStartCode()
    {
        var random = new Random(11);
        var bytes = new byte[2_000_000];
        random.NextBytes(bytes);
        // Make zeros common so start codes and NAL units occur.
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = bytes[i] < 100 ? (byte)0 : bytes[i] < 110 ? (byte)1 : bytes[i];
        }

        var assembler = new AccessUnitAssembler(4096);
        var count = 0L;
        assembler.Push(bytes.AsSpan(0, 1_000_000), 0, (_, au, _) =>
        {
            Assert.True(au[..4].SequenceEqual(new byte[] { 0, 0, 0, 1 }));
            count++;
        });
        var pos = 1_000_000;
        foreach (var size in RandomChunks(random, bytes.Length - pos, 300).ToList())
        {
            assembler.Push(bytes.AsSpan(pos, size), 0, (_, _, _) => count++);
            pos += size;
        }

        assembler.Flush(0, (_, _, _) => count++);
        Assert.Equal(assembler.AccessUnits, count);
        Assert.True(count > 0);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void SteadyState_AllocatesNothing()
    {
        var stream = FfmpegH264.Encode(320, 240, "high");
        var assembler = new AccessUnitAssembler();
        var counter = new long[1];
        AccessUnitHandler<long[]> onAu = static (c, au, key) => c[0] += au.Length;
        assembler.Push(stream, counter, onAu);
        assembler.Flush(counter, onAu);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var pos = 0; pos < stream.Length; pos += 1000)
        {
            assembler.Push(stream.AsSpan(pos, Math.Min(1000, stream.Length - pos)), counter, onAu);
        }

        assembler.Flush(counter, onAu);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(60, assembler.AccessUnits);
    }

    private static List<(byte[] Au, bool Key)> Assemble(byte[] stream, IEnumerable<int> chunks)
    {
        var assembler = new AccessUnitAssembler();
        var aus = new List<(byte[] Au, bool Key)>();
        Feed(assembler, stream, chunks, aus);
        Assert.Equal(0, assembler.GarbageBytes);
        Assert.Equal(0, assembler.OversizedAccessUnits);
        Assert.Equal(aus.Count, assembler.AccessUnits);
        return aus;
    }

    private static void Feed(AccessUnitAssembler assembler, byte[] stream, IEnumerable<int> chunks, List<(byte[] Au, bool Key)> aus)
    {
        var pos = 0;
        foreach (var size in chunks)
        {
            var take = Math.Min(size, stream.Length - pos);
            assembler.Push(stream.AsSpan(pos, take), aus, s_collect);
            pos += take;
        }

        Assert.Equal(stream.Length, pos);
        assembler.Flush(aus, s_collect);
    }

    private static IEnumerable<int> RandomChunks(Random random, int total, int maxChunk)
    {
        for (var left = total; left > 0;)
        {
            var size = Math.Min(left, random.Next(1, maxChunk + 1));
            yield return size;
            left -= size;
        }
    }

    private static void AssertSame(List<(byte[] Au, bool Key)> expected, List<(byte[] Au, bool Key)> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Au, actual[i].Au);
            Assert.Equal(expected[i].Key, actual[i].Key);
        }
    }

    private static List<byte[]> Nals(byte[] stream)
    {
        var nals = new List<byte[]>();
        foreach (var nal in AnnexB.EnumerateNalUnits(stream))
        {
            nals.Add(nal.ToArray());
        }

        return nals;
    }
}
