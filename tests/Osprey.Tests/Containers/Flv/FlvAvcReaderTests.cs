using System.Diagnostics;
using Osprey.Codecs.H264;
using Osprey.Containers.Flv;

namespace Osprey.Tests.Containers.Flv;

[Trait("Needs", "Ffmpeg")]
public class FlvAvcReaderTests
{
    [Fact]
    public async Task FfmpegFlv_GivesOneAnnexBAccessUnitPerFrame_WithParameterSetsBeforeEachKeyFrame()
    {
        var flv = await EncodeAsync(30, gop: 10);
        foreach (var chunk in new[] { flv.Length, 4096, 1, 777 })
        {
            var reader = new FlvAvcReader();
            var units = new List<(byte[] Au, bool Key)>();
            for (var offset = 0; offset < flv.Length; offset += chunk)
            {
                reader.Push(flv.AsSpan(offset, Math.Min(chunk, flv.Length - offset)), units, static (list, au, key) => list.Add((au.ToArray(), key)));
            }

            Assert.Null(reader.Error);
            Assert.Equal(30, units.Count);
            Assert.Equal([0, 10, 20], units.Select((u, i) => (u, i)).Where(x => x.u.Key).Select(x => x.i));
            foreach (var (au, key) in units)
            {
                var types = new List<NalUnitType>();
                foreach (var nal in AnnexB.EnumerateNalUnits(au))
                {
                    types.Add(AnnexB.TypeOf(nal));
                }

                Assert.Contains(key ? NalUnitType.Idr : NalUnitType.Slice, types);
                Assert.Equal(key, types.Contains(NalUnitType.Sps) && types.Contains(NalUnitType.Pps));
            }

            var parameterSets = new ParameterSets();
            Assert.True(parameterSets.UpdateFromAccessUnit(units[0].Au));
            Assert.Equal((320, 240), (parameterSets.Info!.Value.Width, parameterSets.Info.Value.Height));
        }
    }

    [Fact]
    public void NotFlv_TruncatedTags_AndImpossibleLengths_AreRefusedOrCounted_NeverThrown()
    {
        var notFlv = new FlvAvcReader();
        notFlv.Push("GIF89a and then some"u8, 0, static (_, _, _) => Assert.Fail("no access unit from garbage"));
        Assert.NotNull(notFlv.Error);

        // A video tag whose NAL length runs past the tag: dropped and counted.
        byte[] stream =
        [
            (byte)'F', (byte)'L', (byte)'V', 1, 1, 0, 0, 0, 9, 0, 0, 0, 0,
            9, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0,       // video tag header, 10 bytes of data
            0x27, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0x65,  // inter frame, NALU, length 255 but 1 byte left
            0, 0, 0, 21,
        ];
        var reader = new FlvAvcReader();
        var delivered = 0;
        reader.Push(stream, 0, (_, _, _) => delivered++);
        Assert.Equal(0, delivered);
        Assert.Equal(1, reader.BadTags);

        var oversized = new FlvAvcReader(maxTagSize: 1000);
        oversized.Push([.. stream[..13], 9, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, (_, _, _) => delivered++);
        Assert.NotNull(oversized.Error);
    }

    private static async Task<byte[]> EncodeAsync(int frames, int gop)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-frames:v", $"{frames}",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", $"{gop}", "-pix_fmt", "yuv420p", "-f", "flv", "pipe:1",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        using var output = new MemoryStream();
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.BaseStream.CopyToAsync(output);
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await errors);
        return output.ToArray();
    }
}
