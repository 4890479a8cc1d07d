namespace Osprey.Server.Outputs;

/// <summary>
/// Drops viewer connections whose socket has taken nothing of a send for <see cref="ViewerLimits.SendTimeout"/>:
/// one timer for the whole server looks at every <see cref="ConnectionWriter"/> once a period.
/// </summary>
/// <remarks>
/// A per-send timeout (a delay raced against each send) would allocate per frame on exactly the viewers that
/// fill their socket buffer, which at 600 KB frames is most of them; a writer only stamps when its send began.
/// A stalled viewer never delays others either way: this bounds how long it holds its frame and its socket.
/// </remarks>
internal sealed class SendWatchdog : IDisposable
{
    private readonly HashSet<ConnectionWriter> _writers = [];
    private readonly Lock _lock = new();
    private readonly Timer? _timer;
    private readonly long _timeoutMs;

    /// <summary>Starts watching with <paramref name="limits"/>' send timeout (none when it is zero).</summary>
    public SendWatchdog(ViewerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _timeoutMs = (long)limits.SendTimeout.TotalMilliseconds;
        if (_timeoutMs > 0)
        {
            // A quarter of the timeout between looks: a stalled send is dropped within 1.25 timeouts.
            var period = TimeSpan.FromMilliseconds(Math.Clamp(_timeoutMs / 4, 50, 1000));
            _timer = new Timer(static state => ((SendWatchdog)state!).Sweep(), this, period, period);
        }
    }

    /// <summary>Connections dropped because a send stalled past the timeout.</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    private long _timedOut;

    /// <summary>Watches <paramref name="writer"/> until <see cref="Remove"/>.</summary>
    public void Add(ConnectionWriter writer)
    {
        if (_timer is null)
        {
            return;
        }

        lock (_lock)
        {
            _writers.Add(writer);
        }
    }

    /// <summary>Stops watching <paramref name="writer"/>.</summary>
    public void Remove(ConnectionWriter writer)
    {
        if (_timer is null)
        {
            return;
        }

        lock (_lock)
        {
            _writers.Remove(writer);
        }
    }

    /// <summary>Stops the timer.</summary>
    public void Dispose() => _timer?.Dispose();

    private void Sweep()
    {
        var now = Environment.TickCount64;
        List<ConnectionWriter>? overdue = null;
        lock (_lock)
        {
            foreach (var writer in _writers)
            {
                if (writer.SendPendingSince is > 0 and var since && now - since >= _timeoutMs)
                {
                    (overdue ??= []).Add(writer);
                }
            }
        }

        // Aborting outside the lock: it completes the stalled send, whose continuation may remove its writer.
        foreach (var writer in overdue ?? [])
        {
            if (writer.TimeOut())
            {
                Interlocked.Increment(ref _timedOut);
            }
        }
    }
}
