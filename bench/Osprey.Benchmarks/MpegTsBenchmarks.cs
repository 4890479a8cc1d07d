using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Osprey.Containers.MpegTs;

namespace Osprey.Benchmarks;

/// <summary>
/// MPEG-TS ingest and combining on real ffmpeg output made in setup: 1 MiB (5,577 packets) of jsmpeg's recipe
/// (<c>mpeg1video</c> 640x480 at 2 Mbit/s, GOP 12, with <c>mp2</c> audio) or of libx264 at 2 Mbit/s, GOP 50, pushed
/// into a <see cref="TsChunker"/> in 1,316-byte writes (7 packets, what ffmpeg's HTTP output commonly sends), and a
/// <see cref="TsStreamCombiner"/> merging a video feed's and an audio feed's chunks. None of them allocates.
/// </summary>
/// <remarks>
/// <see cref="ChunkFlushingEachWrite"/> is what the server does (a chunk per network read, so no added latency);
/// <see cref="ChunkFlushingAtEnd"/> makes chunks only at random access points and the size cap. Both include one
/// copy of every byte into the chunker's buffer, which the sink receives (it only counts here).
/// </remarks>
[MemoryDiagnoser]
public class MpegTsBenchmarks
{
    private const int WriteSize = 1316;
    private const int CombinedChunks = 1000;
    private const int MiB = 1024 * 1024;

    private readonly CountingSink _sink = new();
    private TsChunker _chunker = null!;
    private byte[] _stream = [];
    private TsStreamCombiner _combiner = null!;
    private (int Slot, byte[] Packets, bool IsKey)[] _chunks = [];
    private byte[] _output = [];

    /// <summary>The stream chunked: jsmpeg's MPEG-1 video with MP2 audio, or H.264.</summary>
    [Params("mpeg1video+mp2", "h264")]
    public string Stream { get; set; } = "mpeg1video+mp2";

    [GlobalSetup]
    public void Setup()
    {
        var full = Stream == "h264"
            ? Encode("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "6", "-c:v", "libx264", "-preset", "veryfast",
                "-b:v", "2M", "-g", "50", "-bf", "0", "-pix_fmt", "yuv420p")
            : Encode("-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                "-t", "6", "-c:v", "mpeg1video", "-b:v", "2M", "-bf", "0", "-g", "12", "-c:a", "mp2", "-b:a", "128k");
        var packets = MiB / TsPacket.Size;
        if (full.Length < packets * TsPacket.Size)
        {
            throw new InvalidOperationException($"ffmpeg made {full.Length} bytes, less than 1 MiB.");
        }

        _stream = full.AsSpan(0, packets * TsPacket.Size).ToArray();
        _chunker = new TsChunker();
        ChunkFlushingEachWrite(); // warm: the chunk buffer has grown, the PSI is known

        // The combiner's inputs: this stream's chunks as the video feed, an audio-only ffmpeg's as the audio feed.
        var audio = Encode("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "6", "-c:a", "mp2", "-b:a", "128k");
        var video = Record(_stream);
        var sound = Record(audio);
        var all = new List<(int, byte[], bool)>();
        for (int i = 0, j = 0; i < video.Count || j < sound.Count;)
        {
            if (j >= sound.Count || (i < video.Count && (double)i / video.Count <= (double)j / sound.Count))
            {
                all.Add((0, video[i].Packets, video[i++].IsKey));
            }
            else
            {
                all.Add((1, sound[j].Packets, sound[j++].IsKey));
            }
        }

        _chunks = [.. all];
        _output = new byte[TsStreamCombiner.GetMaxOutputSize(_chunks.Max(c => c.Packets.Length))];
        _combiner = new TsStreamCombiner();
        _combiner.AddInput("video0");
        _combiner.AddInput("audio0");
        Combine();
        Console.WriteLine($"// {Stream}: {_stream.Length:N0} bytes; {video.Count} video chunks ({video.Count(c => c.IsKey)} key), " +
            $"{sound.Count} audio chunks; mean chunk {_chunks.Average(c => c.Packets.Length):N0} bytes");
    }

    /// <summary>1 MiB in 1,316-byte writes, each followed by <see cref="TsChunker.Flush"/>.</summary>
    [Benchmark(Baseline = true)]
    public long ChunkFlushingEachWrite()
    {
        var stream = _stream.AsSpan();
        for (var offset = 0; offset < stream.Length; offset += WriteSize)
        {
            _chunker.Write(stream.Slice(offset, Math.Min(WriteSize, stream.Length - offset)), _sink);
            _chunker.Flush(_sink);
        }

        return _sink.Bytes;
    }

    /// <summary>1 MiB in 1,316-byte writes, one flush at the end.</summary>
    [Benchmark]
    public long ChunkFlushingAtEnd()
    {
        var stream = _stream.AsSpan();
        for (var offset = 0; offset < stream.Length; offset += WriteSize)
        {
            _chunker.Write(stream.Slice(offset, Math.Min(WriteSize, stream.Length - offset)), _sink);
        }

        _chunker.Flush(_sink);
        return _sink.Bytes;
    }

    /// <summary>One input chunk through the combiner (PID rewrite, PSI before key chunks), per chunk.</summary>
    [Benchmark(OperationsPerInvoke = CombinedChunks)]
    public long Combine()
    {
        long written = 0;
        var chunks = _chunks;
        for (var i = 0; i < CombinedChunks; i++)
        {
            var (slot, packets, isKey) = chunks[i % chunks.Length];
            written += _combiner.Write(slot, packets, isKey, _output, out _);
        }

        return written;
    }

    private static List<(byte[] Packets, bool IsKey)> Record(byte[] stream)
    {
        var recorder = new RecordingSink();
        var chunker = new TsChunker();
        for (var offset = 0; offset < stream.Length; offset += WriteSize)
        {
            chunker.Write(stream.AsSpan(offset, Math.Min(WriteSize, stream.Length - offset)), recorder);
            chunker.Flush(recorder);
        }

        return recorder.Chunks;
    }

    private static byte[] Encode(params string[] arguments)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["-hide_banner", "-loglevel", "error", .. arguments, "-f", "mpegts", "pipe:1"])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start.");
        var errors = process.StandardError.ReadToEndAsync();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed: {errors.Result}");
        }

        return output.ToArray();
    }

    private sealed class CountingSink : ITsChunkSink
    {
        public long Bytes { get; private set; }

        public void OnChunk(ReadOnlySpan<byte> packets, bool isKey) => Bytes += packets.Length;

        public void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets)
        {
        }
    }

    private sealed class RecordingSink : ITsChunkSink
    {
        public List<(byte[] Packets, bool IsKey)> Chunks { get; } = [];

        public void OnChunk(ReadOnlySpan<byte> packets, bool isKey) => Chunks.Add((packets.ToArray(), isKey));

        public void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets)
        {
        }
    }
}
