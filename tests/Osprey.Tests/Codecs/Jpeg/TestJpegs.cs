using System.Diagnostics;

namespace Osprey.Tests.Codecs.Jpeg;


/// <summary>
/// Hand-built JPEG byte sequences: structurally complete (SOI, APP0, DQT, SOF, DHT, DRI, SOS, entropy-coded data
/// with stuffed FF 00 and restart markers, EOI) though not meant to decode to a picture.
/// </summary>
internal static class TestJpegs
{
    public static byte[] Baseline(int width = 16, int height = 8, int entropyLength = 64, int fillBytes = 0, byte seed = 1)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        Segment(o, 0xE0, [.. "JFIF\0"u8, 0x01, 0x02, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
        Tables(o, seed);
        o.AddRange(Enumerable.Repeat((byte)0xFF, fillBytes));
        Segment(o, 0xC0, Frame(width, height));
        Segment(o, 0xC4, [0x00, 0x01, .. new byte[15], 0x00]);
        Segment(o, 0xDD, [0x00, 0x04]);
        o.AddRange(Enumerable.Repeat((byte)0xFF, fillBytes));
        Segment(o, 0xDA, [0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        EntropyData(o, entropyLength, seed);
        o.AddRange(Enumerable.Repeat((byte)0xFF, fillBytes));
        o.AddRange([0xFF, 0xD9]);
        return [.. o];
    }

    /// <summary>An APP1 (EXIF) segment holds a complete thumbnail JPEG, SOI to EOI, before the real frame header.</summary>
    public static byte[] WithThumbnail(int width = 64, int height = 48, byte seed = 1)
    {
        var thumbnail = Baseline(8, 8, 20, 0, (byte)(seed + 100));
        var o = new List<byte> { 0xFF, 0xD8 };
        Segment(o, 0xE1, [.. "Exif\0\0"u8, .. thumbnail]);
        Tables(o, seed);
        Segment(o, 0xC0, Frame(width, height));
        Segment(o, 0xC4, [0x00, 0x01, .. new byte[15], 0x00]);
        Segment(o, 0xDA, [0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        EntropyData(o, 50, seed);
        o.AddRange([0xFF, 0xD9]);
        return [.. o];
    }

    /// <summary>SOF2 and two scans, each with its own DHT, as a progressive encoder writes them.</summary>
    public static byte[] Progressive(int width = 32, int height = 16, byte seed = 1)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        Tables(o, seed);
        Segment(o, 0xC2, Frame(width, height));
        Segment(o, 0xC4, [0x00, 0x01, .. new byte[15], 0x00]);
        Segment(o, 0xDA, [0x01, 0x01, 0x00, 0x00, 0x00, 0x00]);
        EntropyData(o, 30, seed);
        Segment(o, 0xC4, [0x10, 0x01, .. new byte[15], 0x01]);
        Segment(o, 0xFE, [.. "between scans"u8]);
        Segment(o, 0xDA, [0x01, 0x01, 0x00, 0x01, 0x3F, 0x00]);
        EntropyData(o, 40, (byte)(seed + 1));
        o.AddRange([0xFF, 0xD9]);
        return [.. o];
    }

    private static void Tables(List<byte> o, byte seed)
    {
        var table = new byte[65];
        for (var i = 1; i < table.Length; i++)
        {
            table[i] = (byte)(1 + ((i * 7 + seed) % 99));
        }

        Segment(o, 0xDB, table);
    }

    private static byte[] Frame(int width, int height) =>
        [0x08, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 0x01, 0x01, 0x11, 0x00];

    private static void Segment(List<byte> o, byte marker, byte[] body)
    {
        var length = body.Length + 2;
        o.AddRange([0xFF, marker, (byte)(length >> 8), (byte)length]);
        o.AddRange(body);
    }

    /// <summary>Random bytes where every FF is stuffed (FF 00), with a restart marker every 16 bytes.</summary>
    private static void EntropyData(List<byte> o, int length, byte seed)
    {
        var random = new Random(seed);
        var restart = 0;
        for (var i = 0; i < length; i++)
        {
            var b = (byte)random.Next(256);
            if (i % 5 == 2)
            {
                b = 0xFF; // more FFs than chance would give, so stuffing shows up in every sample
            }

            o.Add(b);
            if (b == 0xFF)
            {
                o.Add(0x00);
            }

            if (i % 16 == 15)
            {
                o.AddRange([0xFF, (byte)(0xD0 + (restart++ % 8))]);
            }
        }
    }
}

/// <summary>Real JPEGs from ffmpeg's MJPEG encoder, made once per test run.</summary>
internal static class FfmpegJpegs
{
    private static readonly Lazy<IReadOnlyList<byte[]>> s_frames320x240 = new(() => Generate(320, 240, 5));

    /// <summary>Five testsrc2 frames, 320x240, each as its own file's bytes.</summary>
    public static IReadOnlyList<byte[]> Frames320x240 => s_frames320x240.Value;

    private static IReadOnlyList<byte[]> Generate(int width, int height, int frames)
    {
        var dir = Directory.CreateTempSubdirectory("osprey-jpeg-");
        try
        {
            // One file per frame (image2) gives the exact boundaries that the concatenated stream hides.
            var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
            foreach (var arg in new[]
            {
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", $"testsrc2=size={width}x{height}:rate=30",
                "-frames:v", frames.ToString(), "-c:v", "mjpeg", "-f", "image2", Path.Combine(dir.FullName, "%03d.jpg"),
            })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"ffmpeg failed: {errors}");
            return [.. dir.GetFiles("*.jpg").OrderBy(f => f.Name).Select(f => File.ReadAllBytes(f.FullName))];
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
