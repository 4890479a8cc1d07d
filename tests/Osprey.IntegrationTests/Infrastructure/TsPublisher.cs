using System.Diagnostics;
using System.Text;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// ffmpeg publishing an endless MPEG-TS of MPEG-1 video to a URL, as vw's README does
/// (<c>-f mpegts -codec:v mpeg1video -b:v 1000k -bf 0 http://host/ts/{feed}</c>), from a lavfi picture. Disposing
/// kills it.
/// </summary>
public sealed class TsPublisher : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _errors = new();

    private TsPublisher(Process process)
    {
        _process = process;
    }

    /// <summary>What ffmpeg printed on stderr (errors only).</summary>
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

    public static TsPublisher Start(Uri url, string lavfiGraph)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[]
        {
            "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i", lavfiGraph,
            "-f", "mpegts", "-codec:v", "mpeg1video", "-b:v", "1000k", "-bf", "0", url.ToString(),
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ffmpeg");
        var publisher = new TsPublisher(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (publisher._errors)
                {
                    publisher._errors.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        return publisher;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
