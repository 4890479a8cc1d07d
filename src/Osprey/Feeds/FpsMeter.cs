using System.Diagnostics;

namespace Osprey.Feeds;

/// <summary>Measures an event rate from the last few event times, without allocating.</summary>
/// <remarks>Not thread-safe for <see cref="Tick"/>; the feed calls it under its lock.</remarks>
internal sealed class FpsMeter
{
    private const int Window = 32;
    private readonly long[] _ticks = new long[Window];
    private int _count;
    private int _next;

    public void Tick(long timestamp)
    {
        _ticks[_next] = timestamp;
        _next = (_next + 1) % Window;
        if (_count < Window)
        {
            _count++;
        }
    }

    /// <summary>Events per second over the window; decays to 0 when events stop for two seconds.</summary>
    public double Current(long now)
    {
        var count = Volatile.Read(ref _count);
        if (count < 2)
        {
            return 0;
        }

        var next = Volatile.Read(ref _next);
        var newest = _ticks[(next - 1 + Window) % Window];
        var oldest = _ticks[count < Window ? 0 : next];
        var sinceNewest = Stopwatch.GetElapsedTime(newest, now);
        if (sinceNewest > TimeSpan.FromSeconds(2))
        {
            return 0;
        }

        var span = Stopwatch.GetElapsedTime(oldest, newest).TotalSeconds;
        return span <= 0 ? 0 : Math.Round((count - 1) / span, 2);
    }
}
