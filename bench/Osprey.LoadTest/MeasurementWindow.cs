using System.Diagnostics;

namespace Osprey.LoadTest;

/// <summary>
/// The measurement window, shared by every viewer loop: a frame counts when its last byte arrived inside it; the
/// capture rate counts frames by when they were captured (a backlog that sat in socket buffers and drains inside the
/// window arrives faster than the source's rate, and is not the server's rate).
/// </summary>
/// <remarks>
/// Viewers read from their first byte on (a viewer that did not read during warm-up would be a stalled viewer),
/// so membership is decided per frame by timestamp rather than by starting and stopping the loops.
/// </remarks>
internal sealed class MeasurementWindow
{
    private long _start = long.MaxValue;
    private long _end = long.MaxValue;
    private long _startWallMicros = long.MaxValue;
    private long _endWallMicros = long.MaxValue;

    /// <summary>Stopwatch timestamp at which the window opened; <see cref="long.MaxValue"/> before that.</summary>
    public long Start => Volatile.Read(ref _start);

    /// <summary>Stopwatch timestamp at which the window closes.</summary>
    public long End => Volatile.Read(ref _end);

    /// <summary>Opens the window now for <paramref name="duration"/>.</summary>
    public void Open(TimeSpan duration)
    {
        var start = Stopwatch.GetTimestamp();
        var startWall = WallMicros();
        // End is published before start so that a loop that sees the new start also sees its end.
        Volatile.Write(ref _endWallMicros, startWall + (long)(duration.TotalSeconds * 1e6));
        Volatile.Write(ref _startWallMicros, startWall);
        Volatile.Write(ref _end, start + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        Volatile.Write(ref _start, start);
    }

    /// <summary>Closes the window early (the run was interrupted).</summary>
    public void CloseNow()
    {
        Volatile.Write(ref _endWallMicros, Math.Min(WallMicros(), Volatile.Read(ref _endWallMicros)));
        Volatile.Write(ref _end, Math.Min(Stopwatch.GetTimestamp(), End));
    }

    /// <summary>
    /// True when a frame captured at <paramref name="captureMicros"/> (the probe's wall-clock capture time, µs since
    /// the Unix epoch; the server runs on this machine) was captured inside the window, whenever it arrived.
    /// </summary>
    public bool ContainsCapture(long captureMicros) =>
        captureMicros >= Volatile.Read(ref _startWallMicros) && captureMicros < Volatile.Read(ref _endWallMicros);

    private static long WallMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>True when <paramref name="timestamp"/> (from <see cref="Stopwatch.GetTimestamp"/>) lies in the window.</summary>
    public bool Contains(long timestamp) => timestamp >= Volatile.Read(ref _start) && timestamp < Volatile.Read(ref _end);

    /// <summary>Length of the window in seconds, 0 if it never opened.</summary>
    public double Seconds => Start == long.MaxValue ? 0 : (End - Start) / (double)Stopwatch.Frequency;
}
