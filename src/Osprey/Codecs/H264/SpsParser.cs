using System.Buffers;

namespace Osprey.Codecs.H264;

/// <summary>Parses H.264 sequence parameter sets (ITU-T H.264 §7.3.2.1.1, VUI in Annex E.1.1).</summary>
public static class SpsParser
{
    // An SPS is tens of bytes; scaling lists and HRD parameters can add a few hundred.
    private const int StackRbspSize = 512;

    /// <summary>
    /// Parses an SPS NAL unit (header byte included, no start code) with emulation-prevention removal, exp-Golomb
    /// codes, the high-profile fields (chroma_format_idc, bit depths, scaling lists), frame cropping (width and
    /// height after cropping) and VUI timing. False for truncated or corrupt input; never throws.
    /// </summary>
    /// <remarks>
    /// <see cref="SpsInfo.FrameRate"/> is time_scale / (2 × num_units_in_tick) whenever timing_info_present_flag
    /// is set, whatever fixed_frame_rate_flag says: x264 (ffmpeg's libx264) clears that flag yet writes the
    /// nominal rate. Parsing stops after the timing info; what follows is not needed.
    /// </remarks>
    public static bool TryParse(ReadOnlySpan<byte> spsNal, out SpsInfo info)
    {
        info = default;
        if (spsNal.Length < 4 || AnnexB.TypeOf(spsNal) != NalUnitType.Sps || (spsNal[0] & 0x80) != 0)
        {
            return false;
        }

        var payload = spsNal[1..];
        byte[]? rented = null;
        var rbsp = payload.Length <= StackRbspSize
            ? stackalloc byte[StackRbspSize]
            : (rented = ArrayPool<byte>.Shared.Rent(payload.Length));
        try
        {
            var length = Rbsp.Unescape(payload, rbsp);
            return TryParseRbsp(rbsp[..length], out info);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static bool TryParseRbsp(ReadOnlySpan<byte> rbsp, out SpsInfo info)
    {
        info = default;
        var r = new BitReader(rbsp);
        var profile = (byte)r.ReadBits(8);
        var constraints = (byte)r.ReadBits(8);
        var level = (byte)r.ReadBits(8);
        var spsId = r.ReadUe();
        if (spsId > 31)
        {
            return false;
        }

        var chromaFormat = 1;
        var separateColourPlane = false;
        var bitDepthLuma = 8;
        var bitDepthChroma = 8;
        if (profile is 100 or 110 or 122 or 244 or 44 or 83 or 86 or 118 or 128 or 138 or 139 or 134 or 135)
        {
            chromaFormat = (int)r.ReadUe();
            if (chromaFormat > 3)
            {
                return false;
            }

            if (chromaFormat == 3)
            {
                separateColourPlane = r.ReadBit() == 1;
            }

            var lumaMinus8 = r.ReadUe();
            var chromaMinus8 = r.ReadUe();
            if (lumaMinus8 > 6 || chromaMinus8 > 6)
            {
                return false;
            }

            bitDepthLuma = (int)lumaMinus8 + 8;
            bitDepthChroma = (int)chromaMinus8 + 8;
            r.ReadBit(); // qpprime_y_zero_transform_bypass_flag
            if (r.ReadBit() == 1)
            {
                // seq_scaling_matrix_present_flag: scaling_list() for each present list, 6 of 4x4 then 8x8 ones.
                var lists = chromaFormat != 3 ? 8 : 12;
                for (var i = 0; i < lists && !r.Failed; i++)
                {
                    if (r.ReadBit() == 1)
                    {
                        SkipScalingList(ref r, i < 6 ? 16 : 64);
                    }
                }
            }
        }

        var log2MaxFrameNumMinus4 = r.ReadUe();
        var pocType = r.ReadUe();
        if (log2MaxFrameNumMinus4 > 12 || pocType > 2)
        {
            return false;
        }

        if (pocType == 0)
        {
            if (r.ReadUe() > 12)
            {
                return false; // log2_max_pic_order_cnt_lsb_minus4
            }
        }
        else if (pocType == 1)
        {
            r.ReadBit(); // delta_pic_order_always_zero_flag
            r.ReadSe(); // offset_for_non_ref_pic
            r.ReadSe(); // offset_for_top_to_bottom_field
            var cycle = r.ReadUe();
            if (cycle > 255)
            {
                return false;
            }

            for (var i = 0; i < cycle && !r.Failed; i++)
            {
                r.ReadSe(); // offset_for_ref_frame[i]
            }
        }

        r.ReadUe(); // max_num_ref_frames
        r.ReadBit(); // gaps_in_frame_num_value_allowed_flag
        var widthInMbs = r.ReadUe() + 1;
        var heightInMapUnits = r.ReadUe() + 1;
        var frameMbsOnly = r.ReadBit();
        if (frameMbsOnly == 0)
        {
            r.ReadBit(); // mb_adaptive_frame_field_flag
        }

        r.ReadBit(); // direct_8x8_inference_flag
        uint cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
        if (r.ReadBit() == 1)
        {
            cropLeft = r.ReadUe();
            cropRight = r.ReadUe();
            cropTop = r.ReadUe();
            cropBottom = r.ReadUe();
        }

        double? frameRate = null;
        if (r.ReadBit() == 1)
        {
            frameRate = ReadVuiFrameRate(ref r);
        }

        if (r.Failed || widthInMbs > 1024 || heightInMapUnits > 1024)
        {
            return false;
        }

        // §7.4.2.1.1: frame height in macroblocks doubles for field coding; crop units per (7-19)..(7-22).
        var width = (long)widthInMbs * 16;
        var height = (2 - frameMbsOnly) * (long)heightInMapUnits * 16;
        var chromaArrayType = separateColourPlane ? 0 : chromaFormat;
        var cropUnitX = chromaArrayType == 0 ? 1 : chromaFormat == 3 ? 1 : 2;
        var cropUnitY = (chromaArrayType == 0 ? 1 : chromaFormat == 1 ? 2 : 1) * (2 - frameMbsOnly);
        width -= cropUnitX * ((long)cropLeft + cropRight);
        height -= cropUnitY * ((long)cropTop + cropBottom);
        if (width <= 0 || height <= 0)
        {
            return false;
        }

        info = new SpsInfo(profile, constraints, level, (int)spsId, (int)width, (int)height, chromaFormat, frameRate)
        {
            BitDepthLuma = bitDepthLuma,
            BitDepthChroma = bitDepthChroma,
        };
        return true;
    }

    // §7.3.2.1.1.1 scaling_list(): only delta_scale values are coded; they are read and dropped.
    private static void SkipScalingList(ref BitReader r, int size)
    {
        var last = 8;
        var next = 8;
        for (var j = 0; j < size && !r.Failed; j++)
        {
            if (next != 0)
            {
                var delta = r.ReadSe();
                next = (int)((last + delta + 256) % 256);
            }

            last = next == 0 ? last : next;
        }
    }

    // Annex E.1.1 vui_parameters() up to the timing info.
    private static double? ReadVuiFrameRate(ref BitReader r)
    {
        if (r.ReadBit() == 1)
        {
            // aspect_ratio_info_present_flag; 255 is Extended_SAR with sar_width and sar_height.
            if (r.ReadBits(8) == 255)
            {
                r.ReadBits(16);
                r.ReadBits(16);
            }
        }

        if (r.ReadBit() == 1)
        {
            r.ReadBit(); // overscan_appropriate_flag
        }

        if (r.ReadBit() == 1)
        {
            // video_signal_type_present_flag: video_format(3), video_full_range_flag(1), colour description.
            r.ReadBits(4);
            if (r.ReadBit() == 1)
            {
                r.ReadBits(24);
            }
        }

        if (r.ReadBit() == 1)
        {
            r.ReadUe(); // chroma_sample_loc_type_top_field
            r.ReadUe(); // chroma_sample_loc_type_bottom_field
        }

        if (r.ReadBit() == 0)
        {
            return null; // timing_info_present_flag
        }

        var numUnitsInTick = r.ReadBits(32);
        var timeScale = r.ReadBits(32);
        return numUnitsInTick == 0 || timeScale == 0 || r.Failed ? null : timeScale / (2.0 * numUnitsInTick);
    }
}

/// <summary>Raw byte sequence payload: a NAL unit's payload without emulation-prevention bytes (H.264 §7.4.1).</summary>
internal static class Rbsp
{
    /// <summary>
    /// Copies <paramref name="escaped"/> into <paramref name="destination"/> without the 03 of each 00 00 03, and
    /// returns the bytes written (at most <paramref name="destination"/>'s length; the rest is cut).
    /// </summary>
    public static int Unescape(ReadOnlySpan<byte> escaped, Span<byte> destination)
    {
        var written = 0;
        while (!escaped.IsEmpty)
        {
            // In the escaped bytes every 00 00 03 is an emulation_prevention_three_byte.
            var ep = escaped.IndexOf(EmulationPrevention);
            var take = ep < 0 ? escaped.Length : ep + 2;
            var room = destination.Length - written;
            if (take >= room)
            {
                escaped[..room].CopyTo(destination[written..]);
                return destination.Length;
            }

            escaped[..take].CopyTo(destination[written..]);
            written += take;
            escaped = escaped[(ep < 0 ? take : ep + 3)..];
        }

        return written;
    }

    private static ReadOnlySpan<byte> EmulationPrevention => [0, 0, 3];
}

/// <summary>
/// Reads bits MSB first, with exp-Golomb codes (H.264 §9.1). Reading past the end yields zeros and sets
/// <see cref="Failed"/>, so a parser checks once at the end instead of after every field.
/// </summary>
internal ref struct BitReader
{
    private readonly ReadOnlySpan<byte> _data;
    private long _bit;

    public BitReader(ReadOnlySpan<byte> data) => _data = data;

    public bool Failed { readonly get; private set; }

    public uint ReadBit()
    {
        var index = _bit >> 3;
        if (index >= _data.Length)
        {
            Failed = true;
            return 0;
        }

        var bit = (uint)(_data[(int)index] >> (7 - (int)(_bit & 7))) & 1;
        _bit++;
        return bit;
    }

    public uint ReadBits(int count)
    {
        uint value = 0;
        for (var i = 0; i < count; i++)
        {
            value = (value << 1) | ReadBit();
        }

        return value;
    }

    /// <summary>ue(v): leading zeros n, a 1, then n bits; the value is 2^n − 1 + those bits. Up to 2^32 − 2.</summary>
    public uint ReadUe()
    {
        var zeros = 0;
        while (ReadBit() == 0)
        {
            if (Failed || ++zeros > 31)
            {
                Failed = true;
                return 0;
            }
        }

        return zeros == 0 ? 0 : (uint)((1L << zeros) - 1 + ReadBits(zeros));
    }

    /// <summary>se(v): ue(v) k mapped to (−1)^(k+1) × ⌈k ÷ 2⌉.</summary>
    public long ReadSe()
    {
        var k = ReadUe();
        return (k & 1) == 1 ? (k + 1L) / 2 : -(long)(k / 2);
    }
}
