using Osprey.Codecs.H264;

namespace Osprey.Containers.Mp4;

/// <summary>
/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1): what an avcC box carries and what WebCodecs
/// takes as its <c>description</c>. One SPS, one PPS, 4-byte NAL lengths.
/// </summary>
public static class AvcDecoderConfiguration
{
    /// <summary>Bytes of the record without the parameter sets and the high-profile tail.</summary>
    public const int FixedSize = 6 + 2 + 1 + 2;

    /// <summary>Bytes of the high-profile tail (chroma format, bit depths, no SPS extensions).</summary>
    public const int HighProfileTailSize = 4;

    /// <summary>
    /// True for profiles other than 66, 77 and 88 (§5.3.3.1.2), whose record carries chroma format and bit depths
    /// after the PPS.
    /// </summary>
    public static bool HasHighProfileTail(ReadOnlySpan<byte> sps) => sps.Length > 1 && sps[1] is not (66 or 77 or 88);

    /// <summary>Bytes of the record; with <paramref name="tail"/> the high-profile tail is counted where the profile has one.</summary>
    public static int GetSize(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, bool tail) =>
        FixedSize + sps.Length + pps.Length + (tail && HasHighProfileTail(sps) ? HighProfileTailSize : 0);

    /// <summary>
    /// Writes the record: profile, compatibility and level copied from the SPS's bytes 1-3; the high-profile tail
    /// from <paramref name="tail"/> when given and the profile has one. Returns the bytes written.
    /// </summary>
    /// <param name="destination">At least <see cref="GetSize"/> bytes.</param>
    /// <param name="sps">The SPS NAL unit, header byte included, no start code.</param>
    /// <param name="pps">The PPS NAL unit, header byte included, no start code.</param>
    /// <param name="tail">What the SPS says of chroma format and bit depths; null to leave the tail out.</param>
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps, SpsInfo? tail)
    {
        var size = GetSize(sps, pps, tail is not null);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, size, nameof(destination));
        destination[0] = 1; // configurationVersion
        sps.Slice(1, 3).CopyTo(destination[1..]); // AVCProfileIndication, profile_compatibility, AVCLevelIndication
        destination[4] = 0xFF; // reserved '111111'b, lengthSizeMinusOne 3
        destination[5] = 0xE1; // reserved '111'b, numOfSequenceParameterSets 1
        destination[6] = (byte)(sps.Length >> 8);
        destination[7] = (byte)sps.Length;
        sps.CopyTo(destination[8..]);
        var at = 8 + sps.Length;
        destination[at] = 1; // numOfPictureParameterSets
        destination[at + 1] = (byte)(pps.Length >> 8);
        destination[at + 2] = (byte)pps.Length;
        pps.CopyTo(destination[(at + 3)..]);
        at += 3 + pps.Length;
        if (tail is { } info && HasHighProfileTail(sps))
        {
            destination[at++] = (byte)(0xFC | (info.ChromaFormatIdc & 3)); // reserved '111111'b, chroma_format
            destination[at++] = (byte)(0xF8 | ((info.BitDepthLuma - 8) & 7)); // reserved '11111'b, bit_depth_luma_minus8
            destination[at++] = (byte)(0xF8 | ((info.BitDepthChroma - 8) & 7)); // reserved '11111'b, bit_depth_chroma_minus8
            destination[at++] = 0; // numOfSequenceParameterSetExt
        }

        return at;
    }
}
