namespace Osprey.Codecs.H264;

/// <summary>What Osprey needs from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1).</summary>
/// <param name="ProfileIdc">profile_idc: 66 baseline, 77 main, 100 high, …</param>
/// <param name="ConstraintFlags">The byte of constraint_set0..5_flag and reserved_zero_2bits.</param>
/// <param name="LevelIdc">level_idc: ten times the level (40 is level 4.0).</param>
/// <param name="SpsId">seq_parameter_set_id.</param>
/// <param name="Width">Width in pixels after frame cropping.</param>
/// <param name="Height">Height in pixels after frame cropping.</param>
/// <param name="ChromaFormatIdc">chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.</param>
/// <param name="FrameRate">time_scale / (2 × num_units_in_tick) from the VUI timing info, when present.</param>
public readonly record struct SpsInfo(byte ProfileIdc, byte ConstraintFlags, byte LevelIdc, int SpsId, int Width, int Height, int ChromaFormatIdc, double? FrameRate)
{
    /// <summary>Luma bit depth (bit_depth_luma_minus8 + 8); 8 outside the high profiles.</summary>
    public int BitDepthLuma { get; init; } = 8;

    /// <summary>Chroma bit depth (bit_depth_chroma_minus8 + 8); 8 outside the high profiles.</summary>
    public int BitDepthChroma { get; init; } = 8;

    /// <summary>
    /// The RFC 6381 codec string for MSE's <c>codecs</c> parameter, "avc1.PPCCLL": profile, constraint byte and
    /// level in hex, e.g. <c>avc1.640028</c> (High, level 4.0).
    /// </summary>
    public string CodecString => $"avc1.{ProfileIdc:x2}{ConstraintFlags:x2}{LevelIdc:x2}";
}
