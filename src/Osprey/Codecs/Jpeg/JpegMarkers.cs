using System.Buffers.Binary;

namespace Osprey.Codecs.Jpeg;

/// <summary>
/// JPEG marker codes (ITU-T T.81 Table B.1) and a reader for the image size in the frame header.
/// </summary>
/// <remarks>
/// <code>
/// FF D8                       SOI, no length
/// FF xx LL LL [LL LL - 2]     a marker segment: the 2-byte big-endian length counts itself
/// FF C0 LL LL P YY YY XX XX … SOFn: precision, height (Y), width (X), components
/// FF DA LL LL [header]        SOS, then entropy-coded data up to the next marker (FF 00 is a stuffed FF,
///                             FF D0-D7 are restart markers inside it)
/// FF D9                       EOI, no length
/// </code>
/// Any marker may be preceded by fill bytes (FF). Markers 01 (TEM), D0-D7 (RST), D8 (SOI) and D9 (EOI) have no
/// length; every other marker is followed by one.
/// </remarks>
public static class JpegMarkers
{
    /// <summary>Start of image.</summary>
    internal const byte Soi = 0xD8;

    /// <summary>End of image.</summary>
    internal const byte Eoi = 0xD9;

    /// <summary>Start of scan: its header is followed by entropy-coded data.</summary>
    internal const byte Sos = 0xDA;

    /// <summary>
    /// Reads the width and height from the first start-of-frame segment (SOF0-3, 5-7, 9-B, D-F) of a JPEG.
    /// </summary>
    /// <returns>
    /// <see langword="false"/> when <paramref name="jpeg"/> does not start with SOI, is truncated or corrupt before
    /// the frame header, reaches a scan or EOI before it, or declares a zero dimension (a height deferred to a DNL
    /// marker is not resolved).
    /// </returns>
    public static bool TryReadSize(ReadOnlySpan<byte> jpeg, out int width, out int height)
    {
        width = 0;
        height = 0;
        if (jpeg.Length < 2 || jpeg[0] != 0xFF || jpeg[1] != Soi)
        {
            return false;
        }

        var pos = 2;
        while (true)
        {
            if (pos >= jpeg.Length || jpeg[pos] != 0xFF)
            {
                return false;
            }

            // Fill bytes: any number of FF may precede the marker code.
            while (pos < jpeg.Length && jpeg[pos] == 0xFF)
            {
                pos++;
            }

            if (pos >= jpeg.Length)
            {
                return false;
            }

            var code = jpeg[pos++];
            if (HasNoLength(code))
            {
                // SOI/EOI here, or a scan without a frame header, means there is no size to read.
                if (code is Soi or Eoi)
                {
                    return false;
                }

                continue;
            }

            if (IsImpossibleInHeader(code) || code == Sos || jpeg.Length - pos < 2)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(jpeg[pos..]);
            if (!IsPlausibleLength(code, length))
            {
                return false;
            }

            if (IsStartOfFrame(code))
            {
                // Lf(2) P(1) Y(2) X(2): the dimensions sit 3 and 5 bytes into the segment.
                if (jpeg.Length - pos < 7)
                {
                    return false;
                }

                height = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(pos + 3)..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(pos + 5)..]);
                if (width == 0 || height == 0)
                {
                    width = 0;
                    height = 0;
                    return false;
                }

                return true;
            }

            pos += length;
        }
    }

    /// <summary>SOF0-3, 5-7, 9-B, D-F: the C0-CF range minus DHT (C4), JPG (C8) and DAC (CC).</summary>
    internal static bool IsStartOfFrame(byte code) => (code & 0xF0) == 0xC0 && code is not (0xC4 or 0xC8 or 0xCC);

    /// <summary>TEM (01), RST0-7 (D0-D7), SOI and EOI stand alone; every other marker carries a length.</summary>
    internal static bool HasNoLength(byte code) => code == 0x01 || (uint)(code - 0xD0) <= Eoi - 0xD0;

    /// <summary>
    /// Whether <paramref name="length"/> (counting its own 2 bytes) is possible for marker <paramref name="code"/>.
    /// Most segments vary, but T.81 B.2 fixes a few: a frame header is 8 + 3 per component, a scan header 6 + 2 per
    /// component (1-4), DRI and DNL 4. Checking them catches a cut image whose length field reads bytes of the next
    /// image, which would otherwise skip far into the stream.
    /// </summary>
    internal static bool IsPlausibleLength(byte code, int length)
    {
        if (length < 2)
        {
            return false;
        }

        if (IsStartOfFrame(code))
        {
            return length >= 11 && (length - 8) % 3 == 0;
        }

        return code switch
        {
            Sos => length is 8 or 10 or 12 or 14,
            0xDD or 0xDC => length == 4,
            _ => true,
        };
    }

    /// <summary>
    /// 00 is a stuffed FF, never a marker, and 02-BF are reserved codes no encoder writes; seeing either where a
    /// marker must be means the stream is not a JPEG there (T.81 Table B.1).
    /// </summary>
    internal static bool IsImpossibleInHeader(byte code) => code == 0x00 || (uint)(code - 0x02) <= 0xBF - 0x02;
}
