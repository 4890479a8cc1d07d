namespace Osprey.LoadTest;

/// <summary>A feed the soak publishes: <see cref="File"/> POSTed to <c>/ts/{Feed}</c> at real time, looped.</summary>
public sealed record SoakPublisher(string Feed, string File);

/// <summary>Settings of a soak of vw's streams and destinations; see <see cref="SoakRunner.RunAsync"/>.</summary>
public sealed class SoakOptions
{
    public const int MaxCycles = 100_000;

    /// <summary>The server under test: <c>http://127.0.0.1:8899/</c> (its REST API, ingest and viewers).</summary>
    public required Uri ServerUrl { get; init; }

    /// <summary>
    /// Where destinations push: a relay's <c>ws://127.0.0.1:8900/in/soak</c>; cycle i uses this address with
    /// <c>i % <see cref="Topics"/></c> appended, so each relay topic is reused only every few cycles.
    /// </summary>
    public required Uri Destination { get; init; }

    /// <summary>Feeds published during the whole soak (one or two: video, audio).</summary>
    public IReadOnlyList<SoakPublisher> Publishers { get; init; } = [];

    /// <summary>The feeds each stream combines; default: the published feeds.</summary>
    public IReadOnlyList<string>? StreamFeeds { get; init; }

    /// <summary>Add/remove cycles (default 2,000).</summary>
    public int Cycles { get; init; } = 2000;

    /// <summary>The server's process, for threads, open descriptors and RSS from /proc.</summary>
    public int? ServerPid { get; init; }

    /// <summary>The relay's process, likewise.</summary>
    public int? RelayPid { get; init; }

    /// <summary>The cycles stop after this long even if not all ran (default 290 s).</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromSeconds(290);

    /// <summary>How long a cycle waits for its destination to connect and push bytes (default 1 s).</summary>
    public TimeSpan ConnectWait { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a cycle keeps its stream and destination once the destination pushes, so frames flow through the combiner, the client and the relay (default 50 ms).</summary>
    public TimeSpan Hold { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Quiet time after the cycles (once the task counts are back) before the "after" sample (default 3 s).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Relay topics cycled through (default 16).</summary>
    public int Topics { get; init; } = 16;

    /// <summary>Every this many cycles a viewer of the relay's <c>/out/</c> checks that the stream arrives there (default 100; 0: never).</summary>
    public int EndToEndEvery { get; init; } = 100;

    /// <summary>Every this many cycles the processes are sampled (default 250).</summary>
    public int SampleEvery { get; init; } = 250;

    /// <summary>Allow addresses that are not loopback.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Progress lines; null for silence.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The feeds each stream combines.</summary>
    public IReadOnlyList<string> EffectiveStreamFeeds => StreamFeeds ?? [.. Publishers.Select(p => p.Feed)];

    /// <summary>The relay's HTTP address (health and status), from <see cref="Destination"/>.</summary>
    public Uri RelayHttpUrl => new UriBuilder(Destination) { Scheme = "http", Path = "/", Query = "" }.Uri;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (ServerUrl is null || !ServerUrl.IsAbsoluteUri || ServerUrl.Scheme != "http")
        {
            errors.Add("url must be the server's absolute http:// address");
        }

        if (Destination is null || !Destination.IsAbsoluteUri || Destination.Scheme != "ws")
        {
            errors.Add("destination must be an absolute ws:// address (a relay's /in/NAME)");
        }

        if (Publishers.Count is < 1 or > 4)
        {
            errors.Add("give 1 to 4 --publish FEED=FILE");
        }

        foreach (var publisher in Publishers)
        {
            if (!File.Exists(publisher.File))
            {
                errors.Add($"publish {publisher.Feed}: {publisher.File}: no such file");
            }
        }

        if (Cycles is < 1 or > MaxCycles)
        {
            errors.Add($"cycles must be between 1 and {MaxCycles}");
        }

        if (MaxDuration <= TimeSpan.Zero || MaxDuration > TimeSpan.FromHours(2))
        {
            errors.Add("max-seconds must be more than 0 and at most 7200");
        }

        if (ConnectWait <= TimeSpan.Zero || ConnectWait > TimeSpan.FromSeconds(30))
        {
            errors.Add("connect-wait must be more than 0 and at most 30 s");
        }

        if (Hold < TimeSpan.Zero || Hold > TimeSpan.FromSeconds(30))
        {
            errors.Add("hold must be between 0 and 30 s");
        }

        if (Settle < TimeSpan.Zero || Settle > TimeSpan.FromMinutes(5))
        {
            errors.Add("settle must be between 0 and 300 s");
        }

        if (Topics is < 1 or > 1000)
        {
            errors.Add("topics must be between 1 and 1000");
        }

        if (EndToEndEvery < 0 || SampleEvery < 1)
        {
            errors.Add("end-to-end-every must be at least 0 and sample-every at least 1");
        }

        foreach (var pid in new[] { ServerPid, RelayPid })
        {
            if (pid is int p && (p <= 0 || !ProcessSampler.Exists(p)))
            {
                errors.Add($"pid {p}: no such process");
            }
        }

        return errors;
    }
}
