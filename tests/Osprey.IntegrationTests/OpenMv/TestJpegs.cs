using System.Diagnostics;

namespace Osprey.IntegrationTests.OpenMv;

/// <summary>Distinct QVGA JPEGs of about 25 KB made once by ffmpeg (testsrc2 with moving noise).</summary>
public static class TestJpegs
{
    private static readonly Lazy<IReadOnlyList<byte[]>> s_qvga = new(() => Make(40));

    public static IReadOnlyList<byte[]> Qvga => s_qvga.Value;

    private static byte[][] Make(int count)
    {
        var directory = Directory.CreateTempSubdirectory("osprey-omv-jpeg-");
        try
        {
            var start = new ProcessStartInfo("ffmpeg") { UseShellExecute = false, RedirectStandardError = true };
            foreach (var argument in new[] { "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                "-vf", "noise=alls=10:allf=t", "-frames:v", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q:v", "3",
                Path.Combine(directory.FullName, "f%03d.jpg") })
            {
                start.ArgumentList.Add(argument);
            }

            using var ffmpeg = Process.Start(start)!;
            var errors = ffmpeg.StandardError.ReadToEnd();
            ffmpeg.WaitForExit();
            if (ffmpeg.ExitCode != 0)
            {
                throw new InvalidOperationException("ffmpeg: " + errors);
            }

            return [.. Directory.GetFiles(directory.FullName, "*.jpg").Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
