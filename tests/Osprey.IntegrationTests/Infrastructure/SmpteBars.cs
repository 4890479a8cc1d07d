using System.Diagnostics;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>ffmpeg's smptebars as a source, and its colours checked in what Osprey made of it.</summary>
public static class SmpteBars
{
    /// <summary>smptebars' seven top bars at 75 % (BT.601 limited range), as full-range RGB.</summary>
    public static readonly byte[][] BarsRgb =
    [
        [191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0], [191, 0, 191], [191, 0, 0], [0, 0, 191],
    ];

    /// <summary>The seven bars' centres on the top half of the picture, each within a tolerance of its colour.</summary>
    public static void AssertBars(byte[] rgb, int width, string what, int tolerance = 28)
    {
        for (var bar = 0; bar < 7; bar++)
        {
            var x = (int)((bar + 0.5) * width / 7);
            var y = 60;
            var offset = ((y * width) + x) * 3;
            var actual = rgb.AsSpan(offset, 3).ToArray();
            PagePixels.AssertColour(actual, BarsRgb[bar], $"{what}: bar {bar}", tolerance);
        }
    }

    /// <summary>A picture (JPEG bytes or a video file) decoded by ffmpeg to packed RGB: its last frame.</summary>
    public static async Task<byte[]> DecodeToRgbAsync(object input, int width, int height)
    {
        var file = input as string;
        var temporary = file is null ? Path.Combine(Path.GetTempPath(), $"osprey-{Guid.NewGuid():N}.jpg") : null;
        if (temporary is not null)
        {
            await File.WriteAllBytesAsync(temporary, (byte[])input);
        }

        try
        {
            var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "-v", "error", "-i", file ?? temporary!, "-f", "rawvideo", "-pix_fmt", "rgb24", "-" })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            using var output = new MemoryStream();
            var errors = process.StandardError.ReadToEndAsync();
            await process.StandardOutput.BaseStream.CopyToAsync(output);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, await errors);
            var frame = width * height * 3;
            Assert.True(output.Length >= frame, $"ffmpeg decoded {output.Length} bytes: {await errors}");
            // The last whole frame of what was decoded.
            return output.ToArray().AsSpan((int)(output.Length / frame * frame) - frame, frame).ToArray();
        }
        finally
        {
            if (temporary is not null)
            {
                File.Delete(temporary);
            }
        }
    }
}
