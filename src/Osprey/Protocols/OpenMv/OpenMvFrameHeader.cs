using System.Buffers.Binary;

namespace Osprey.Protocols.OpenMv;

/// <summary>
/// The header the stream channel's data starts with (<c>framebuffer_header_t</c>, openmv/openmv
/// <c>lib/imlib/framebuffer.h</c>): width, height, pixel format, size (bytes if compressed, otherwise bytes per
/// pixel), the offset of the image data, and the frame rate.
/// </summary>
/// <remarks>
/// <code>
/// 0  u32 width
/// 4  u32 height
/// 8  u32 pixfmt  (flags:8 | pixfmt_id:8 | subfmt_id:8 | bpp:8, most significant first)
/// 12 u32 size    ("depth" in openmv-python)
/// 16 u32 offset  (= the header's size, aligned; image data starts here)
/// 20 f32 fps
/// </code>
/// openmv-python reads only the first 20 bytes; so does this.
/// </remarks>
public readonly record struct OpenMvFrameHeader(uint Width, uint Height, uint PixelFormat, uint Size, uint Offset)
{
    /// <summary>Bytes the host needs to parse.</summary>
    public const int MinimumSize = 20;

    /// <summary>Bytes the header occupies with its fps field.</summary>
    public const int FullSize = 24;

    /// <summary><c>PIXFORMAT_GRAYSCALE</c>.</summary>
    public const uint Grayscale = 0x08020001;

    /// <summary><c>PIXFORMAT_RGB565</c>.</summary>
    public const uint Rgb565 = 0x0C030002;

    /// <summary><c>PIXFORMAT_JPEG</c>.</summary>
    public const uint Jpeg = 0x06060000;

    /// <summary>The pixel format's id byte (2 gray, 3 RGB565, 6 JPEG).</summary>
    public byte PixelFormatId => (byte)(PixelFormat >> 16);

    /// <summary>True for a JPEG frame.</summary>
    public bool IsJpeg => PixelFormatId == 6;

    /// <summary>Bytes of image data after <see cref="Offset"/>: the size for compressed frames, else w × h × bpp.</summary>
    public long ImageBytes => IsJpeg ? Size : (long)Width * Height * Size;

    /// <summary>Reads the header; false when fewer than 20 bytes or the fields make no sense.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out OpenMvFrameHeader header)
    {
        header = default;
        if (data.Length < MinimumSize)
        {
            return false;
        }

        var candidate = new OpenMvFrameHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(data),
            BinaryPrimitives.ReadUInt32LittleEndian(data[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[16..]));
        if (candidate.Offset < MinimumSize || candidate.Offset > 4096 || candidate.Width is 0 or > 8192 || candidate.Height is 0 or > 8192)
        {
            return false;
        }

        header = candidate;
        return true;
    }

    /// <summary>Writes the 24-byte header (for the emulator and tests).</summary>
    public void WriteTo(Span<byte> destination, float fps = 0)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Width);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Height);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], PixelFormat);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Offset);
        BinaryPrimitives.WriteSingleLittleEndian(destination[20..], fps);
    }
}
