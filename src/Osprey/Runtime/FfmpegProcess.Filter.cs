using Microsoft.Extensions.Logging;

namespace Osprey.Runtime;

public sealed partial class FfmpegProcess
{
    /// <summary>
    /// Runs one ffmpeg as a filter between two feeds (a lazy encoder or decoder): <paramref name="write"/> feeds its
    /// stdin while <paramref name="read"/> drains its stdout, until the child ends or <paramref name="cancellationToken"/>
    /// (the last viewer left) kills it. Then the child is reaped, the writer is stopped and waited for (bounded by
    /// <see cref="ExitWait"/>), and a child that ended while still wanted is an error that says why.
    /// </summary>
    /// <param name="name">Whose child this is (the output feed's name), for the log.</param>
    /// <param name="role">What the child is, for the error: "H.264 encoder".</param>
    /// <param name="arguments">ffmpeg's arguments, one element each.</param>
    /// <param name="logger">Receives the start, each stderr line and the end.</param>
    /// <param name="write">Writes the input; its token is cancelled once the child ended, so it stops waiting on its source.</param>
    /// <param name="read">Reads the output until its end.</param>
    /// <param name="running">Called with the process id once the child runs, and with 0 once it is gone.</param>
    /// <param name="cancellationToken">Cancelled when the filter is no longer wanted.</param>
    /// <exception cref="InvalidOperationException">The child could not start, or ended while still wanted.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task RunFilterAsync(
        string name,
        string role,
        IEnumerable<string> arguments,
        ILogger logger,
        Func<Stream, CancellationToken, Task> write,
        Func<Stream, CancellationToken, Task> read,
        Action<int> running,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(running);
        var process = await StartAsync(name, arguments, logger, writesInput: true);
        await using (process)
        {
            running(process.Id);
            using var kill = cancellationToken.UnsafeRegister(static p => ((FfmpegProcess)p!).Kill(), process);
            using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var writing = write(process.Input, stopWriting.Token);
            try
            {
                await read(process.Output, cancellationToken);
            }
            finally
            {
                await process.DisposeAsync();
                running(0);
                await stopWriting.CancelAsync();
                await writing.WaitAsync(ExitWait, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            // Wanted and yet ended: say why, or a viewer sees a feed that is merely silent.
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"the {role} ended: {process.DescribeEnd(3)}");
        }
    }
}
