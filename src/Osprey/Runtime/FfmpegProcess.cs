using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Osprey.Runtime;

/// <summary>
/// One ffmpeg child process: started from an argument list (never a shell string), its stdin and stdout as
/// streams, its stderr read continuously into a bounded tail of recent lines and logged, killed with anything it
/// started when disposed.
/// </summary>
/// <remarks>
/// <para>Children do not outlive Osprey. A terminated Osprey disposes its runs, which kills them; a killed Osprey
/// cannot, and pipe closure only stops an ffmpeg the next time it writes: one waiting for its input (a network
/// stream that has not started) lived on under init holding its port. So on Linux the child is started through
/// <c>setpriv --pdeathsig KILL</c> (util-linux, in Debian's essential set), which asks the kernel to kill it when
/// its parent goes. The kernel means the parent <em>thread</em>, and thread-pool threads retire, so every child is
/// forked by <see cref="ChildSpawner"/>'s one thread that lives as long as Osprey.</para>
/// <para>Ownership: the caller owns the instance and disposes it; the streams belong to the instance.</para>
/// </remarks>
public sealed partial class FfmpegProcess : IAsyncDisposable
{
    /// <summary>How long <see cref="DisposeAsync"/> waits for a killed child to be reaped and its stderr drained.</summary>
    public static TimeSpan ExitWait { get; } = TimeSpan.FromSeconds(5);

    private const string InstallHint = "install the Debian package ffmpeg";
    private static readonly Lazy<string?> s_setpriv = new(() => OperatingSystem.IsLinux() ? FindOnPath("setpriv") : null);

    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly string _program;
    private readonly Task _stderr;
    private int _killed;
    private int _disposed;
    private int? _exitCodeAtDispose;

    private FfmpegProcess(Process process, string program, ILogger logger, string name, LogLevel stderrLevel)
    {
        _process = process;
        _program = program;
        _logger = logger;
        _name = name;
        Id = process.Id;
        _stderr = PumpErrorsAsync(stderrLevel);
    }

    /// <summary>The child's process id (also after it exited).</summary>
    public int Id { get; }

    /// <summary>The child's stdin; only when started with <c>writesInput</c>.</summary>
    public Stream Input => _process.StartInfo.RedirectStandardInput
        ? _process.StandardInput.BaseStream
        : throw new InvalidOperationException("this ffmpeg was started without a stdin pipe");

    /// <summary>The child's stdout.</summary>
    public Stream Output => _process.StandardOutput.BaseStream;

    /// <summary>The last lines the child wrote to stderr, bounded in size.</summary>
    public StderrTail Errors { get; } = new();

    /// <summary>True once the child has exited.</summary>
    public bool HasExited => ExitCode is not null;

    /// <summary>The exit code once the child has exited (128 + the signal number when a signal ended it), otherwise null.</summary>
    public int? ExitCode => Volatile.Read(ref _disposed) != 0 ? _exitCodeAtDispose : _process.HasExited ? _process.ExitCode : null;

    /// <summary>Why the child ended, e.g. "exited with code 1", "was killed by signal 9", "was stopped by Osprey"; "is running" before.</summary>
    public string EndDescription
    {
        get
        {
            if (ExitCode is not { } code)
            {
                return Volatile.Read(ref _disposed) != 0 ? "did not exit after SIGKILL" : "is running";
            }

            // SIGKILL is what Kill sends; an exit code means the child ended on its own before that arrived.
            if (code == 128 + 9 && Volatile.Read(ref _killed) != 0)
            {
                return "was stopped by Osprey";
            }

            return code > 128 && code < 128 + 65 ? $"was killed by signal {code - 128}" : $"exited with code {code}";
        }
    }

    /// <summary>
    /// Starts ffmpeg (or <paramref name="executable"/>) with <paramref name="arguments"/>, stdout piped, stdin
    /// piped when <paramref name="writesInput"/>.
    /// </summary>
    /// <param name="name">Whose child this is (a feed's name), for the log.</param>
    /// <param name="arguments">ffmpeg's arguments, one element each.</param>
    /// <param name="logger">Receives the start, each stderr line and the end.</param>
    /// <param name="writesInput">True to pipe the child's stdin (see <see cref="Input"/>).</param>
    /// <param name="executable">The program: a name searched on PATH, or a path.</param>
    /// <param name="stderrLevel">The level each stderr line is logged at.</param>
    /// <exception cref="InvalidOperationException">The program is not installed or cannot be run; the message says so.</exception>
    public static async Task<FfmpegProcess> StartAsync(
        string name,
        IEnumerable<string> arguments,
        ILogger logger,
        bool writesInput = false,
        string executable = "ffmpeg",
        LogLevel stderrLevel = LogLevel.Debug)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentException.ThrowIfNullOrEmpty(executable);

        // Resolved here, not by exec: behind setpriv a missing ffmpeg would only be setpriv's exit code 127.
        var program = (executable.Contains('/', StringComparison.Ordinal) ? (File.Exists(executable) ? executable : null) : FindOnPath(executable))
            ?? throw new InvalidOperationException($"{executable} is not installed (not found{(executable.Contains('/', StringComparison.Ordinal) ? "" : " on PATH")}): {InstallHint}");
        var setpriv = s_setpriv.Value;
        var start = new ProcessStartInfo(setpriv ?? program)
        {
            RedirectStandardInput = writesInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (setpriv is not null)
        {
            // setpriv execs the program in place: same pid, and the kernel's death signal survives the exec.
            start.ArgumentList.Add("--pdeathsig");
            start.ArgumentList.Add("KILL");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(program);
        }

        var first = start.ArgumentList.Count;
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = await ChildSpawner.StartAsync(start).ConfigureAwait(false);
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"cannot run '{program}' ({ex.Message}): {InstallHint}", ex);
        }

        Log.Started(logger, name, process.Id, executable, string.Join(' ', start.ArgumentList.Skip(first)));
        return new FfmpegProcess(process, executable, logger, name, stderrLevel);
    }

    /// <summary>"ffmpeg exited with code 1: its last stderr lines", for a failure's message.</summary>
    /// <param name="lines">How many of the last stderr lines to add.</param>
    public string DescribeEnd(int lines = 1)
    {
        var errors = Errors.Last(lines);
        return $"{_program} {EndDescription}{(errors.Length > 0 ? ": " + errors : "")}";
    }

    /// <summary>Waits for the child to exit.</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Kills the child and anything it started; quiet when it is already gone. Safe from any thread.</summary>
    public void Kill()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        try
        {
            if (!_process.HasExited)
            {
                Volatile.Write(ref _killed, 1);
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException or ObjectDisposedException)
        {
            // It exited meanwhile.
        }
    }

    /// <summary>Kills the child, waits up to <see cref="ExitWait"/> for it to be reaped and its stderr read to the end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        Kill();
        try
        {
            await Task.WhenAll(_process.WaitForExitAsync(CancellationToken.None), _stderr).WaitAsync(ExitWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A child stuck in the kernel (uninterruptible I/O) cannot be waited for; it was sent SIGKILL.
        }

        // The Process object answers nothing once disposed; what a failure message needs is kept.
        _exitCodeAtDispose = _process.HasExited ? _process.ExitCode : null;
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Log.Ended(_logger, _name, Id, DescribeEnd(1));
        _process.Dispose();
    }

    private async Task PumpErrorsAsync(LogLevel level)
    {
        // Off the caller's context: the pump runs for the child's whole life.
        await Task.Yield();
        try
        {
            while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.Length > 0)
                {
                    Errors.Add(line);
                    Log.Said(_logger, level, _name, _program, line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The pipe went with the process.
        }
    }

    private static string? FindOnPath(string name)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.FfmpegProcessStarted, LogLevel.Debug, "Feed {Feed}: {Program} started (pid {Pid}): {Arguments}")]
        public static partial void Started(ILogger logger, string feed, int pid, string program, string arguments);

        [LoggerMessage(EventId = LogEvents.FfmpegProcessSaid, Message = "Feed {Feed}: {Program}: {Line}")]
        public static partial void Said(ILogger logger, LogLevel level, string feed, string program, string line);

        [LoggerMessage(LogEvents.FfmpegProcessEnded, LogLevel.Debug, "Feed {Feed}: pid {Pid} ended: {Reason}")]
        public static partial void Ended(ILogger logger, string feed, int pid, string reason);
    }
}
