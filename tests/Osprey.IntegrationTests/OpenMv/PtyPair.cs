using System.Diagnostics;

namespace Osprey.IntegrationTests.OpenMv;

/// <summary>
/// A pseudo-terminal pair made by socat (<c>socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B</c>): Osprey opens
/// <see cref="HostPath"/> as it would /dev/ttyACM0, the emulator opens <see cref="DevicePath"/>. Stopping socat is
/// unplugging the camera; <see cref="Start"/> again plugs it back at the same paths.
/// </summary>
public sealed class PtyPair : IDisposable
{
    private Process? _socat;

    public PtyPair()
    {
        var stem = Path.Combine(Path.GetTempPath(), $"osprey-omv-{Guid.NewGuid():N}"[..24]);
        HostPath = stem + "-host";
        DevicePath = stem + "-dev";
        Start();
    }

    public string HostPath { get; }

    public string DevicePath { get; }

    public void Start()
    {
        var start = new ProcessStartInfo("socat") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "-d", "-d", $"pty,raw,echo=0,link={HostPath}", $"pty,raw,echo=0,link={DevicePath}" })
        {
            start.ArgumentList.Add(argument);
        }

        _socat = Process.Start(start) ?? throw new InvalidOperationException("socat did not start (install the Debian package socat)");
        _socat.ErrorDataReceived += (_, _) => { };
        _socat.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(File.Exists(HostPath) && File.Exists(DevicePath)))
        {
            if (DateTime.UtcNow > deadline || _socat.HasExited)
            {
                throw new InvalidOperationException("socat made no pty pair");
            }

            Thread.Sleep(20);
        }
    }

    /// <summary>Unplugs: socat exits, both ptys hang up, the links go.</summary>
    public void Stop()
    {
        if (_socat is { HasExited: false })
        {
            _socat.Kill();
            _socat.WaitForExit(5000);
        }

        _socat?.Dispose();
        _socat = null;
        File.Delete(HostPath);
        File.Delete(DevicePath);
    }

    public void Dispose() => Stop();
}
