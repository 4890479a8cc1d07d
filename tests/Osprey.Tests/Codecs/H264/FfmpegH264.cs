using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Osprey.Tests.Codecs.H264;

/// <summary>Real H.264 Annex B streams from ffmpeg's libx264 (testsrc2), made once per test run and kept.</summary>
internal static class FfmpegH264
{
    private static readonly ConcurrentDictionary<string, Lazy<byte[]>> s_streams = new(StringComparer.Ordinal);

    /// <summary>
    /// <c>ffmpeg -f lavfi -i testsrc2=size=WxH:rate=30 -frames:v N -c:v libx264 -profile:v P -g 10 -bf 0 [extra] -f h264</c>.
    /// </summary>
    public static byte[] Encode(int width, int height, string profile = "high", int frames = 30, params string[] extra)
    {
        var args = new List<string>
        {
            "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
            string.Create(CultureInfo.InvariantCulture, $"testsrc2=size={width}x{height}:rate=30"),
            "-frames:v", frames.ToString(CultureInfo.InvariantCulture), "-c:v", "libx264", "-profile:v", profile,
            "-g", "10", "-bf", "0",
        };
        args.AddRange(extra);
        args.AddRange(["-f", "h264", "pipe:1"]);
        var key = string.Join(' ', args);
        return s_streams.GetOrAdd(key, _ => new Lazy<byte[]>(() => Run("ffmpeg", args))).Value;
    }

    /// <summary>Runs a tool, returns its stdout; fails the test with its stderr when it exits non-zero.</summary>
    public static byte[] Run(string tool, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} failed: {errors.Result}");
        return output.ToArray();
    }
}
