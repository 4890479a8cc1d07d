using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Osprey.Codecs.Jpeg;

/// <summary>
/// The byte shuffles between packed and planar YUV that sit on either side of libjpeg-turbo's raw (planar) API:
/// pure code, vectorised with the cross-platform <see cref="Vector128"/> API so that x64 and ARM64 both get
/// SIMD (pack/unpack and widen/narrow map to single instructions on both).
/// </summary>
internal static class YuvPlanes
{
    /// <summary>
    /// Splits packed YUYV (Y0 U Y1 V) into a Y plane and U and V planes at half horizontal resolution. The rows
    /// of all three are contiguous (strides are width, width/2, width/2), so the whole picture is one run.
    /// </summary>
    public static void DeinterleaveYuyv(ReadOnlySpan<byte> yuyv, Span<byte> y, Span<byte> u, Span<byte> v)
    {
        var pairs = yuyv.Length / 4;
        Debug.Assert(yuyv.Length % 4 == 0 && y.Length >= pairs * 2 && u.Length >= pairs && v.Length >= pairs);
        ref var src = ref MemoryMarshal.GetReference(yuyv);
        ref var dstY = ref MemoryMarshal.GetReference(y);
        ref var dstU = ref MemoryMarshal.GetReference(u);
        ref var dstV = ref MemoryMarshal.GetReference(v);
        nuint pair = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // 16 pairs (64 source bytes) per step: even bytes are Y; odd bytes are U V U V, split once more.
            var low = Vector128.Create((ushort)0x00FF);
            for (; pair + 16 <= (nuint)pairs; pair += 16)
            {
                var a0 = Vector128.LoadUnsafe(ref src, pair * 4).AsUInt16();
                var a1 = Vector128.LoadUnsafe(ref src, (pair * 4) + 16).AsUInt16();
                var a2 = Vector128.LoadUnsafe(ref src, (pair * 4) + 32).AsUInt16();
                var a3 = Vector128.LoadUnsafe(ref src, (pair * 4) + 48).AsUInt16();
                Vector128.Narrow(a0 & low, a1 & low).StoreUnsafe(ref dstY, pair * 2);
                Vector128.Narrow(a2 & low, a3 & low).StoreUnsafe(ref dstY, (pair * 2) + 16);
                var c0 = Vector128.Narrow(a0 >> 8, a1 >> 8).AsUInt16();
                var c1 = Vector128.Narrow(a2 >> 8, a3 >> 8).AsUInt16();
                Vector128.Narrow(c0 & low, c1 & low).StoreUnsafe(ref dstU, pair);
                Vector128.Narrow(c0 >> 8, c1 >> 8).StoreUnsafe(ref dstV, pair);
            }
        }

        for (; pair < (nuint)pairs; pair++)
        {
            Unsafe.Add(ref dstY, pair * 2) = Unsafe.Add(ref src, pair * 4);
            Unsafe.Add(ref dstU, pair) = Unsafe.Add(ref src, (pair * 4) + 1);
            Unsafe.Add(ref dstY, (pair * 2) + 1) = Unsafe.Add(ref src, (pair * 4) + 2);
            Unsafe.Add(ref dstV, pair) = Unsafe.Add(ref src, (pair * 4) + 3);
        }
    }

    /// <summary>Splits interleaved U V U V (NV12's chroma plane) into a U plane and a V plane.</summary>
    public static void DeinterleaveUv(ReadOnlySpan<byte> uv, Span<byte> u, Span<byte> v)
    {
        var count = uv.Length / 2;
        Debug.Assert(uv.Length % 2 == 0 && u.Length >= count && v.Length >= count);
        ref var src = ref MemoryMarshal.GetReference(uv);
        ref var dstU = ref MemoryMarshal.GetReference(u);
        ref var dstV = ref MemoryMarshal.GetReference(v);
        nuint i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var low = Vector128.Create((ushort)0x00FF);
            for (; i + 16 <= (nuint)count; i += 16)
            {
                var a0 = Vector128.LoadUnsafe(ref src, i * 2).AsUInt16();
                var a1 = Vector128.LoadUnsafe(ref src, (i * 2) + 16).AsUInt16();
                Vector128.Narrow(a0 & low, a1 & low).StoreUnsafe(ref dstU, i);
                Vector128.Narrow(a0 >> 8, a1 >> 8).StoreUnsafe(ref dstV, i);
            }
        }

        for (; i < (nuint)count; i++)
        {
            Unsafe.Add(ref dstU, i) = Unsafe.Add(ref src, i * 2);
            Unsafe.Add(ref dstV, i) = Unsafe.Add(ref src, (i * 2) + 1);
        }
    }

    /// <summary>
    /// Packs one row: <paramref name="u"/>.Length pixel pairs from a Y row and U and V rows at half horizontal
    /// resolution into YUYV.
    /// </summary>
    public static void PackYuyvRow(ReadOnlySpan<byte> y, ReadOnlySpan<byte> u, ReadOnlySpan<byte> v, Span<byte> yuyv)
    {
        var pairs = u.Length;
        Debug.Assert(v.Length >= pairs && y.Length >= pairs * 2 && yuyv.Length >= pairs * 4);
        ref var srcY = ref MemoryMarshal.GetReference(y);
        ref var srcU = ref MemoryMarshal.GetReference(u);
        ref var srcV = ref MemoryMarshal.GetReference(v);
        ref var dst = ref MemoryMarshal.GetReference(yuyv);
        nuint pair = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // Zero-extending a byte vector to 16-bit lanes and shifting another into the high bytes interleaves
            // them: first U with V (U V U V), then Y with that (Y U Y V).
            for (; pair + 16 <= (nuint)pairs; pair += 16)
            {
                var u16 = Vector128.LoadUnsafe(ref srcU, pair);
                var v16 = Vector128.LoadUnsafe(ref srcV, pair);
                var uvLow = (Vector128.WidenLower(u16) | (Vector128.WidenLower(v16) << 8)).AsByte();
                var uvHigh = (Vector128.WidenUpper(u16) | (Vector128.WidenUpper(v16) << 8)).AsByte();
                var y0 = Vector128.LoadUnsafe(ref srcY, pair * 2);
                var y1 = Vector128.LoadUnsafe(ref srcY, (pair * 2) + 16);
                (Vector128.WidenLower(y0) | (Vector128.WidenLower(uvLow) << 8)).AsByte().StoreUnsafe(ref dst, pair * 4);
                (Vector128.WidenUpper(y0) | (Vector128.WidenUpper(uvLow) << 8)).AsByte().StoreUnsafe(ref dst, (pair * 4) + 16);
                (Vector128.WidenLower(y1) | (Vector128.WidenLower(uvHigh) << 8)).AsByte().StoreUnsafe(ref dst, (pair * 4) + 32);
                (Vector128.WidenUpper(y1) | (Vector128.WidenUpper(uvHigh) << 8)).AsByte().StoreUnsafe(ref dst, (pair * 4) + 48);
            }
        }

        for (; pair < (nuint)pairs; pair++)
        {
            Unsafe.Add(ref dst, pair * 4) = Unsafe.Add(ref srcY, pair * 2);
            Unsafe.Add(ref dst, (pair * 4) + 1) = Unsafe.Add(ref srcU, pair);
            Unsafe.Add(ref dst, (pair * 4) + 2) = Unsafe.Add(ref srcY, (pair * 2) + 1);
            Unsafe.Add(ref dst, (pair * 4) + 3) = Unsafe.Add(ref srcV, pair);
        }
    }

    /// <summary>
    /// One output row of vertical 2x chroma upsampling: <c>(3 * near + far + 2) / 4</c>, the triangle filter
    /// libjpeg's own "fancy" upsampling uses, since a subsampled chroma row sits midway between two luma rows.
    /// </summary>
    public static void BlendRows(ReadOnlySpan<byte> near, ReadOnlySpan<byte> far, Span<byte> destination)
    {
        var count = destination.Length;
        Debug.Assert(near.Length >= count && far.Length >= count);
        ref var n = ref MemoryMarshal.GetReference(near);
        ref var f = ref MemoryMarshal.GetReference(far);
        ref var d = ref MemoryMarshal.GetReference(destination);
        nuint i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var two = Vector128.Create((ushort)2);
            for (; i + 16 <= (nuint)count; i += 16)
            {
                var nv = Vector128.LoadUnsafe(ref n, i);
                var fv = Vector128.LoadUnsafe(ref f, i);
                var low = ((Vector128.WidenLower(nv) * 3) + Vector128.WidenLower(fv) + two) >> 2;
                var high = ((Vector128.WidenUpper(nv) * 3) + Vector128.WidenUpper(fv) + two) >> 2;
                Vector128.Narrow(low, high).StoreUnsafe(ref d, i);
            }
        }

        for (; i < (nuint)count; i++)
        {
            Unsafe.Add(ref d, i) = (byte)(((Unsafe.Add(ref n, i) * 3) + Unsafe.Add(ref f, i) + 2) >> 2);
        }
    }

    /// <summary>Full-resolution chroma (4:4:4, 4:4:0) to one sample per pixel pair: the pair's mean.</summary>
    public static void HalveRow(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var last = source.Length - 1;
        for (var j = 0; j < destination.Length; j++)
        {
            // An odd width leaves the last pair one real pixel: it pairs with itself.
            destination[j] = (byte)((source[2 * j] + source[Math.Min((2 * j) + 1, last)] + 1) >> 1);
        }
    }

    /// <summary>
    /// Quarter-resolution chroma (4:1:1) to one sample per pixel pair: each sample covers two pairs, and each
    /// pair leans a quarter towards the neighbouring sample on its side (the triangle filter again).
    /// </summary>
    public static void DoubleRow(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var last = source.Length - 1;
        for (var j = 0; j < destination.Length; j++)
        {
            var c = j >> 1;
            var neighbour = (j & 1) == 0 ? Math.Max(c - 1, 0) : Math.Min(c + 1, last);
            destination[j] = (byte)(((source[c] * 3) + source[neighbour] + 2) >> 2);
        }
    }

    /// <summary>
    /// Expands BT.601 limited range (the studio swing V4L2 cameras and Osprey's raw frames use: Y 16-235,
    /// Cb/Cr 16-240) to the full range JFIF JPEGs are read in, so that a decoder shows the right colours:
    /// <c>Y' = (Y - 16) * 255 / 219</c>, <c>C' = (C - 128) * 255 / 224 + 128</c>, clamped. Source and
    /// destination may be the same span.
    /// </summary>
    /// <remarks>
    /// Fixed point in 16-bit lanes: after clamping to the legal range the offset value fits 0-224, and
    /// 224 x 291 + 256 still fits an unsigned 16-bit lane, so eight pixels go per multiply.
    /// </remarks>
    public static void ExpandToFullRange(ReadOnlySpan<byte> source, Span<byte> destination, bool luma)
    {
        Debug.Assert(destination.Length >= source.Length);
        // Luma: 255/219 = 1.1644 ~ 298/256; chroma: 255/224 = 1.1384 ~ 291/256 (with a half-step offset so 128 stays 128).
        var low = (byte)16;
        var high = luma ? (byte)235 : (byte)240;
        var scale = luma ? (ushort)298 : (ushort)291;
        var round = luma ? (ushort)128 : (ushort)256;
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        nuint i = 0;
        var length = (nuint)source.Length;
        if (Vector128.IsHardwareAccelerated)
        {
            var lowVector = Vector128.Create(low);
            var highVector = Vector128.Create(high);
            var scaleVector = Vector128.Create(scale);
            var roundVector = Vector128.Create(round);
            for (; i + 16 <= length; i += 16)
            {
                var value = Vector128.Min(Vector128.Max(Vector128.LoadUnsafe(ref src, i), lowVector), highVector) - lowVector;
                var lower = ((Vector128.WidenLower(value) * scaleVector) + roundVector) >> 8;
                var upper = ((Vector128.WidenUpper(value) * scaleVector) + roundVector) >> 8;
                Vector128.Narrow(Vector128.Min(lower, Vector128.Create((ushort)255)), Vector128.Min(upper, Vector128.Create((ushort)255)))
                    .StoreUnsafe(ref dst, i);
            }
        }

        for (; i < length; i++)
        {
            var value = Math.Clamp(Unsafe.Add(ref src, i), low, high) - low;
            Unsafe.Add(ref dst, i) = (byte)Math.Min(255, ((value * scale) + round) >> 8);
        }
    }

    /// <summary>
    /// The inverse of <see cref="ExpandToFullRange"/>, in place: full-range JPEG samples to BT.601 limited range
    /// for raw (YUYV) viewers. Table-driven: decoding is the rarer path.
    /// </summary>
    public static void CompressToLimitedRange(Span<byte> samples, bool luma)
    {
        var table = luma ? s_fullToLimitedLuma : s_fullToLimitedChroma;
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = table[samples[i]];
        }
    }

    private static readonly byte[] s_fullToLimitedLuma = BuildTable(219);
    private static readonly byte[] s_fullToLimitedChroma = BuildTable(224);

    private static byte[] BuildTable(int span)
    {
        // Y = 16 + Y' * 219 / 255; C = 128 + (C' - 128) * 224 / 255, rounded.
        var table = new byte[256];
        for (var v = 0; v < 256; v++)
        {
            table[v] = span == 219
                ? (byte)(16 + (((v * 219) + 127) / 255))
                : (byte)Math.Clamp(128 + (int)Math.Round((v - 128) * 224 / 255.0), 16, 240);
        }

        return table;
    }
}
