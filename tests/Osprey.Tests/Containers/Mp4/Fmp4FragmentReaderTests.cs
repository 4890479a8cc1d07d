using System.Buffers.Binary;
using Osprey.Containers.Mp4;
using Osprey.Tests.Containers.Hls;

namespace Osprey.Tests.Containers.Mp4;

public class Fmp4FragmentReaderTests
{
    [Theory]
    [InlineData(true, 0UL, 3000U)]
    [InlineData(false, 123_456_789_012UL, 2999U)]
    public void ReadsWhatFmp4WriterWrote(bool key, ulong time, uint duration)
    {
        var fragment = HlsTestMedia.Fragment(key, time, duration, 100, 3);
        Assert.True(Fmp4FragmentReader.TryRead(fragment, out var info));
        Assert.Equal(new Fmp4FragmentInfo(time, duration, 1, key), info);
    }

    [Fact]
    public void TruncatedFragments_AreRefused_AtEveryLengthShortOfTheMoof()
    {
        var fragment = HlsTestMedia.Fragment(true, 90000, 3000, 50, 1);
        for (var length = 0; length < Fmp4Writer.MoofSize; length++)
        {
            Assert.False(Fmp4FragmentReader.TryRead(fragment.AsSpan(0, length), out _), $"length {length}");
        }
    }

    [Fact]
    public void CorruptedFragments_AreRefusedOrRead_NeverThrow()
    {
        var fragment = HlsTestMedia.Fragment(true, 90000, 3000, 50, 1);
        var random = new Random(3);
        for (var i = 0; i < 5000; i++)
        {
            var copy = (byte[])fragment.Clone();
            for (var j = 0; j < 1 + random.Next(4); j++)
            {
                copy[random.Next(Fmp4Writer.MoofSize)] = (byte)random.Next(256);
            }

            _ = Fmp4FragmentReader.TryRead(copy, out _);
        }

        var noise = new byte[4096];
        random.NextBytes(noise);
        Assert.False(Fmp4FragmentReader.TryRead(noise, out _));
    }

    [Fact]
    public void ARunClaimingMoreSamplesThanItsBoxHolds_IsRefused()
    {
        var fragment = HlsTestMedia.Fragment(true, 90000, 3000, 50, 1);
        // trun's sample_count: moof(8) mfhd(16) traf(8) tfhd(16) tfdt(20) trun header(12).
        BinaryPrimitives.WriteUInt32BigEndian(fragment.AsSpan(8 + 16 + 8 + 16 + 20 + 12), uint.MaxValue);
        Assert.False(Fmp4FragmentReader.TryRead(fragment, out _));
    }

    [Fact]
    public void ABoxLargerThanItsParent_IsRefused()
    {
        var fragment = HlsTestMedia.Fragment(true, 90000, 3000, 50, 1);
        BinaryPrimitives.WriteUInt32BigEndian(fragment, (uint)fragment.Length + 1); // moof past the end
        Assert.False(Fmp4FragmentReader.TryRead(fragment, out _));
    }
}
