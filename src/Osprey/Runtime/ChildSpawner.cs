using System.Collections.Concurrent;
using System.Diagnostics;

namespace Osprey.Runtime;

/// <summary>
/// Starts child processes from one thread that lives as long as Osprey. A child started with a parent-death
/// signal (<c>setpriv --pdeathsig</c>) gets it when the thread that forked it ends, not the process; forked from
/// a thread-pool thread, ffmpeg would be killed whenever the pool retired that idle thread.
/// </summary>
internal static class ChildSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Started)> s_requests = new();
    private static readonly Thread s_thread = StartThread();

    /// <summary>Starts <paramref name="start"/> on the spawner thread.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">The program could not be run.</exception>
    public static Task<Process> StartAsync(ProcessStartInfo start)
    {
        _ = s_thread;
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_requests.Add((start, started));
        return started.Task;
    }

    private static Thread StartThread()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "Osprey child spawner" };
        thread.Start();
        return thread;
    }

    private static void Run()
    {
        foreach (var (start, started) in s_requests.GetConsumingEnumerable())
        {
            try
            {
                started.SetResult(Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start"));
            }
            catch (Exception ex)
            {
                started.SetException(ex);
            }
        }
    }
}
