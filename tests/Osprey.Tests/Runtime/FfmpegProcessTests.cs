using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Osprey.Runtime;

namespace Osprey.Tests.Runtime;

public class FfmpegProcessTests
{
    [Fact]
    public async Task AMissingProgram_SaysItIsNotInstalledAndWhatToInstall_NotAWin32Error()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => FfmpegProcess.StartAsync("cam", ["-version"], NullLogger.Instance, executable: "osprey-no-such-ffmpeg"));
        Assert.Equal("osprey-no-such-ffmpeg is not installed (not found on PATH): install the Debian package ffmpeg", error.Message);

        error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => FfmpegProcess.StartAsync("cam", [], NullLogger.Instance, executable: "/nonexistent/ffmpeg"));
        Assert.Contains("is not installed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheStderrTail_IsBoundedInBytes_KeepsTheNewestLines_AndCutsLongOnes()
    {
        var tail = new StderrTail();
        for (var i = 0; i < 10_000; i++)
        {
            tail.Add($"frame {i}: {new string('x', 80)}");
            Assert.True(tail.Bytes <= StderrTail.CapacityBytes, $"{tail.Bytes} bytes after {i + 1} lines");
        }

        Assert.StartsWith("frame 9999:", tail.Last(1), StringComparison.Ordinal);
        Assert.StartsWith("frame 9998:", tail.Last(2), StringComparison.Ordinal);
        Assert.True(tail.Count > 10, "the tail holds more than one line");

        tail.Add(new string('y', 100_000));
        Assert.Equal(StderrTail.MaxLineLength, tail.Last(1).Length);
        Assert.True(tail.Bytes <= StderrTail.CapacityBytes);
    }

    [Fact]
    [Trait("Needs", "Process")]
    public async Task StderrIsReadWhileTheChildRuns_LoggedPerLine_AndItsTailEndsTheDescription()
    {
        var logger = new ListLogger();
        // 3,000 lines (about 30 KB) is more than a pipe holds: a child whose stderr nobody read would block.
        await using var child = await FfmpegProcess.StartAsync(
            "cam",
            ["-c", "i=0; while [ $i -lt 3000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; echo boom >&2; exit 3"],
            logger,
            executable: "sh");
        await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await child.DisposeAsync();

        Assert.Equal(3, child.ExitCode);
        Assert.Equal("sh exited with code 3: line 2999 | boom", child.DescribeEnd(2));
        Assert.True(child.Errors.Bytes <= StderrTail.CapacityBytes);
        Assert.Equal(3001, logger.Lines.Count(l => l.Level == LogLevel.Debug && l.Text.StartsWith("Feed cam: sh: ", StringComparison.Ordinal)));
    }

    [Fact]
    [Trait("Needs", "Process")]
    public async Task Dispose_KillsALongRunningChild_WithinTheBoundedWait()
    {
        var child = await FfmpegProcess.StartAsync("cam", ["60"], NullLogger.Instance, executable: "sleep");
        var pid = child.Id;
        Assert.True(IsRunning(pid));
        var watch = Stopwatch.StartNew();
        await child.DisposeAsync();
        Assert.True(watch.Elapsed < FfmpegProcess.ExitWait, $"dispose took {watch.Elapsed}");
        Assert.False(IsRunning(pid), "sleep outlived its dispose");
        Assert.Equal("was stopped by Osprey", child.EndDescription);
        Assert.Equal(128 + 9, child.ExitCode);
    }

    [Fact]
    [Trait("Needs", "Process")]
    public async Task AChildStartedFromAThreadThatEnds_LivesOn()
    {
        // The parent-death signal follows the forking thread: it must not be the caller's, which may retire.
        FfmpegProcess? child = null;
        var thread = new Thread(() => child = FfmpegProcess.StartAsync("cam", ["60"], NullLogger.Instance, executable: "sleep").GetAwaiter().GetResult());
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        await using var running = child!;
        await Task.Delay(300);
        Assert.False(running.HasExited, running.EndDescription);
        Assert.True(IsRunning(running.Id));
    }

    [Fact]
    [Trait("Needs", "Process")]
    [Trait("Needs", "Ffmpeg")]
    public async Task FfmpegFailing_EndsWithItsExitCodeAndItsErrorLine()
    {
        await using var ffmpeg = await FfmpegProcess.StartAsync("cam", ["-hide_banner", "-nostdin", "-loglevel", "error", "-i", "/nonexistent/clip.mp4", "-f", "null", "-"], NullLogger.Instance);
        await ffmpeg.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await ffmpeg.DisposeAsync();
        Assert.NotEqual(0, ffmpeg.ExitCode);
        var description = ffmpeg.DescribeEnd(3);
        Assert.Matches("^ffmpeg exited with code [0-9]+: ", description);
        Assert.Contains("No such file", description, StringComparison.Ordinal);
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<(LogLevel Level, string Text)> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Lines.Enqueue((logLevel, formatter(state, exception)));
    }
}
