namespace Osprey.Codecs.H264;

/// <summary>The <c>nal_unit_type</c> of an H.264 NAL unit (ITU-T H.264 Table 7-1), the low 5 bits of its header byte.</summary>
public enum NalUnitType : byte
{
    /// <summary>0: unspecified; also what <see cref="AnnexB.TypeOf"/> answers for an empty NAL.</summary>
    Unspecified = 0,

    /// <summary>1: coded slice of a non-IDR picture.</summary>
    Slice = 1,

    /// <summary>2: coded slice data partition A.</summary>
    SliceDataA = 2,

    /// <summary>3: coded slice data partition B.</summary>
    SliceDataB = 3,

    /// <summary>4: coded slice data partition C.</summary>
    SliceDataC = 4,

    /// <summary>5: coded slice of an IDR picture (a key frame).</summary>
    Idr = 5,

    /// <summary>6: supplemental enhancement information.</summary>
    Sei = 6,

    /// <summary>7: sequence parameter set.</summary>
    Sps = 7,

    /// <summary>8: picture parameter set.</summary>
    Pps = 8,

    /// <summary>9: access unit delimiter.</summary>
    Aud = 9,

    /// <summary>10: end of sequence.</summary>
    EndOfSequence = 10,

    /// <summary>11: end of stream.</summary>
    EndOfStream = 11,

    /// <summary>12: filler data.</summary>
    Filler = 12,
}
