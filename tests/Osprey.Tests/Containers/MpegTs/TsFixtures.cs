using Osprey.Containers.MpegTs;

namespace Osprey.Tests.Containers.MpegTs;

/// <summary>The committed ffmpeg fixtures (see Fixtures/make-fixtures.sh) and helpers to look at packets.</summary>
internal static class TsFixtures
{
    /// <summary>MPEG-1 video 160x120, 2 s at 25 fps, GOP 12: 5 key frames; PID 0x100, PMT 0x1000.</summary>
    public const string Mpeg1Video = "mpeg1video.ts";

    /// <summary>H.264 160x120, 3 s at 25 fps, GOP 25: 3 key frames.</summary>
    public const string H264 = "h264.ts";

    /// <summary>MP2 audio only, 2 s; PID 0x100.</summary>
    public const string Mp2 = "mp2.ts";

    /// <summary>MPEG-1 video (PID 0x100, 3 key frames) and MP2 audio (PID 0x101) from one ffmpeg, 1 s.</summary>
    public const string Mpeg1VideoMp2 = "mpeg1video-mp2.ts";

    public static readonly string[] All = [Mpeg1Video, H264, Mp2, Mpeg1VideoMp2];

    public static byte[] Load(string name) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Containers", "MpegTs", "Fixtures", name));

    public static IEnumerable<byte[]> Packets(ReadOnlySpan<byte> stream)
    {
        var packets = new List<byte[]>();
        for (var offset = 0; offset + TsPacket.Size <= stream.Length; offset += TsPacket.Size)
        {
            packets.Add(stream.Slice(offset, TsPacket.Size).ToArray());
        }

        return packets;
    }

    public static bool IsPsi(ReadOnlySpan<byte> packet)
    {
        var pid = TsPacket.GetPid(packet);
        return pid <= 2 || (pid >= 0x10 && pid <= 0x1F) || pid == 0x1000;
    }

    /// <summary>The elementary stream bytes after the PES header in a packet that starts a PES.</summary>
    public static ReadOnlySpan<byte> PesPayload(ReadOnlySpan<byte> packet)
    {
        var payload = TsPacket.GetPayload(packet);
        Assert.True(payload.Length >= 9 && payload[0] == 0 && payload[1] == 0 && payload[2] == 1, "a PES start");
        return payload[(9 + payload[8])..];
    }
}

/// <summary>Records what a chunker hands out.</summary>
internal sealed class ChunkRecorder : ITsChunkSink
{
    public List<(byte[] Packets, bool IsKey)> Chunks { get; } = [];

    public List<byte[]> Headers { get; } = [];

    // Chunks handed out before each header change, to check the order of calls.
    public List<int> ChunksBeforeHeader { get; } = [];

    public void OnChunk(ReadOnlySpan<byte> packets, bool isKey)
    {
        Assert.True(packets.Length > 0 && packets.Length % TsPacket.Size == 0, "whole packets");
        Chunks.Add((packets.ToArray(), isKey));
    }

    public void OnHeaderChanged(ReadOnlyMemory<byte> psiPackets)
    {
        Headers.Add(psiPackets.ToArray());
        ChunksBeforeHeader.Add(Chunks.Count);
    }

    public byte[] Concatenated() => [.. Chunks.SelectMany(chunk => chunk.Packets)];

    /// <summary>The byte offsets in <see cref="Concatenated"/> where key chunks start.</summary>
    public List<long> KeyOffsets()
    {
        var offsets = new List<long>();
        long offset = 0;
        foreach (var (packets, isKey) in Chunks)
        {
            if (isKey)
            {
                offsets.Add(offset);
            }

            offset += packets.Length;
        }

        return offsets;
    }

    public static ChunkRecorder Run(TsChunker chunker, ReadOnlySpan<byte> stream, int pieceSize, bool flushEachPiece = false)
    {
        var recorder = new ChunkRecorder();
        for (var offset = 0; offset < stream.Length; offset += pieceSize)
        {
            chunker.Write(stream.Slice(offset, Math.Min(pieceSize, stream.Length - offset)), recorder);
            if (flushEachPiece)
            {
                chunker.Flush(recorder);
            }
        }

        chunker.Flush(recorder);
        return recorder;
    }
}
