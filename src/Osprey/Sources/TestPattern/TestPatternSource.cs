using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Sources.TestPattern;

/// <summary>
/// The built-in source: a moving YUYV test pattern with a probe header in every frame.
/// URI: <c>testpattern:?width=640&amp;height=480&amp;fps=30</c>.
/// </summary>
public sealed class TestPatternSource : IFrameSource
{
    private readonly TimeProvider _time;
    private uint _counter;

    /// <summary>Creates the source from its options.</summary>
    public TestPatternSource(TestPatternOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The source's options.</summary>
    public TestPatternOptions Options { get; }

    /// <inheritdoc />
    public string Uri => Options.ToUri();

    /// <inheritdoc />
    public VideoInfo ExpectedInfo => new(MediaFormat.Yuyv, Options.Width, Options.Height, Options.Fps);

    /// <inheritdoc />
    public async Task RunAsync(Feed feed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(feed);
        var generator = new TestPatternGenerator(Options.Width, Options.Height);
        feed.Info = ExpectedInfo;
        var period = TimeSpan.FromSeconds(1.0 / Options.Fps);
        using var timer = new PeriodicTimer(period, _time);
        var started = _time.GetTimestamp();
        var producedThisRun = 0L;
        var slot = 0L;
        // The counter carries on across restarts, as a camera's frame numbers would not go back.
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            // Timers tick in whole milliseconds (33 ms for 30 fps would give 30.3 fps): aim each tick at the
            // ideal time of the next frame instead, so the rate is exact on average and errors never add up.
            var elapsed = _time.GetElapsedTime(started);
            var untilNext = (period * (slot + 2)) - elapsed;
            if (untilNext <= TimeSpan.Zero)
            {
                // More than a frame late (a starved CPU, a paused process): drop the frames that were missed, as a
                // camera does, instead of catching up in a burst that viewers would see as a rate above the nominal.
                slot = (long)(elapsed / period) - 1;
                untilNext = (period * (slot + 2)) - elapsed;
            }

            timer.Period = untilNext > TimeSpan.FromMilliseconds(1) ? untilNext : TimeSpan.FromMilliseconds(1);
            slot++;

            if (Options.FailAfterFrames > 0 && producedThisRun >= Options.FailAfterFrames)
            {
                throw new TestPatternFailureException($"test pattern failed on purpose after {producedThisRun} frames (failAfter)");
            }

            var frame = feed.Pool.Rent(generator.FrameSize);
            try
            {
                var counter = ++_counter;
                var now = ProbeHeader.NowMicros(_time);
                generator.Draw(frame.GetWritableSpan(generator.FrameSize), counter, now);
                frame.StampCaptured(MediaFormat.Yuyv, Options.Width, Options.Height, true, now);
            }
            catch
            {
                frame.Release();
                throw;
            }

            feed.Publish(frame);
            producedThisRun++;
        }
    }
}

/// <summary>Options of the test pattern, from its URI query.</summary>
public sealed record TestPatternOptions
{
    /// <summary>Width in pixels (even), default 640.</summary>
    public int Width { get; init; } = 640;

    /// <summary>Height in pixels, default 480.</summary>
    public int Height { get; init; } = 480;

    /// <summary>Frames per second, default 30.</summary>
    public double Fps { get; init; } = 30;

    /// <summary>For testing supervision: fail after this many frames of each run (0, the default, never).</summary>
    public long FailAfterFrames { get; init; }

    /// <summary>Throws when the options cannot make a pattern.</summary>
    public void Validate()
    {
        if (Width < 16 || Width > 8192 || Width % 2 != 0)
        {
            throw new ArgumentException($"testpattern width {Width} must be even and between 16 and 8192.");
        }

        if (Height < 8 || Height > 8192)
        {
            throw new ArgumentException($"testpattern height {Height} must be between 8 and 8192.");
        }

        if (!(Fps > 0 && Fps <= 240))
        {
            throw new ArgumentException($"testpattern fps {Fps} must be above 0 and at most 240.");
        }

        if (FailAfterFrames < 0)
        {
            throw new ArgumentException("testpattern failAfter must not be negative.");
        }
    }

    /// <summary>The canonical URI of these options.</summary>
    public string ToUri() => FormattableString.Invariant(
        $"testpattern:?width={Width}&height={Height}&fps={Fps}{(FailAfterFrames > 0 ? $"&failAfter={FailAfterFrames}" : "")}");
}

/// <summary>The failure the test pattern raises on purpose (the <c>failAfter</c> option).</summary>
public sealed class TestPatternFailureException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TestPatternFailureException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TestPatternFailureException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TestPatternFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
