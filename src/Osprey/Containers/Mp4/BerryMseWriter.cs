using System.Buffers.Binary;

namespace Osprey.Containers.Mp4;

/// <summary>
/// BerryMSE's exact fragmented-MP4 layout (Ch3ri0ur/berrymse <c>src/bmff/bmff.go</c>), so that its unmodified
/// page (<c>msevideo.js</c>) plays Osprey's <c>/video_websocket</c>.
/// </summary>
/// <remarks>
/// <para>
/// The page classifies each WebSocket message by absolute offsets: bytes 76-79 == "trun" mean a media segment,
/// and byte 92, the top byte of trun's first_sample_flags, is 2 for an IDR and 1 otherwise; anything else is an
/// init segment. So nothing here may move: no extra box, no other tfhd or trun flags, one sample per trun.
/// </para>
/// <para>Init segment (S, P: SPS and PPS lengths), which differs from <see cref="Fmp4Writer"/>'s where noted:</para>
/// <code>
/// ftyp  36         isom, 0x200, [isom iso2 iso5 avc1 mp41]
/// moov  628+S+P
///   mvhd  108      timescale 1000, next_track_ID 0xFFFFFFFF
///   trak  456+S+P
///     tkhd  92     flags 7 (enabled, in movie, in preview), track 1, width, height 16.16
///     mdia  356+S+P
///       mdhd  32   timescale 10000, language und
///       hdlr  55   'vide', "MicroMSE Video Handler\0"
///       minf  261+S+P
///         vmhd 20, dinf 36
///         stbl  197+S+P
///           stsd  121+S+P   avc1 86 + avcC 19+S+P (no high-profile tail)
///           stsz 20, stsc 16, stts 16, stco 16   (this order)
///   mvex  56
///     mehd  16     fragment_duration 0
///     trex  32     default_sample_flags 0x00010000
/// </code>
/// <para>Media segment: one NAL unit (normally a slice) as one sample.</para>
/// <code>
/// offset size
///   0  104  moof
///   8   16    mfhd        sequence_number
///  24   80    traf
///  32   20      tfhd      flags 0x020020 (default-base-is-moof, default-sample-flags), track 1, 0x01010000
///  52   20      tfdt      version 1, baseMediaDecodeTime (64-bit, 10 kHz)
///  72   32      trun      flags 0x000305 ('trun' at 76-79), sample_count 1, data_offset 112 (88),
///                         first_sample_flags (92: 0x02000000 IDR, else 0x01010000), duration (96), size (100)
/// 104    8  mdat header
/// 112    4  NAL length
/// 116       NAL
/// </code>
/// <para>
/// BerryMSE itself sends 330 per frame in duration and tfdt (30.3 fps in its 10 kHz timescale) whatever the camera
/// does; here the caller passes real values. All methods are pure and thread-safe; nothing is allocated.
/// </para>
/// </remarks>
public static class BerryMseWriter
{
    /// <summary>Bytes of the moof box of every media segment; the page depends on it.</summary>
    public const int MoofSize = 104;

    /// <summary>The media timescale (mdhd) BerryMSE declares: tfdt and durations count 1/10000 s.</summary>
    public const uint Timescale = 10000;

    /// <summary>Where the page looks for the 'trun' fourcc.</summary>
    public const int TrunTypeOffset = 76;

    /// <summary>Where the page reads the top byte of first_sample_flags: 2 for IDR, 1 otherwise.</summary>
    public const int SyncFlagOffset = 92;

    private const int MfhdSize = BoxWriter.FullHeaderSize + 4;
    private const int TfhdSize = BoxWriter.FullHeaderSize + 8;
    private const int TfdtSize = BoxWriter.FullHeaderSize + 8;
    private const int TrunSize = BoxWriter.FullHeaderSize + 4 + 4 + 12;
    private const int TrafSize = BoxWriter.HeaderSize + TfhdSize + TfdtSize + TrunSize;
    /// <summary>Where the sample starts: the 104-byte moof and the mdat header (trun's data_offset, 112).</summary>
    public const int DataOffset = MoofSize + BoxWriter.HeaderSize;

    private static InitSegmentLayout Layout => new()
    {
        MediaTimescale = Timescale,
        NextTrackId = 0xFFFFFFFF,
        TrackHeaderFlags = 7, // enabled, in movie, in preview
        HandlerName = "MicroMSE Video Handler\0"u8,
        HighProfileTail = false,
        BerryMseTableOrder = true,
        MovieExtendsHeader = true,
        TrexDefaultSampleFlags = 0x00010000,
    };

    /// <summary>Bytes of the init segment for these parameter sets (NAL units with header byte, no start code).</summary>
    public static int GetInitSegmentSize(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps) =>
        InitSegmentWriter.GetSize(sps, pps, Layout);

    /// <summary>Writes BerryMSE's ftyp and moov; returns the bytes written, <see cref="GetInitSegmentSize"/>.</summary>
    /// <param name="destination">At least <see cref="GetInitSegmentSize"/> bytes.</param>
    /// <param name="sps">The SPS NAL unit, header byte included: avcC's profile, compatibility and level are its bytes 1-3.</param>
    /// <param name="pps">The PPS NAL unit, header byte included.</param>
    /// <param name="width">tkhd and avc1 width (BerryMSE takes it from its configuration; pass the SPS's).</param>
    /// <param name="height">tkhd and avc1 height.</param>
    public static int WriteInitSegment(Span<byte> destination, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, int width, int height) =>
        InitSegmentWriter.Write(destination, sps, pps, default, width, height, Layout);

    /// <summary>Bytes of the media segment for one NAL unit: 104 + 8 + 4 + its length.</summary>
    public static int GetMediaSegmentSize(ReadOnlySpan<byte> sliceNal) => DataOffset + 4 + sliceNal.Length;

    /// <summary>
    /// Writes BerryMSE's 104-byte moof and an mdat holding <paramref name="sliceNal"/> behind its 4-byte length;
    /// returns the bytes written, 104 + 8 + 4 + the NAL's length.
    /// </summary>
    /// <param name="destination">At least <see cref="GetMediaSegmentSize"/> bytes.</param>
    /// <param name="sliceNal">One NAL unit, header byte included, no start code (BerryMSE sends slices only).</param>
    /// <param name="sequenceNumber">mfhd sequence_number (BerryMSE counts per client from 1).</param>
    /// <param name="baseMediaDecodeTime">tfdt in 1/10000 s (<see cref="Timescale"/>).</param>
    /// <param name="duration">The sample's duration in 1/10000 s.</param>
    /// <param name="isIdr">True for an IDR slice: first_sample_flags 0x02000000 (byte 92 = 2), else 0x01010000.</param>
    public static int WriteMediaSegment(Span<byte> destination, ReadOnlySpan<byte> sliceNal, uint sequenceNumber, ulong baseMediaDecodeTime, uint duration, bool isIdr)
    {
        var size = GetMediaSegmentSize(sliceNal);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, size, nameof(destination));
        var w = WriteMoofAndMdatHeader(destination, 4 + sliceNal.Length, sequenceNumber, baseMediaDecodeTime, duration, isIdr);
        BinaryPrimitives.WriteUInt32BigEndian(destination[w..], (uint)sliceNal.Length);
        sliceNal.CopyTo(destination[(w + 4)..]);
        return size;
    }

    /// <summary>Bytes of the media segment for all the slice NALs of an Annex B access unit.</summary>
    public static int GetAccessUnitSegmentSize(ReadOnlySpan<byte> annexBAccessUnit) => DataOffset + SliceSampleSize(annexBAccessUnit);

    /// <summary>
    /// Writes the same 104-byte moof (so BerryMSE's page finds <c>trun</c> at 76 and the sync flag at 92) with one
    /// sample holding every slice NAL of the access unit, each behind its 4-byte length. For a single-slice
    /// camera (BerryMSE's Pi camera) this is byte for byte <see cref="WriteMediaSegment"/>; for multi-slice
    /// encoders (x264 zerolatency's sliced threads, many USB cameras) it keeps a picture's slices in one sample,
    /// where one sample per slice would give each slice its own timestamp and decode as broken pictures.
    /// </summary>
    public static int WriteAccessUnitSegment(Span<byte> destination, ReadOnlySpan<byte> annexBAccessUnit, uint sequenceNumber, ulong baseMediaDecodeTime, uint duration, bool isIdr)
    {
        var sampleSize = SliceSampleSize(annexBAccessUnit);
        var size = DataOffset + sampleSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, size, nameof(destination));
        var position = WriteMoofAndMdatHeader(destination, sampleSize, sequenceNumber, baseMediaDecodeTime, duration, isIdr);
        foreach (var nal in Osprey.Codecs.H264.AnnexB.EnumerateNalUnits(annexBAccessUnit))
        {
            if (IsSlice(nal))
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[position..], (uint)nal.Length);
                nal.CopyTo(destination[(position + 4)..]);
                position += 4 + nal.Length;
            }
        }

        return size;
    }

    private static bool IsSlice(ReadOnlySpan<byte> nal) =>
        Osprey.Codecs.H264.AnnexB.TypeOf(nal) is Osprey.Codecs.H264.NalUnitType.Slice or Osprey.Codecs.H264.NalUnitType.Idr;

    private static int SliceSampleSize(ReadOnlySpan<byte> annexBAccessUnit)
    {
        var size = 0;
        foreach (var nal in Osprey.Codecs.H264.AnnexB.EnumerateNalUnits(annexBAccessUnit))
        {
            if (IsSlice(nal))
            {
                size += 4 + nal.Length;
            }
        }

        return size;
    }

    /// <summary>Writes the moof and the mdat box header for one sample of <paramref name="sampleSize"/> bytes; returns where the sample goes.</summary>
    private static int WriteMoofAndMdatHeader(Span<byte> destination, int sampleSize, uint sequenceNumber, ulong baseMediaDecodeTime, uint duration, bool isIdr)
    {
        var w = new BoxWriter(destination);
        w.Box(MoofSize, "moof"u8);
        w.FullBox(MfhdSize, "mfhd"u8, 0, 0);
        w.U32(sequenceNumber);
        w.Box(TrafSize, "traf"u8);
        w.FullBox(TfhdSize, "tfhd"u8, 0, 0x020020); // default-base-is-moof | default-sample-flags-present
        w.U32(1); // track_ID
        w.U32(SampleFlags.NonSync); // default_sample_flags
        w.FullBox(TfdtSize, "tfdt"u8, 1, 0);
        w.U64(baseMediaDecodeTime);
        w.FullBox(TrunSize, "trun"u8, 0, 0x000305); // data-offset | first-sample-flags | duration | size
        w.U32(1); // sample_count
        w.U32(DataOffset);
        w.U32(isIdr ? SampleFlags.Sync : SampleFlags.NonSync); // first_sample_flags
        w.U32(duration);
        w.U32((uint)sampleSize); // sample_size
        w.Box(BoxWriter.HeaderSize + sampleSize, "mdat"u8);
        return w.Position;
    }
}
