namespace Osprey.Runtime;

/// <summary>
/// Restart delays of 1, 2, 4, 8, then 10 s for ever, reset after a run that stood (the vw reconws schedule,
/// without its bug of resetting on write errors).
/// </summary>
public sealed class Backoff
{
    private static readonly TimeSpan s_initial = TimeSpan.FromSeconds(1);
    private TimeSpan _next = s_initial;

    /// <summary>The longest delay.</summary>
    public static TimeSpan Maximum { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Returns the delay to wait now and doubles the next one, up to <see cref="Maximum"/>.</summary>
    public TimeSpan Next()
    {
        var delay = _next;
        var doubled = _next * 2;
        _next = doubled > Maximum ? Maximum : doubled;
        return delay;
    }

    /// <summary>Starts again from 1 s.</summary>
    public void Reset() => _next = s_initial;
}
