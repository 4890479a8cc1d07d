namespace Osprey.Containers.MpegTs;

/// <summary>
/// CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial value 0xFFFFFFFF, bits MSB first,
/// no final XOR. A PSI section including its CRC_32 field checks to zero.
/// </summary>
public static class TsCrc32
{
    private static readonly uint[] s_table = CreateTable();

    /// <summary>The CRC of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        var table = s_table;
        foreach (var b in data)
        {
            crc = (crc << 8) ^ table[(crc >> 24) ^ b];
        }

        return crc;
    }

    /// <summary>True when <paramref name="section"/>, its trailing 4-byte CRC_32 included, checks.</summary>
    public static bool IsValid(ReadOnlySpan<byte> section) => section.Length >= 4 && Compute(section) == 0;

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (var i = 0u; i < 256; i++)
        {
            var crc = i << 24;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x80000000) != 0 ? (crc << 1) ^ 0x04C11DB7 : crc << 1;
            }

            table[i] = crc;
        }

        return table;
    }
}
