using System.Globalization;
using System.Text.Json;
using Osprey.Codecs.H264;
using Osprey.Containers.Mp4;
using Osprey.Media;
using Osprey.Tests.Codecs.H264;

namespace Osprey.Tests.Containers.Mp4;

/// <summary>ffmpeg's H.264, assembled and muxed by Osprey, read back by ffprobe: the fMP4 is valid.</summary>
public class Fmp4EndToEndTests
{
    public static TheoryData<string, string[], bool> Streams => new()
    {
        { "baseline", [], false },
        { "main", [], false },
        { "high", [], false },
        { "high", ["-x264-params", "slices=4"], false },
        { "high", [], true },
    };

    [Trait("Needs", "Ffmpeg")]
    [Theory]
    [MemberData(nameof(Streams))]
    public void InitAndThirtyMediaSegments_AreReadByFfprobe_AsThirtyFramesOf320x240WithIncreasingTimestamps(string profile, string[] extra, bool withProbe)
    {
        var stream = FfmpegH264.Encode(320, 240, profile, 30, extra);
        var sets = new ParameterSets();
        var file = new MemoryStream();
        var assembler = new AccessUnitAssembler();

        var aus = new List<(byte[] Au, bool Key)>();
        assembler.Push(stream, aus, static (list, au, key) => list.Add((au.ToArray(), key)));
        assembler.Flush(aus, static (list, au, key) => list.Add((au.ToArray(), key)));
        uint sequence = 0;
        foreach (var (source, key) in aus)
        {
            var au = withProbe ? WithProbe(source, sequence + 1) : source;
            if (sets.UpdateFromAccessUnit(au))
            {
                Assert.Equal(0u, sequence); // the parameter sets never change in this stream
                var init = new byte[Fmp4Writer.GetInitSegmentSize(sets.Sps.Span, sets.Pps.Span)];
                Fmp4Writer.WriteInitSegment(init, sets.Sps.Span, sets.Pps.Span, sets.Info!.Value);
                file.Write(init);
            }

            var segment = new byte[Fmp4Writer.GetMediaSegmentSize(au)];
            // 30 fps in 90 kHz: 3000 ticks a frame.
            Assert.Equal(segment.Length, Fmp4Writer.WriteMediaSegment(segment, au, ++sequence, (sequence - 1) * 3000UL, 3000, key));
            if (withProbe)
            {
                Assert.True(H264Probe.TryRead(segment.AsSpan(Fmp4Writer.MoofSize + 8), out var header));
                Assert.Equal(sequence, header.Counter);
            }

            file.Write(segment);
        }

        Assert.Equal(30u, sequence);
        var result = Probe(file.ToArray());

        Assert.Equal(("h264", 320, 240, 30), result.Stream);
        Assert.Equal(30, result.DtsTimes.Count);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => i / 30.0), result.DtsTimes, (a, b) => Math.Abs(a - b) < 1e-3);
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void BerryMseSegmentsOfEachSlice_AreReadByFfprobe_AsThirtyFrames()
    {
        var stream = FfmpegH264.Encode(320, 240, "baseline");
        var sps = Fmp4WriterTests.First(stream, NalUnitType.Sps);
        var pps = Fmp4WriterTests.First(stream, NalUnitType.Pps);
        var file = new MemoryStream();
        var init = new byte[BerryMseWriter.GetInitSegmentSize(sps, pps)];
        BerryMseWriter.WriteInitSegment(init, sps, pps, 320, 240);
        file.Write(init);

        uint n = 0;
        foreach (var nal in Nals(stream))
        {
            if (AnnexB.TypeOf(nal) is NalUnitType.Idr or NalUnitType.Slice)
            {
                n++;
                var segment = new byte[BerryMseWriter.GetMediaSegmentSize(nal)];
                BerryMseWriter.WriteMediaSegment(segment, nal, n, 330UL * n, 330, AnnexB.TypeOf(nal) == NalUnitType.Idr);
                file.Write(segment);
            }
        }

        var result = Probe(file.ToArray());

        Assert.Equal(("h264", 320, 240, 30), result.Stream);
        Assert.Equal(Enumerable.Range(1, 30).Select(i => i * 0.033), result.DtsTimes, (a, b) => Math.Abs(a - b) < 1e-3);
    }

    private static byte[] WithProbe(byte[] au, uint counter)
    {
        var output = new List<byte>();
        var inserted = false;
        foreach (var nal in Nals(au))
        {
            if (!inserted && AnnexB.TypeOf(nal) is NalUnitType.Idr or NalUnitType.Slice)
            {
                var probe = new byte[H264Probe.AnnexBSize];
                H264Probe.WriteAnnexB(probe, new ProbeHeader(counter, 0, 320, 240, 0));
                output.AddRange(probe);
                inserted = true;
            }

            output.AddRange([0, 0, 0, 1, .. nal]);
        }

        return [.. output];
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

    private static ((string Codec, int Width, int Height, int Frames) Stream, List<double> DtsTimes) Probe(byte[] mp4)
    {
        var path = Path.Combine(Path.GetTempPath(), $"osprey-fmp4-{Guid.NewGuid():N}.mp4");
        File.WriteAllBytes(path, mp4);
        try
        {
            var json = FfmpegH264.Run("ffprobe",
            [
                "-v", "error", "-count_frames", "-show_entries",
                "stream=width,height,codec_name,nb_read_frames:frame=pkt_dts_time", "-of", "json", path,
            ]);
            using var doc = JsonDocument.Parse(json);
            var stream = doc.RootElement.GetProperty("streams")[0];
            var frames = doc.RootElement.GetProperty("frames").EnumerateArray()
                .Select(f => double.Parse(f.GetProperty("pkt_dts_time").GetString()!, CultureInfo.InvariantCulture))
                .ToList();
            return ((stream.GetProperty("codec_name").GetString()!, stream.GetProperty("width").GetInt32(),
                stream.GetProperty("height").GetInt32(), int.Parse(stream.GetProperty("nb_read_frames").GetString()!, CultureInfo.InvariantCulture)), frames);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
