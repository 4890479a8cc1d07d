using System.Diagnostics;
using System.Text;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>A real ffmpeg (or ffprobe) child process: publishers that POST MPEG-TS to Osprey, and probes of saved output.</summary>
public sealed class Ffmpeg : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    private Ffmpeg(Process process)
    {
        _process = process;
    }

    public bool HasExited => _process.HasExited;

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    /// <summary>ffmpeg's MPEG-1 video for jsmpeg, as in vw's README, from lavfi's testsrc2 in place of a camera.</summary>
    public static Ffmpeg PublishVideo(Uri target, string size = "320x240", int fps = 25) => Start(
        "-re", "-f", "lavfi", "-i", $"testsrc2=size={size}:rate={fps}",
        "-f", "mpegts", "-codec:v", "mpeg1video", "-b:v", "1000k", "-bf", "0", "-g", "12", target.ToString());

    /// <summary>An MP2 audio feed (jsmpeg decodes MP2), from lavfi's sine.</summary>
    public static Ffmpeg PublishAudio(Uri target) => Start(
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-f", "mpegts", "-codec:a", "mp2", "-b:a", "128k", target.ToString());

    public static Ffmpeg Start(params string[] arguments)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in new[] { "-hide_banner", "-loglevel", "error", "-nostdin" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ffmpeg");
        var ffmpeg = new Ffmpeg(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (ffmpeg._errors)
                {
                    ffmpeg._errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        return ffmpeg;
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>The streams ffprobe finds in <paramref name="file"/>: "codec_type,codec_name" lines, e.g. "video,mpeg1video".</summary>
    public static async Task<IReadOnlyList<string>> ProbeStreamsAsync(string file)
    {
        var start = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0:nk=1", file })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => string.Join(',', l.Split(',').Reverse()))];
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await WaitForExitAsync(TimeSpan.FromSeconds(5));
        }

        _process.Dispose();
    }
}
