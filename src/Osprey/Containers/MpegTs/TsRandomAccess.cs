namespace Osprey.Containers.MpegTs;

/// <summary>The video codecs whose start points <see cref="TsRandomAccess"/> recognises from the bitstream.</summary>
internal enum TsVideoCodec : byte
{
    /// <summary>Not known (no PMT yet, or a type without a bitstream check): only random_access_indicator counts.</summary>
    Unknown,

    /// <summary>MPEG-1 or MPEG-2 video: a sequence header (00 00 01 B3) starts a decodable group.</summary>
    Mpeg12,

    /// <summary>H.264: an SPS (NAL type 7) or IDR slice (5).</summary>
    H264,

    /// <summary>HEVC: a VPS, SPS or PPS (32-34) or an IRAP slice (16-21).</summary>
    Hevc,
}

/// <summary>
/// Finds, in the first packet of a video PES, whether a decoder can start there (see <see cref="TsChunker"/>).
/// Looks only at the bytes of that one packet: ffmpeg puts the sequence header or the SPS at the very start of a
/// key frame's PES, right after the PES header and an access unit delimiter.
/// </summary>
internal static class TsRandomAccess
{
    private static ReadOnlySpan<byte> StartCode => [0, 0, 1];

    public static TsVideoCodec CodecOf(TsElementaryStream stream) => stream.Codec switch
    {
        "mpeg1video" or "mpeg2video" => TsVideoCodec.Mpeg12,
        "h264" => TsVideoCodec.H264,
        "hevc" => TsVideoCodec.Hevc,
        _ => TsVideoCodec.Unknown,
    };

    /// <summary>
    /// The elementary stream bytes after the PES header (§2.4.3.7) in a packet payload that starts a PES packet;
    /// empty when the payload does not start with a PES start code or its header runs past the packet.
    /// </summary>
    public static ReadOnlySpan<byte> GetPesPayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 9 || payload[0] != 0 || payload[1] != 0 || payload[2] != 1)
        {
            return default;
        }

        if ((payload[6] & 0xC0) != 0x80)
        {
            return payload[6..]; // not the MPEG-2 header layout: look at everything after the length
        }

        var end = 9 + payload[8];
        return end <= payload.Length ? payload[end..] : default;
    }

    /// <summary>The stream_id of a payload that starts a PES packet, or -1.</summary>
    public static int GetStreamId(ReadOnlySpan<byte> payload) =>
        payload.Length >= 4 && payload[0] == 0 && payload[1] == 0 && payload[2] == 1 ? payload[3] : -1;

    /// <summary>
    /// Guesses the codec of a video PID that the PMT did not describe from the first start code of a PES: MPEG
    /// video starts with a sequence, GOP or picture start code; H.264 and HEVC (in TS) with an access unit delimiter.
    /// </summary>
    public static TsVideoCodec Sniff(ReadOnlySpan<byte> es)
    {
        var at = es.IndexOf(StartCode);
        if (at < 0 || at + 4 >= es.Length)
        {
            return TsVideoCodec.Unknown;
        }

        var code = es[at + 3];
        return code switch
        {
            0xB3 or 0xB8 or 0x00 => TsVideoCodec.Mpeg12,
            0x09 => TsVideoCodec.H264,
            0x46 when es[at + 4] == 0x01 => TsVideoCodec.Hevc,
            _ => TsVideoCodec.Unknown,
        };
    }

    /// <summary>True when <paramref name="es"/> (the start of a PES's elementary stream bytes) holds a start point.</summary>
    public static bool IsStartPoint(ReadOnlySpan<byte> es, TsVideoCodec codec)
    {
        while (true)
        {
            var at = es.IndexOf(StartCode);
            if (at < 0 || at + 3 >= es.Length)
            {
                return false;
            }

            var code = es[at + 3];
            switch (codec)
            {
                case TsVideoCodec.Mpeg12 when code == 0xB3:
                    return true;
                case TsVideoCodec.H264 when (code & 0x80) == 0 && ((code & 0x1F) == 7 || (code & 0x1F) == 5):
                    return true;
                case TsVideoCodec.Hevc when (code & 0x80) == 0:
                    var type = (code >> 1) & 0x3F;
                    if (type is (>= 16 and <= 21) or (>= 32 and <= 34))
                    {
                        return true;
                    }

                    break;
            }

            es = es[(at + 3)..];
        }
    }
}
