using System.Buffers;
using System.Diagnostics;
using System.Text;
using Osprey.Containers.MpegTs;
using Osprey.Tests.Codecs.H264;

namespace Osprey.Tests.Containers.MpegTs;

public class TsStreamCombinerTests
{
    [Fact]
    public void VideoAndAudioFeeds_OnTheSamePids_BecomeOneProgramme_WithEveryPacketOnceUnderItsNewPid()
    {
        var (video, audio) = (Chunks(TsFixtures.Mpeg1Video), Chunks(TsFixtures.Mp2));
        var combiner = new TsStreamCombiner();
        Assert.Equal(0, combiner.AddInput("video0"));
        Assert.Equal(1, combiner.AddInput("audio0"));
        var output = new ArrayBufferWriter<byte>();
        var outputKeys = 0;
        foreach (var (slot, packets, isKey) in Interleave(video, audio))
        {
            var start = output.WrittenCount;
            if (combiner.Write(slot, packets, isKey, output))
            {
                outputKeys++;
                Assert.Equal(0, slot);
                // A key chunk of the output: the combined PAT and PMT, then the video's start point.
                var written = output.WrittenSpan[start..];
                Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(written));
                Assert.Equal(TsStreamCombiner.PmtPid, TsPacket.GetPid(written[TsPacket.Size..]));
                var first = written[(2 * TsPacket.Size)..];
                Assert.Equal(0x100, TsPacket.GetPid(first));
                Assert.Equal<byte>([0, 0, 1, 0xB3], TsFixtures.PesPayload(first)[..4].ToArray());
            }
        }

        var stream = output.WrittenSpan.ToArray();
        Assert.Equal(5, outputKeys);

        // Our own parser sees one PAT and one PMT: with the video alone until the audio's first chunk brought its
        // PMT, then with both streams on distinct PIDs; and no continuity error.
        var check = new TsChunker();
        var recorder = ChunkRecorder.Run(check, stream, stream.Length);
        var program = check.Program!;
        Assert.Equal(2, recorder.Headers.Count);
        Assert.Equal([0x100], TsProgram.FromPsiPackets(recorder.Headers[0])!.Streams.Select(s => s.Pid));
        Assert.Equal(2, combiner.HeaderVersion);
        Assert.Equal((1, 0x1000, 0x100), (program.ProgramNumber, program.PmtPid, program.PcrPid));
        Assert.Equal([(0x100, "mpeg2video"), (0x120, "mpegaudio")], program.Streams.Select(s => (s.Pid, s.Codec)));
        Assert.Equal(0, check.ContinuityErrors);
        Assert.Equal(0, check.PsiErrors);
        Assert.Equal(5, check.KeyChunks);
        var pids = TsFixtures.Packets(stream).Select(p => TsPacket.GetPid(p)).Distinct().Order();
        Assert.Equal([0, 0x100, 0x120, 0x1000], pids);

        // Every elementary stream packet of each input, in order, under its new PID and otherwise unchanged.
        AssertCarried(video, 0x100, stream, 0x100);
        AssertCarried(audio, 0x100, stream, 0x120);
        Assert.Equal(combiner.InputPackets, combiner.OutputPackets + combiner.DroppedPsiPackets);
        Assert.Equal(0, combiner.UnmappedPackets);

        // The standalone header is the same programme.
        Assert.Equal(program.Streams.Select(s => s.Pid), TsProgram.FromPsiPackets(combiner.Header.Span)!.Streams.Select(s => s.Pid));
    }

    [Trait("Needs", "Ffmpeg")]
    [Fact]
    public void Ffprobe_ReadsTheCombinedStream_AsOneProgrammeWithBothStreams_AndFfmpegDecodesItCleanly()
    {
        var (video, audio) = (Chunks(TsFixtures.Mpeg1Video), Chunks(TsFixtures.Mp2));
        var combiner = new TsStreamCombiner();
        combiner.AddInput("video0");
        combiner.AddInput("audio0");
        var output = new ArrayBufferWriter<byte>();
        foreach (var (slot, packets, isKey) in Interleave(video, audio))
        {
            combiner.Write(slot, packets, isKey, output);
        }

        var path = Path.Combine(Path.GetTempPath(), $"osprey-combined-{Environment.ProcessId}-{Guid.NewGuid():N}.ts");
        File.WriteAllBytes(path, output.WrittenSpan.ToArray());
        try
        {
            var streams = Encoding.UTF8.GetString(FfmpegH264.Run("ffprobe",
                ["-v", "error", "-show_entries", "program=program_id:stream=codec_name,id", "-of", "compact", path]));
            Assert.Contains("codec_name=mpeg1video|id=0x100", streams, StringComparison.Ordinal);
            Assert.Contains("codec_name=mp2|id=0x120", streams, StringComparison.Ordinal);
            Assert.Single(streams.Split('\n'), line => line.StartsWith("program|", StringComparison.Ordinal));

            // Decoding reports nothing at error level: no missing packets, no broken PES.
            var decode = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
            foreach (var argument in new[] { "-nostdin", "-v", "error", "-i", path, "-f", "null", "-" })
            {
                decode.ArgumentList.Add(argument);
            }

            using var ffmpeg = Process.Start(decode)!;
            var errors = ffmpeg.StandardError.ReadToEnd();
            ffmpeg.WaitForExit();
            Assert.Equal(0, ffmpeg.ExitCode);
            Assert.Equal(string.Empty, errors.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RemovingTheAudio_MakesANewPmtVersionWithoutIt_AndBringingItBackReusesItsSlot()
    {
        var (video, audio) = (Chunks(TsFixtures.Mpeg1Video), Chunks(TsFixtures.Mp2));
        var combiner = new TsStreamCombiner();
        combiner.AddInput("video0");
        combiner.AddInput("audio0");
        var output = new ArrayBufferWriter<byte>();
        var half = video.Count / 2;
        foreach (var (slot, packets, isKey) in Interleave(video[..half], audio))
        {
            combiner.Write(slot, packets, isKey, output);
        }

        var before = combiner.HeaderVersion;
        var pmtVersion = TsProgram.FromPsiPackets(combiner.Header.Span)!.Version;
        Assert.True(combiner.RemoveInput("audio0"));
        Assert.False(combiner.RemoveInput("audio0"));
        Assert.Equal(before + 1, combiner.HeaderVersion);
        var cut = output.WrittenCount;
        foreach (var (packets, isKey) in video[half..])
        {
            combiner.Write(0, packets, isKey, output);
        }

        // The new PMT comes first, with a new version_number and only the video.
        var after = output.WrittenSpan[cut..].ToArray();
        Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(after));
        var program = TsProgram.FromPsiPackets(after.AsSpan(0, 2 * TsPacket.Size))!;
        Assert.Equal([0x100], program.Streams.Select(s => s.Pid));
        Assert.NotEqual(pmtVersion, program.Version);
        Assert.DoesNotContain(TsFixtures.Packets(after), p => TsPacket.GetPid(p) == 0x120);
        Assert.Equal(0, ChunkCheck(output.WrittenSpan).ContinuityErrors);

        // The audio comes back in its old slot: once its PMT arrives (its first chunk starts with it), its old PIDs.
        Assert.Equal(1, combiner.AddInput("audio0"));
        combiner.Write(1, audio[0].Packets, audio[0].IsKey, output);
        Assert.Equal([0x100, 0x120], combiner.Program.Streams.Select(s => s.Pid));
        Assert.Equal(before + 2, combiner.HeaderVersion);
    }

    [Fact]
    public void Slots_StayWithTheirNames()
    {
        var combiner = new TsStreamCombiner(maxInputs: 4);
        Assert.Equal([0, 1, 2], new[] { "a", "b", "c" }.Select(name => combiner.AddInput(name)));
        Assert.Equal(1, combiner.AddInput("b"));
        Assert.True(combiner.RemoveInput("b"));
        Assert.True(combiner.TryGetSlot("c", out var c) && c == 2);
        Assert.Equal(3, combiner.AddInput("d")); // b's slot stays free for b while another is free
        Assert.Equal(1, combiner.AddInput("b"));
        Assert.True(combiner.RemoveInput("a"));
        Assert.Equal(0, combiner.AddInput("e")); // no other slot left
        Assert.Throws<InvalidOperationException>(() => combiner.AddInput("f"));
        Assert.Equal(0x100 + (0x20 * 3) + 2, TsStreamCombiner.MapPid(3, 2));
    }

    [Fact]
    public void AnInputWithoutKnownPmt_IsDroppedAndCounted_UntilItsProgrammeIsSet()
    {
        var audio = Chunks(TsFixtures.Mp2);
        // Start mid-stream, after the first PAT and PMT: a non-key chunk with no PSI.
        var later = audio.FindIndex(1, c => !c.IsKey && !TsFixtures.IsPsi(c.Packets));
        var combiner = new TsStreamCombiner();
        var slot = combiner.AddInput("audio0");
        var output = new ArrayBufferWriter<byte>();
        combiner.Write(slot, audio[later].Packets, audio[later].IsKey, output);
        Assert.Equal(audio[later].Packets.Length / TsPacket.Size, combiner.UnmappedPackets);

        // The feed's header (what its chunker announced) tells the programme.
        var header = new TsChunker();
        ChunkRecorder.Run(header, TsFixtures.Load(TsFixtures.Mp2), 1316);
        combiner.SetProgram(slot, TsProgram.FromPsiPackets(header.HeaderPackets.Span));
        var start = output.WrittenCount;
        combiner.Write(slot, audio[later + 1].Packets, audio[later + 1].IsKey, output);
        Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(output.WrittenSpan[start..])); // the layout changed: PSI first
        Assert.Equal(0x100, combiner.Program.PcrPid);
        Assert.Equal("mpegaudio", Assert.Single(combiner.Program.Streams).Codec);
        Assert.Equal(0, combiner.PrimarySlot);
    }

    [Fact]
    public void PsiOnRequest_AndWritingAllocatesNothing()
    {
        var video = Chunks(TsFixtures.Mpeg1Video);
        var combiner = new TsStreamCombiner();
        combiner.AddInput("video0");
        var destination = new byte[TsStreamCombiner.GetMaxOutputSize(video.Max(c => c.Packets.Length))];
        foreach (var (packets, isKey) in video)
        {
            combiner.Write(0, packets, isKey, destination, out _);
        }

        var psi = new byte[TsStreamCombiner.MaxPsiSize];
        Assert.Equal(2 * TsPacket.Size, combiner.WritePsi(psi));
        combiner.RequestPsi();
        var written = combiner.Write(0, video[1].Packets, video[1].IsKey, destination, out var key);
        Assert.False(key);
        Assert.Equal(TsPacket.PatPid, TsPacket.GetPid(destination));

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 3; round++)
        {
            foreach (var (packets, isKey) in video)
            {
                written += combiner.Write(0, packets, isKey, destination, out _);
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - allocated);
        Assert.True(written > 0);
    }

    private static TsChunker ChunkCheck(ReadOnlySpan<byte> stream)
    {
        var chunker = new TsChunker();
        ChunkRecorder.Run(chunker, stream, stream.Length);
        return chunker;
    }

    private static List<(byte[] Packets, bool IsKey)> Chunks(string fixture) =>
        ChunkRecorder.Run(new TsChunker(), TsFixtures.Load(fixture), 1316, flushEachPiece: true).Chunks;

    // Interleaves two inputs' chunks by their position in their stream, as two live feeds would arrive.
    private static IEnumerable<(int Slot, byte[] Packets, bool IsKey)> Interleave(
        List<(byte[] Packets, bool IsKey)> first, List<(byte[] Packets, bool IsKey)> second)
    {
        int i = 0, j = 0;
        while (i < first.Count || j < second.Count)
        {
            if (j >= second.Count || (i < first.Count && (double)i / first.Count <= (double)j / second.Count))
            {
                yield return (0, first[i].Packets, first[i].IsKey);
                i++;
            }
            else
            {
                yield return (1, second[j].Packets, second[j].IsKey);
                j++;
            }
        }
    }

    private static void AssertCarried(List<(byte[] Packets, bool IsKey)> input, int inputPid, byte[] output, int outputPid)
    {
        var expected = input.SelectMany(c => TsFixtures.Packets(c.Packets)).Where(p => TsPacket.GetPid(p) == inputPid).Select(p =>
        {
            TsPacket.SetPid(p, outputPid);
            return p;
        }).ToList();
        var actual = TsFixtures.Packets(output).Where(p => TsPacket.GetPid(p) == outputPid).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"packet {i} of PID 0x{outputPid:X}");
        }
    }
}
