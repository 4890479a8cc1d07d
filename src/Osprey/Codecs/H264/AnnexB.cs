using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Osprey.Codecs.H264;

/// <summary>
/// The H.264 Annex B byte stream format: NAL units separated by start codes (ITU-T H.264 Annex B.1).
/// </summary>
/// <remarks>
/// <code>
/// [00]* 00 00 01 [NAL] [00]* 00 00 01 [NAL] ... [00]*
///  │     └ start code prefix (3 bytes; a 4-byte start code is a zero_byte plus these 3)
///  └ leading_zero_8bits / trailing_zero_8bits: belong to no NAL
/// NAL:  [header: forbidden_zero_bit(1) nal_ref_idc(2) nal_unit_type(5)] [payload with emulation prevention]
/// </code>
/// Emulation prevention (§7.4.1) guarantees that 00 00 00, 00 00 01 and 00 00 02 never occur inside a NAL, and a
/// NAL's last byte is never 00 (rbsp_trailing_bits end with a 1 bit; cabac_zero_words are written 00 00 03), so
/// trimming trailing zeros never cuts into a NAL.
/// </remarks>
public static class AnnexB
{
    /// <summary>The 3-byte start code prefix 00 00 01.</summary>
    internal static ReadOnlySpan<byte> StartCode => [0, 0, 1];

    /// <summary>
    /// Enumerates NAL units (start codes removed, trailing zero bytes trimmed) of an Annex B buffer with 3- and
    /// 4-byte start codes; bytes before the first start code are skipped.
    /// </summary>
    /// <remarks>
    /// A buffer with no start code yields no NAL unit. NAL units that are empty after trimming are skipped. A
    /// truncated last NAL unit is yielded as it is: the buffer cannot tell it from a whole one. Allocates nothing.
    /// </remarks>
    public static NalEnumerator EnumerateNalUnits(ReadOnlySpan<byte> annexB) => new(annexB);

    /// <summary>The type of a NAL unit (<c>nal[0] &amp; 0x1F</c>); <see cref="NalUnitType.Unspecified"/> for an empty one.</summary>
    public static NalUnitType TypeOf(ReadOnlySpan<byte> nal) => nal.IsEmpty ? NalUnitType.Unspecified : (NalUnitType)(nal[0] & 0x1F);

    /// <summary>
    /// True when the access unit's picture is an IDR: its first slice NAL unit is of type
    /// <see cref="NalUnitType.Idr"/>. Looks no further than that slice (all slices of a picture share its type),
    /// so a camera's large frame is not scanned to the end.
    /// </summary>
    public static bool ContainsIdr(ReadOnlySpan<byte> annexB)
    {
        foreach (var nal in EnumerateNalUnits(annexB))
        {
            var type = TypeOf(nal);
            if (IsVcl(type))
            {
                return type == NalUnitType.Idr;
            }
        }

        return false;
    }

    /// <summary>True for the coded-slice types 1 to 5 (VCL NAL units of a primary picture).</summary>
    internal static bool IsVcl(NalUnitType type) => type is >= NalUnitType.Slice and <= NalUnitType.Idr;

    /// <summary>The index of the first 00 00 01 in <paramref name="span"/>, or -1.</summary>
    /// <remarks>
    /// The split and mux time of a frame is this scan plus one copy, so it is vectorised here rather than left to
    /// <c>IndexOf(ReadOnlySpan)</c>: three overlapping loads per block and one test, <c>(b[i] | b[i+1]) == 0 &amp;&amp;
    /// b[i+2] == 1</c>, instead of a first-and-last-byte filter that must then verify candidates.
    /// </remarks>
    internal static int IndexOfStartCode(ReadOnlySpan<byte> span)
    {
        nuint i = 0;
        ref var start = ref MemoryMarshal.GetReference(span);
        if (Vector512.IsHardwareAccelerated && span.Length >= Vector512<byte>.Count + 2)
        {
            var one = Vector512.Create((byte)1);
            var last = (nuint)(span.Length - 2 - Vector512<byte>.Count);
            for (; i <= last; i += (nuint)Vector512<byte>.Count)
            {
                var hit = Vector512.Equals(Vector512.LoadUnsafe(ref start, i) | Vector512.LoadUnsafe(ref start, i + 1), Vector512<byte>.Zero) &
                    Vector512.Equals(Vector512.LoadUnsafe(ref start, i + 2), one);
                if (hit != Vector512<byte>.Zero)
                {
                    return (int)i + BitOperations.TrailingZeroCount(hit.ExtractMostSignificantBits());
                }
            }
        }
        else if (Vector256.IsHardwareAccelerated && span.Length >= Vector256<byte>.Count + 2)
        {
            var one = Vector256.Create((byte)1);
            var last = (nuint)(span.Length - 2 - Vector256<byte>.Count);
            for (; i <= last; i += (nuint)Vector256<byte>.Count)
            {
                var hit = Vector256.Equals(Vector256.LoadUnsafe(ref start, i) | Vector256.LoadUnsafe(ref start, i + 1), Vector256<byte>.Zero) &
                    Vector256.Equals(Vector256.LoadUnsafe(ref start, i + 2), one);
                if (hit != Vector256<byte>.Zero)
                {
                    return (int)i + BitOperations.TrailingZeroCount(hit.ExtractMostSignificantBits());
                }
            }
        }

        // The tail (under one vector) and machines without wide vectors.
        var rest = span[(int)i..].IndexOf(StartCode);
        return rest < 0 ? -1 : (int)i + rest;
    }

    /// <summary>The span without its trailing zero bytes.</summary>
    internal static ReadOnlySpan<byte> TrimTrailingZeros(ReadOnlySpan<byte> span)
    {
        var last = span.LastIndexOfAnyExcept((byte)0);
        return span[..(last + 1)];
    }
}

/// <summary>Enumerates the NAL units of an Annex B buffer; see <see cref="AnnexB.EnumerateNalUnits"/>.</summary>
public ref struct NalEnumerator
{
    // Bytes after the last start code found; _done once the buffer is exhausted.
    private ReadOnlySpan<byte> _rest;
    private bool _done;

    internal NalEnumerator(ReadOnlySpan<byte> annexB)
    {
        var first = AnnexB.IndexOfStartCode(annexB);
        _done = first < 0;
        _rest = _done ? default : annexB[(first + 3)..];
        Current = default;
    }

    /// <summary>The current NAL unit: header byte first, no start code, no trailing zeros.</summary>
    public ReadOnlySpan<byte> Current { readonly get; private set; }

    /// <summary>Returns this enumerator, for <c>foreach</c>.</summary>
    public readonly NalEnumerator GetEnumerator() => this;

    /// <summary>Moves to the next non-empty NAL unit.</summary>
    public bool MoveNext()
    {
        while (!_done)
        {
            // Inside a NAL unit 00 00 only occurs as 00 00 03, so the first 00 00 01 ends it.
            var next = AnnexB.IndexOfStartCode(_rest);
            ReadOnlySpan<byte> nal;
            if (next < 0)
            {
                nal = _rest;
                _done = true;
            }
            else
            {
                nal = _rest[..next];
                _rest = _rest[(next + 3)..];
            }

            nal = AnnexB.TrimTrailingZeros(nal);
            if (!nal.IsEmpty)
            {
                Current = nal;
                return true;
            }
        }

        Current = default;
        return false;
    }
}
