using Osprey.Media;

namespace Osprey.Codecs.Jpeg;

/// <summary>
/// The probe header carried in a JPEG: a COM segment right after SOI holding the 32 header bytes, so that
/// latency and skipped frames are measurable on JPEG paths too.
/// </summary>
/// <remarks>
/// <code>
/// FF D8            SOI
/// FF FE 00 22      COM, length 34 (the length field's 2 bytes + 32 payload bytes)
/// [32 bytes]       the probe header (see <see cref="ProbeHeader"/>)
/// ...              the rest of the JPEG, starting after its own SOI
/// </code>
/// A decoder ignores COM segments, so the picture is unchanged.
/// </remarks>
public static class JpegProbe
{
    /// <summary>Bytes of SOI plus the COM segment.</summary>
    public const int PrefixSize = 2 + 4 + ProbeHeader.Size;

    /// <summary>
    /// Writes SOI and the COM probe segment into the first <see cref="PrefixSize"/> bytes of
    /// <paramref name="destination"/>. The JPEG's own data, from just after its SOI, must follow at
    /// <see cref="PrefixSize"/>.
    /// </summary>
    /// <remarks>
    /// An encoder can write its JPEG at offset <c>PrefixSize - 2</c>: its SOI then lands on the last two bytes of
    /// the prefix, which this method overwrites, so the whole result is <c>PrefixSize - 2 + encodedLength</c>
    /// bytes with no copy. Call this after encoding in that case.
    /// </remarks>
    public static void WritePrefix(Span<byte> destination, in ProbeHeader header)
    {
        if (destination.Length < PrefixSize)
        {
            throw new ArgumentException($"The JPEG probe prefix needs {PrefixSize} bytes.", nameof(destination));
        }

        destination[0] = 0xFF;
        destination[1] = 0xD8;
        destination[2] = 0xFF;
        destination[3] = 0xFE;
        destination[4] = 0x00;
        destination[5] = 2 + ProbeHeader.Size;
        // The header alone, without the frame-trailer counter raw frames carry (a JPEG ends with EOI).
        Span<byte> scratch = stackalloc byte[ProbeHeader.Size + 4];
        header.WriteTo(scratch);
        scratch[..ProbeHeader.Size].CopyTo(destination[6..]);
    }

    /// <summary>Reads the probe header of a JPEG that starts with SOI and the COM probe segment.</summary>
    public static bool TryRead(ReadOnlySpan<byte> jpeg, out ProbeHeader header)
    {
        if (jpeg.Length < PrefixSize || jpeg[0] != 0xFF || jpeg[1] != 0xD8 || jpeg[2] != 0xFF || jpeg[3] != 0xFE ||
            jpeg[4] != 0x00 || jpeg[5] != 2 + ProbeHeader.Size)
        {
            header = default;
            return false;
        }

        return ProbeHeader.TryRead(jpeg.Slice(6, ProbeHeader.Size), out header);
    }

    /// <summary>
    /// Copies a JPEG into a frame rented from <paramref name="pool"/> with the probe segment after its SOI: the
    /// one copy every JPEG source makes. A JPEG that already carries a probe (from another Osprey upstream) keeps
    /// it, so latency stays measured end to end. Null when the bytes are not a JPEG (too short, or no SOI).
    /// </summary>
    /// <param name="pool">The pool of the feed the frame will be published to.</param>
    /// <param name="jpeg">The JPEG, starting with SOI.</param>
    /// <param name="counter">The source's frame counter for the probe.</param>
    /// <param name="captureMicros">Capture time on the wall clock, for the probe.</param>
    /// <param name="width">Picture width for the probe (0 when unknown).</param>
    /// <param name="height">Picture height for the probe (0 when unknown).</param>
    public static Frame? CopyToFrame(FramePool pool, ReadOnlySpan<byte> jpeg, uint counter, long captureMicros, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (jpeg.Length < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
        {
            return null;
        }

        var probed = TryRead(jpeg, out _);
        var length = probed ? jpeg.Length : jpeg.Length - 2 + PrefixSize;
        var frame = pool.Rent(length);
        var destination = frame.GetWritableSpan(length);
        if (probed)
        {
            jpeg.CopyTo(destination);
        }
        else
        {
            WritePrefix(destination, new ProbeHeader(counter, captureMicros, (ushort)width, (ushort)height, (uint)length));
            jpeg[2..].CopyTo(destination[PrefixSize..]);
        }

        return frame;
    }
}
