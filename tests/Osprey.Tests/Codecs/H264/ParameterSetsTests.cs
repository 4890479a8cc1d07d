using Osprey.Codecs.H264;

namespace Osprey.Tests.Codecs.H264;

public class ParameterSetsTests
{
    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void FirstSpsAndPps_AreChanges_ThenTheSameOnesAreNot_AndCostNothing()
    {
        var stream = FfmpegH264.Encode(320, 240, "high");
        var sps = SpsParserTests.FirstNal(stream, NalUnitType.Sps);
        var pps = SpsParserTests.FirstNal(stream, NalUnitType.Pps);
        var sets = new ParameterSets();
        Assert.False(sets.IsComplete);

        Assert.True(sets.Update(sps));
        Assert.False(sets.IsComplete);
        Assert.True(sets.Update(pps));

        Assert.True(sets.IsComplete);
        Assert.Equal(2, sets.Version);
        Assert.Equal(sps, sets.Sps.ToArray());
        Assert.Equal(pps, sets.Pps.ToArray());
        Assert.Equal(320, sets.Info!.Value.Width);

        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(sets.Update(sps));
        Assert.False(sets.Update(pps));
        Assert.False(sets.Update([0x65, 0x88]));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2, sets.Version);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void AResolutionChange_IsNoticedInTheNextAccessUnit_AndInfoFollowsIt()
    {
        var small = FfmpegH264.Encode(320, 240, "high", 1);
        var large = FfmpegH264.Encode(640, 480, "high", 1);
        var sets = new ParameterSets();

        Assert.True(sets.UpdateFromAccessUnit(small));
        Assert.False(sets.UpdateFromAccessUnit(small));
        Assert.True(sets.UpdateFromAccessUnit(large));

        Assert.Equal((640, 480), (sets.Info!.Value.Width, sets.Info.Value.Height));
        Assert.Equal(SpsParserTests.FirstNal(large, NalUnitType.Sps), sets.Sps.ToArray());
    }

    [Fact]
    public void AnSpsThatDoesNotParse_IsIgnored()
    {
        var sets = new ParameterSets();

        Assert.False(sets.Update([0x67, 0x64, 0x00]));

        Assert.Null(sets.Info);
        Assert.True(sets.Sps.IsEmpty);
        Assert.Equal(0, sets.Version);
    }

    [Fact]
    public void KeptCopies_DoNotChangeWhenTheCallersBufferIsReused()
    {
        var pps = new byte[] { 0x68, 0xCB, 0x83, 0xCB, 0x20 };
        var sets = new ParameterSets();
        sets.Update(pps);

        pps[1] = 0;

        Assert.Equal(new byte[] { 0x68, 0xCB, 0x83, 0xCB, 0x20 }, sets.Pps.ToArray());
    }
}
