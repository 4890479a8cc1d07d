using System.Buffers.Binary;
using System.Diagnostics;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>Looks inside fMP4 media segments, and asks ffprobe/ffmpeg about whole files.</summary>
public static class Mp4Inspection
{
    /// <summary>NAL unit types of the one sample in a moof+mdat segment (4-byte length-prefixed NALs).</summary>
    public static List<int> SampleNalTypes(ReadOnlySpan<byte> segment)
    {
        var moofSize = (int)BinaryPrimitives.ReadUInt32BigEndian(segment);
        var mdat = segment[moofSize..];
        var mdatSize = (int)BinaryPrimitives.ReadUInt32BigEndian(mdat);
        var sample = mdat[8..mdatSize];
        var types = new List<int>();
        while (sample.Length >= 4)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(sample);
            types.Add(sample[4] & 0x1F);
            sample = sample[(4 + length)..];
        }

        return types;
    }

    public static bool StartsWithIdr(ReadOnlySpan<byte> segment) =>
        SampleNalTypes(segment).FirstOrDefault(t => t is 1 or 5) == 5;

    public static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output, await errors);
    }
}
