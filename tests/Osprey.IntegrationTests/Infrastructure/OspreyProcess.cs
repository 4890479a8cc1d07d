using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// The real <c>osprey</c> executable, started as a child process on 127.0.0.1 with port 0 (Kestrel picks a free
/// port, which the server prints). Disposing stops it with SIGTERM, then kills it if it lingers.
/// </summary>
public sealed partial class OspreyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private OspreyProcess(Process process)
    {
        _process = process;
    }

    /// <summary>http://127.0.0.1:PORT/ (https:// when the server was started with TLS)</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>ws://127.0.0.1:PORT/ (wss:// over TLS)</summary>
    public Uri WebSocketBaseUri => new UriBuilder(BaseUri) { Scheme = BaseUri.Scheme == "https" ? "wss" : "ws" }.Uri;

    /// <summary>Every address the server said it listens on (the port and each --extra-port), in its order.</summary>
    public IReadOnlyList<Uri> ListeningUris
    {
        get
        {
            lock (_output)
            {
                return [.. ListeningLine().Matches(_output.ToString()).Select(m => new Uri(m.Groups[1].Value.TrimEnd('/') + "/"))];
            }
        }
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the server printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public Uri Http(string path) => new(BaseUri, path);

    public Uri Ws(string path) => new(WebSocketBaseUri, path);

    public static Task<OspreyProcess> StartAsync(params string[] arguments) => StartWrappedAsync([], arguments);

    /// <summary>Starts the server with these environment variables set (the tests' own OSPREY_* are removed first).</summary>
    public static Task<OspreyProcess> StartWithEnvironmentAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        StartCoreAsync(["dotnet", Path.Combine(AppContext.BaseDirectory, "osprey.dll")], environment, arguments);

    /// <summary>Starts the server under <paramref name="wrapper"/> (e.g. <c>prlimit --nofile=1024:1024</c>).</summary>
    public static Task<OspreyProcess> StartWrappedAsync(string[] wrapper, params string[] arguments) =>
        StartCoreAsync([.. wrapper, "dotnet", Path.Combine(AppContext.BaseDirectory, "osprey.dll")], new Dictionary<string, string>(), arguments);

    /// <summary>
    /// Starts <paramref name="command"/> as the server: a published executable (<c>[path]</c>), or one run by an
    /// emulator (<c>["qemu-aarch64-static", path]</c>), with <paramref name="arguments"/> after the bind and port.
    /// </summary>
    public static Task<OspreyProcess> StartCommandAsync(IReadOnlyList<string> command, params string[] arguments) =>
        StartCoreAsync(command, new Dictionary<string, string>(), arguments);

    private static async Task<OspreyProcess> StartCoreAsync(IReadOnlyList<string> command, IReadOnlyDictionary<string, string> environment, string[] arguments)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var part in command.Skip(1))
        {
            start.ArgumentList.Add(part);
        }

        start.ArgumentList.Add("--bind");
        start.ArgumentList.Add("127.0.0.1");
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add("0");
        // WebRTC's UDP port too: tests run servers side by side (a test that needs it given says so again).
        start.ArgumentList.Add("--webrtc-port");
        start.ArgumentList.Add("0");
        // And RTSP's TCP port (8554 by default), for the same reason.
        start.ArgumentList.Add("--rtsp-port");
        start.ArgumentList.Add("0");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The tests' own environment must not leak settings into the server.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("OSPREY_", StringComparison.Ordinal) || k.StartsWith("VW_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start osprey");
        var osprey = new OspreyProcess(process);
        process.OutputDataReceived += (_, e) => osprey.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => osprey.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            osprey.BaseUri = await osprey._listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            await osprey.DisposeAsync();
            throw new TimeoutException($"osprey did not start listening within 30 s. Output:\n{osprey.Output}");
        }

        return osprey;
    }

    /// <summary>Sends SIGTERM (as Ctrl-C or a service manager would).</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, Sigterm);
        }
    }

    /// <summary>Waits for the process to exit; false on timeout.</summary>
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

    public async ValueTask DisposeAsync()
    {
        Terminate();
        if (!await WaitForExitAsync(TimeSpan.FromSeconds(5)))
        {
            _process.Kill(entireProcessTree: true);
            await WaitForExitAsync(TimeSpan.FromSeconds(5));
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value.TrimEnd('/') + "/"));
        }
    }

    private const int Sigterm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(@"Osprey listening on (https?://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();
}
