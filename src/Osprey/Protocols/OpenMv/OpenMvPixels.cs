using System.Buffers.Binary;

namespace Osprey.Protocols.OpenMv;

/// <summary>
/// Converts the stream channel's uncompressed frames to YUYV (BT.601 limited range, what Osprey's raw frames are).
/// </summary>
/// <remarks>
/// RGB565 pixels are little-endian u16 as they sit in the camera's memory (Cortex-M is little-endian; the stream
/// channel sends the framebuffer as is). Odd widths lose their last column (YUYV pairs pixels).
/// </remarks>
public static class OpenMvPixels
{
    /// <summary>Bytes of the YUYV picture for <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static int YuyvSize(int width, int height) => (width & ~1) * height * 2;

    /// <summary>Grayscale (1 byte per pixel, full range) to YUYV.</summary>
    public static void GrayscaleToYuyv(ReadOnlySpan<byte> gray, int width, int height, Span<byte> yuyv)
    {
        var evenWidth = width & ~1;
        for (var y = 0; y < height; y++)
        {
            var source = gray.Slice(y * width, width);
            var destination = yuyv.Slice(y * evenWidth * 2, evenWidth * 2);
            for (var x = 0; x < evenWidth; x++)
            {
                destination[2 * x] = LumaFromFull(source[x]);
                destination[(2 * x) + 1] = 128;
            }
        }
    }

    /// <summary>RGB565 (little-endian u16 per pixel) to YUYV.</summary>
    public static void Rgb565ToYuyv(ReadOnlySpan<byte> rgb565, int width, int height, Span<byte> yuyv)
    {
        var evenWidth = width & ~1;
        for (var y = 0; y < height; y++)
        {
            var source = rgb565.Slice(y * width * 2, width * 2);
            var destination = yuyv.Slice(y * evenWidth * 2, evenWidth * 2);
            for (var x = 0; x < evenWidth; x += 2)
            {
                Expand(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * x)..]), out var r0, out var g0, out var b0);
                Expand(BinaryPrimitives.ReadUInt16LittleEndian(source[((2 * x) + 2)..]), out var r1, out var g1, out var b1);
                var r = (r0 + r1) / 2;
                var g = (g0 + g1) / 2;
                var b = (b0 + b1) / 2;
                var o = 2 * x;
                destination[o] = Luma(r0, g0, b0);
                destination[o + 1] = Clamp(128 + (((-38 * r) - (74 * g) + (112 * b) + 128) >> 8));
                destination[o + 2] = Luma(r1, g1, b1);
                destination[o + 3] = Clamp(128 + (((112 * r) - (94 * g) - (18 * b) + 128) >> 8));
            }
        }
    }

    private static void Expand(ushort pixel, out int r, out int g, out int b)
    {
        r = ((pixel >> 11) & 0x1F) * 255 / 31;
        g = ((pixel >> 5) & 0x3F) * 255 / 63;
        b = (pixel & 0x1F) * 255 / 31;
    }

    // BT.601 limited range: Y = 16 + (66R + 129G + 25B) / 256.
    private static byte Luma(int r, int g, int b) => Clamp(16 + (((66 * r) + (129 * g) + (25 * b) + 128) >> 8));

    private static byte LumaFromFull(byte value) => (byte)(16 + (((value * 219) + 127) / 255));

    private static byte Clamp(int value) => (byte)Math.Clamp(value, 0, 255);
}
