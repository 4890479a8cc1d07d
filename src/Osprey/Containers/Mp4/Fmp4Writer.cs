using System.Buffers.Binary;
using Osprey.Codecs.H264;

namespace Osprey.Containers.Mp4;

/// <summary>
/// ISO/IEC 14496-12 fragmented MP4 for Media Source Extensions: one video track, H.264 in avc1 sample entries
/// (ISO/IEC 14496-15 avcC), one access unit per media segment.
/// </summary>
/// <remarks>
/// <para>Init segment (sizes in bytes; S, P: SPS and PPS lengths; H: 4 for high profiles, else 0):</para>
/// <code>
/// ftyp  36        isom, 0x200, [isom iso2 iso5 avc1 mp41]
/// moov  602+S+P+H
///   mvhd  108     timescale 1000, duration 0, next_track_ID 2
///   trak  446+S+P+H
///     tkhd  92    flags 3 (enabled, in movie), track 1, width and height from the SPS (after cropping), 16.16
///     mdia  346+S+P+H
///       mdhd  32  timescale 90000, language und
///       hdlr  45  'vide', "VideoHandler\0"
///       minf  261+S+P+H
///         vmhd  20
///         dinf  36  dref(url , flags 1)
///         stbl  197+S+P+H
///           stsd  121+S+P+H   avc1 86 + avcC 19+S+P+H
///           stts 16, stsc 16, stsz 20, stco 16   (empty: the samples are in the fragments)
///   mvex  40
///     trex  32    track 1, description 1, defaults 0
/// </code>
/// <para>Media segment, one access unit as one sample:</para>
/// <code>
/// moof  100
///   mfhd  16      sequence_number
///   traf  76
///     tfhd  16    flags 0x020000 (default-base-is-moof), track 1
///     tfdt  20    version 1: baseMediaDecodeTime (64-bit, 90 kHz)
///     trun  32    flags 0x000701 (data-offset, duration, size, flags), 1 sample, data_offset 108
/// mdat  8 + Σ(4 + NAL)   the access unit's NAL units, each behind a 4-byte length (AVCC); SPS, PPS and AUD left out
/// </code>
/// <para>
/// Decode order is presentation order (no composition offsets), which holds for streams without B-frames, as
/// low-latency encoders produce (x264 <c>-tune zerolatency</c>, <c>-bf 0</c>). All methods are pure and
/// thread-safe; nothing is allocated.
/// </para>
/// </remarks>
public static class Fmp4Writer
{
    /// <summary>The media timescale (mdhd, tfdt, sample durations): 90 kHz, as MPEG systems use.</summary>
    public const uint Timescale = 90000;

    /// <summary>The movie timescale (mvhd); nothing in a fragmented movie is measured in it.</summary>

    private const int MfhdSize = BoxWriter.FullHeaderSize + 4;
    private const int TfhdSize = BoxWriter.FullHeaderSize + 4;
    private const int TfdtSize = BoxWriter.FullHeaderSize + 8;
    private const int TrunSize = BoxWriter.FullHeaderSize + 4 + 4 + 12;
    private const int TrafSize = BoxWriter.HeaderSize + TfhdSize + TfdtSize + TrunSize;

    /// <summary>Bytes of the moof box of every media segment.</summary>
    public const int MoofSize = BoxWriter.HeaderSize + MfhdSize + TrafSize;


    private const uint TfhdDefaultBaseIsMoof = 0x020000;
    private const uint TrunDataOffset = 0x000001;
    private const uint TrunSampleDuration = 0x000100;
    private const uint TrunSampleSize = 0x000200;
    private const uint TrunSampleFlags = 0x000400;

    private static InitSegmentLayout Layout => new()
    {
        MediaTimescale = Timescale,
        NextTrackId = 2,
        TrackHeaderFlags = 3, // track_enabled | track_in_movie
        HandlerName = "VideoHandler\0"u8,
        HighProfileTail = true,
        BerryMseTableOrder = false,
        MovieExtendsHeader = false,
        TrexDefaultSampleFlags = 0,
    };

    /// <summary>Bytes of the init segment for these parameter sets (NAL units with header byte, no start code).</summary>
    public static int GetInitSegmentSize(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps) =>
        InitSegmentWriter.GetSize(sps, pps, Layout);

    /// <summary>
    /// Writes ftyp and moov (see the remarks) with an avcC holding <paramref name="sps"/> and
    /// <paramref name="pps"/>; returns the bytes written, <see cref="GetInitSegmentSize"/>.
    /// </summary>
    /// <param name="destination">At least <see cref="GetInitSegmentSize"/> bytes.</param>
    /// <param name="sps">The SPS NAL unit, header byte included, no start code.</param>
    /// <param name="pps">The PPS NAL unit, header byte included, no start code.</param>
    /// <param name="info">What <paramref name="sps"/> says (<see cref="SpsParser"/>): dimensions, chroma format and bit depths.</param>
    public static int WriteInitSegment(Span<byte> destination, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, in SpsInfo info) =>
        InitSegmentWriter.Write(destination, sps, pps, info, info.Width, info.Height, Layout);

    /// <summary>Bytes of the media segment for this access unit (Annex B, 3- or 4-byte start codes).</summary>
    public static int GetMediaSegmentSize(ReadOnlySpan<byte> annexBAccessUnit) =>
        MoofSize + BoxWriter.HeaderSize + GetSampleSize(annexBAccessUnit);

    /// <summary>
    /// Writes moof and mdat (see the remarks) with the access unit as one sample; returns the bytes written,
    /// <see cref="GetMediaSegmentSize"/>.
    /// </summary>
    /// <param name="destination">At least <see cref="GetMediaSegmentSize"/> bytes.</param>
    /// <param name="annexBAccessUnit">One access unit in Annex B, as <see cref="AccessUnitAssembler"/> delivers it.</param>
    /// <param name="sequenceNumber">mfhd sequence_number: the feed's fragment count, from 1.</param>
    /// <param name="baseMediaDecodeTime">tfdt: the access unit's decode time in <see cref="Timescale"/> units.</param>
    /// <param name="sampleDuration">The access unit's duration in <see cref="Timescale"/> units.</param>
    /// <param name="isKeyFrame">True for an IDR access unit: a sync sample that depends on no other.</param>
    public static int WriteMediaSegment(Span<byte> destination, ReadOnlySpan<byte> annexBAccessUnit, uint sequenceNumber, ulong baseMediaDecodeTime, uint sampleDuration, bool isKeyFrame)
    {
        // One pass over the access unit: the moof has a constant size, so the samples' place is known before their
        // total is; each NAL unit is copied there behind its length, then the headers are written in front. (The
        // NAL-unit scan costs as much as the copy, so it is not done twice.) A destination too small for the
        // samples is found before anything past it is written.
        var pos = MoofSize + BoxWriter.HeaderSize;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, pos, nameof(destination));
        foreach (var nal in AnnexB.EnumerateNalUnits(annexBAccessUnit))
        {
            if (IsInSample(nal))
            {
                if (destination.Length - pos < 4 + nal.Length)
                {
                    ThrowTooSmall(destination, annexBAccessUnit);
                }

                BinaryPrimitives.WriteUInt32BigEndian(destination[pos..], (uint)nal.Length);
                nal.CopyTo(destination[(pos + 4)..]);
                pos += 4 + nal.Length;
            }
        }

        var sampleSize = pos - MoofSize - BoxWriter.HeaderSize;
        var w = new BoxWriter(destination);
        w.Box(MoofSize, "moof"u8);
        w.FullBox(MfhdSize, "mfhd"u8, 0, 0);
        w.U32(sequenceNumber);
        w.Box(TrafSize, "traf"u8);
        w.FullBox(TfhdSize, "tfhd"u8, 0, TfhdDefaultBaseIsMoof);
        w.U32(1); // track_ID
        w.FullBox(TfdtSize, "tfdt"u8, 1, 0);
        w.U64(baseMediaDecodeTime);
        w.FullBox(TrunSize, "trun"u8, 0, TrunDataOffset | TrunSampleDuration | TrunSampleSize | TrunSampleFlags);
        w.U32(1); // sample_count
        w.U32(MoofSize + BoxWriter.HeaderSize); // data_offset: from the moof's first byte (default-base-is-moof)
        w.U32(sampleDuration);
        w.U32((uint)sampleSize);
        w.U32(isKeyFrame ? SampleFlags.Sync : SampleFlags.NonSync);
        w.Box(BoxWriter.HeaderSize + sampleSize, "mdat"u8);
        return pos;
    }

    /// <summary>
    /// An upper bound of <see cref="GetMediaSegmentSize"/> from the access unit's length alone, for sizing a buffer
    /// without scanning the access unit: a NAL unit's length field is at most one byte longer than its start code,
    /// and every NAL unit with its start code takes at least 4 bytes.
    /// </summary>
    public static int GetMaxMediaSegmentSize(int annexBAccessUnitLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(annexBAccessUnitLength);
        return checked(MoofSize + BoxWriter.HeaderSize + annexBAccessUnitLength + (annexBAccessUnitLength / 4));
    }

    /// <summary>The AVCC sample's size: 4 + length of each NAL unit that goes in it.</summary>
    internal static int GetSampleSize(ReadOnlySpan<byte> annexBAccessUnit)
    {
        var size = 0;
        foreach (var nal in AnnexB.EnumerateNalUnits(annexBAccessUnit))
        {
            if (IsInSample(nal))
            {
                size += 4 + nal.Length;
            }
        }

        return size;
    }

    // Parameter sets live in avcC and AUDs are not allowed in samples (14496-15 §5.3.2); SEI and slices stay.
    private static bool IsInSample(ReadOnlySpan<byte> nal) =>
        AnnexB.TypeOf(nal) is not (NalUnitType.Sps or NalUnitType.Pps or NalUnitType.Aud);

    private static void ThrowTooSmall(Span<byte> destination, ReadOnlySpan<byte> annexBAccessUnit) =>
        throw new ArgumentOutOfRangeException(nameof(destination), destination.Length, $"The media segment needs {GetMediaSegmentSize(annexBAccessUnit)} bytes.");

    internal static void ValidateParameterSets(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps)
    {
        if (sps.Length < 4 || sps.Length > ushort.MaxValue || AnnexB.TypeOf(sps) != NalUnitType.Sps)
        {
            throw new ArgumentException("An SPS NAL unit (header byte included, 4 to 65535 bytes) is required.", nameof(sps));
        }

        if (pps.Length < 2 || pps.Length > ushort.MaxValue || AnnexB.TypeOf(pps) != NalUnitType.Pps)
        {
            throw new ArgumentException("A PPS NAL unit (header byte included, 2 to 65535 bytes) is required.", nameof(pps));
        }
    }
}
