namespace Osprey.Protocols.OpenMv;

/// <summary>
/// The two CRCs of OpenMV protocol V2 (openmv/openmv <c>common/omv_crc.c</c>, openmv-python <c>crc.py</c>):
/// MSB-first (non-reflected) table CRCs with no final XOR. CRC-16 (poly 0xF94F, init 0xFFFF) covers the 8 header
/// bytes before it; CRC-32 (poly 0xFA567D89, init 0xFFFFFFFF) covers a non-empty payload.
/// </summary>
/// <remarks>Reference vectors: <c>Crc16("123456789") = 0xE541</c>, <c>Crc32("123456789") = 0x41B403D3</c>.</remarks>
public static class OpenMvCrc
{
    /// <summary>CRC-16 polynomial.</summary>
    public const ushort Poly16 = 0xF94F;

    /// <summary>CRC-32 polynomial.</summary>
    public const uint Poly32 = 0xFA567D89;

    // Byte-at-a-time tables, built once: 1.5 KiB, and 8x fewer steps than the bitwise form on 4 KiB payloads.
    private static readonly ushort[] s_table16 = BuildTable16();
    private static readonly uint[] s_table32 = BuildTable32();

    /// <summary>CRC-16 of <paramref name="data"/>.</summary>
    public static ushort Crc16(ReadOnlySpan<byte> data)
    {
        ushort crc = 0xFFFF;
        var table = s_table16;
        foreach (var b in data)
        {
            crc = (ushort)((crc << 8) ^ table[(byte)((crc >> 8) ^ b)]);
        }

        return crc;
    }

    /// <summary>CRC-32 of <paramref name="data"/>.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        var table = s_table32;
        foreach (var b in data)
        {
            crc = (crc << 8) ^ table[(byte)((crc >> 24) ^ b)];
        }

        return crc;
    }

    private static ushort[] BuildTable16()
    {
        var table = new ushort[256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ushort)(i << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ Poly16) : (ushort)(crc << 1);
            }

            table[i] = crc;
        }

        return table;
    }

    private static uint[] BuildTable32()
    {
        var table = new uint[256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (uint)i << 24;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x80000000) != 0 ? (crc << 1) ^ Poly32 : crc << 1;
            }

            table[i] = crc;
        }

        return table;
    }
}
