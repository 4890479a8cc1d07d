namespace Osprey.Containers.MpegTs;

/// <summary>Names the codecs of stream_type values (ISO/IEC 13818-1 Table 2-34, ATSC A/52, DVB EN 300 468).</summary>
public static class TsStreamTypes
{
    /// <summary>MPEG-1 video (ffmpeg's <c>mpeg1video</c>, what jsmpeg plays).</summary>
    public const byte Mpeg1Video = 0x01;

    /// <summary>MPEG-2 video.</summary>
    public const byte Mpeg2Video = 0x02;

    /// <summary>MPEG-1 audio (layer I, II or III: ffmpeg writes mp2 and mp3 both with this type).</summary>
    public const byte Mpeg1Audio = 0x03;

    /// <summary>MPEG-2 audio (layers I-III at half sample rates).</summary>
    public const byte Mpeg2Audio = 0x04;

    /// <summary>PES packets with private data (AC-3, Opus and others, told apart by descriptors).</summary>
    public const byte PrivateData = 0x06;

    /// <summary>AAC in ADTS.</summary>
    public const byte AacAdts = 0x0F;

    /// <summary>MPEG-4 part 2 video.</summary>
    public const byte Mpeg4Video = 0x10;

    /// <summary>AAC in LATM.</summary>
    public const byte AacLatm = 0x11;

    /// <summary>Timed metadata (ID3).</summary>
    public const byte Metadata = 0x15;

    /// <summary>H.264 / AVC.</summary>
    public const byte H264 = 0x1B;

    /// <summary>H.265 / HEVC.</summary>
    public const byte Hevc = 0x24;

    /// <summary>AC-3 (ATSC).</summary>
    public const byte Ac3 = 0x81;

    /// <summary>E-AC-3 (ATSC).</summary>
    public const byte Eac3 = 0x87;

    /// <summary>The kind and codec name of a stream type, looking into the descriptors for private data.</summary>
    public static (TsStreamKind Kind, string Codec) Describe(byte streamType, ReadOnlySpan<byte> descriptors) => streamType switch
    {
        Mpeg1Video => (TsStreamKind.Video, "mpeg1video"),
        Mpeg2Video => (TsStreamKind.Video, "mpeg2video"),
        Mpeg4Video => (TsStreamKind.Video, "mpeg4"),
        H264 => (TsStreamKind.Video, "h264"),
        Hevc => (TsStreamKind.Video, "hevc"),
        0x33 => (TsStreamKind.Video, "vvc"),
        0x42 => (TsStreamKind.Video, "cavs"),
        0xD1 => (TsStreamKind.Video, "dirac"),
        0xEA => (TsStreamKind.Video, "vc1"),
        Mpeg1Audio or Mpeg2Audio => (TsStreamKind.Audio, "mpegaudio"),
        AacAdts => (TsStreamKind.Audio, "aac"),
        AacLatm => (TsStreamKind.Audio, "aac_latm"),
        0x1C => (TsStreamKind.Audio, "mpeg4audio"),
        Ac3 => (TsStreamKind.Audio, "ac3"),
        Eac3 => (TsStreamKind.Audio, "eac3"),
        0x82 or 0x85 or 0x8A => (TsStreamKind.Audio, "dts"),
        0x83 => (TsStreamKind.Audio, "truehd"),
        Metadata => (TsStreamKind.Other, "metadata"),
        0x86 => (TsStreamKind.Other, "scte35"),
        PrivateData => DescribePrivate(descriptors),
        _ => (TsStreamKind.Other, "unknown"),
    };

    // Private data says what it is only through descriptors: DVB's AC-3/E-AC-3/DTS/subtitling/teletext ones, or a
    // registration descriptor's format identifier (§2.6.8), which is how ffmpeg marks Opus and others.
    private static (TsStreamKind Kind, string Codec) DescribePrivate(ReadOnlySpan<byte> descriptors)
    {
        while (descriptors.Length >= 2)
        {
            var tag = descriptors[0];
            var length = descriptors[1];
            if (2 + length > descriptors.Length)
            {
                break;
            }

            var body = descriptors.Slice(2, length);
            switch (tag)
            {
                case 0x6A:
                    return (TsStreamKind.Audio, "ac3");
                case 0x7A:
                    return (TsStreamKind.Audio, "eac3");
                case 0x7B:
                    return (TsStreamKind.Audio, "dts");
                case 0x59:
                    return (TsStreamKind.Other, "dvb_subtitle");
                case 0x56:
                    return (TsStreamKind.Other, "dvb_teletext");
                case 0x05 when body.Length >= 4:
                    var format = body[..4];
                    if (format.SequenceEqual("Opus"u8))
                    {
                        return (TsStreamKind.Audio, "opus");
                    }

                    if (format.SequenceEqual("AC-3"u8))
                    {
                        return (TsStreamKind.Audio, "ac3");
                    }

                    if (format.SequenceEqual("EAC3"u8))
                    {
                        return (TsStreamKind.Audio, "eac3");
                    }

                    if (format.SequenceEqual("HEVC"u8))
                    {
                        return (TsStreamKind.Video, "hevc");
                    }

                    if (format.SequenceEqual("KLVA"u8))
                    {
                        return (TsStreamKind.Other, "klv");
                    }

                    break;
            }

            descriptors = descriptors[(2 + length)..];
        }

        return (TsStreamKind.Other, "private");
    }
}
