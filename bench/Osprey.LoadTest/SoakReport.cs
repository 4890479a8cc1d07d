using System.Globalization;
using System.Text.Json;

namespace Osprey.LoadTest;

/// <summary>Outcome of a soak (<see cref="SoakRunner.RunAsync"/>). Memory in 10^6 bytes.</summary>
public sealed class SoakReport
{
    public required string ServerUrl { get; init; }

    public required string Destination { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    /// <summary>Wall time of the whole soak, publishers' start to the last check.</summary>
    public double Seconds { get; init; }

    public int CyclesRequested { get; init; }

    public int CyclesCompleted { get; init; }

    public IReadOnlyList<string> StreamFeeds { get; init; } = [];

    public IReadOnlyList<SoakPublisherResult> Publishers { get; init; } = [];

    /// <summary>Sampled with ingest running, before the first cycle.</summary>
    public required SoakSnapshot Before { get; init; }

    /// <summary>Sampled after the cycles, once the task counts were back and <see cref="SoakOptions.Settle"/> passed.</summary>
    public required SoakSnapshot After { get; init; }

    /// <summary>Before, at cycle 100, every <see cref="SoakOptions.SampleEvery"/> cycles (right after a cycle's deletes), and after.</summary>
    public IReadOnlyList<SoakSnapshot> Trend { get; init; } = [];

    /// <summary>True when the stream input tasks and destination clients came back to their count before the cycles.</summary>
    public bool Settled { get; init; }

    /// <summary>Cycles whose destination connected and pushed bytes within the wait.</summary>
    public int ConnectedCycles { get; init; }

    public int ConnectTimeouts { get; init; }

    /// <summary>From POST of the destination to the status showing it connected with bytes sent.</summary>
    public SoakDurations ConnectMs { get; init; } = new();

    /// <summary>How long each cycle kept its stream and destination once the destination pushed.</summary>
    public double HoldMs { get; init; }

    public int EndToEndChecks { get; init; }

    public int EndToEndOk { get; init; }

    /// <summary>Requests that failed or did not answer 200, status reads included.</summary>
    public int RequestErrors { get; init; }

    public IReadOnlyList<string> FirstErrors { get; init; } = [];

    /// <summary>After the cycles: both servers' healthchecks, and each ingest still flowing to a viewer.</summary>
    public IReadOnlyList<SoakCheck> Checks { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, LoadReportJsonContext.Default.SoakReport);

    public void WriteText(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var c = CultureInfo.InvariantCulture;
        void Row(string label, string value) => writer.WriteLine(string.Create(c, $"  {label,-22} {value}"));

        writer.WriteLine(string.Create(c, $"osprey-load soak  {ServerUrl} -> {Destination}  ({StartedAt:yyyy-MM-dd HH:mm:ss} UTC)"));
        Row("cycles", string.Create(c, $"{CyclesCompleted}/{CyclesRequested} in {Seconds:0.0} s (whole run); streams of [{string.Join(", ", StreamFeeds)}]"));
        foreach (var p in Publishers)
        {
            Row($"publisher {p.Feed}", string.Create(c, $"{p.File}: {p.Bytes / 1e6:0.0} MB in {p.Writes} writes{(p.Error is null ? "" : $"; {p.Error}")}"));
        }

        Row("destinations", string.Create(c, $"{ConnectedCycles} connected and pushing (then held {HoldMs:0} ms), {ConnectTimeouts} not within the wait; connect ms p50 {Format(ConnectMs.P50Ms)} p95 {Format(ConnectMs.P95Ms)} p99 {Format(ConnectMs.P99Ms)} max {Format(ConnectMs.MaxMs)}"));
        Row("end to end", string.Create(c, $"{EndToEndOk}/{EndToEndChecks} relay /out/ viewers got the stream"));
        Row("request errors", string.Create(c, $"{RequestErrors}"));
        foreach (var error in FirstErrors)
        {
            Row("", error);
        }

        writer.WriteLine("  sample        cycle      s  server thr/fds/RSS MB   relay thr/fds/RSS MB   inputs clients streams dests pubs relay-pubs");
        foreach (var s in Trend)
        {
            writer.WriteLine(string.Create(c, $"  {s.Label,-11} {s.Cycle,6} {s.Seconds,6:0.0}  {Proc(s.Server),-21} {Proc(s.Relay),-21} {N(s.StreamInputTasks),6} {N(s.DestinationClients),7} {N(s.Streams),7} {N(s.Destinations),5} {N(s.Publishers),4} {N(s.RelayPublishers),10}"));
        }

        Row("settled", Settled ? "yes: task counts back to their values before the cycles" : "NO: task counts did not come back within 15 s");
        if (Before.Server is { } b && After.Server is { } a)
        {
            Row("server growth", string.Create(c, $"threads {a.Threads - b.Threads:+0;-0;0}, fds {a.OpenFds - b.OpenFds:+0;-0;0}, RSS {a.RssMegabytes - b.RssMegabytes:+0.0;-0.0;0.0} MB"));
        }

        if (Before.Relay is { } rb && After.Relay is { } ra)
        {
            Row("relay growth", string.Create(c, $"threads {ra.Threads - rb.Threads:+0;-0;0}, fds {ra.OpenFds - rb.OpenFds:+0;-0;0}, RSS {ra.RssMegabytes - rb.RssMegabytes:+0.0;-0.0;0.0} MB"));
        }

        foreach (var check in Checks)
        {
            Row(check.Name, $"{(check.Ok ? "ok" : "FAILED")}: {check.Detail}");
        }
    }

    private static string Format(double? value) => value?.ToString("0.0", CultureInfo.InvariantCulture) ?? "n/a";

    private static string N(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private static string Proc(ProcessSnapshot? p) => p is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{p.Threads}/{p.OpenFds}/{p.RssMegabytes:0.0}");
}

/// <summary>One sample of the soak.</summary>
public sealed class SoakSnapshot
{
    public string Label { get; init; } = "";

    /// <summary>Cycles done when it was taken.</summary>
    public int Cycle { get; init; }

    /// <summary>Seconds since the soak started.</summary>
    public double Seconds { get; init; }

    public ProcessSnapshot? Server { get; init; }

    public ProcessSnapshot? Relay { get; init; }

    /// <summary>The server's stream input tasks (/api/relay streamInputTasks).</summary>
    public int? StreamInputTasks { get; init; }

    /// <summary>The server's destination client tasks, stopping ones included (/api/relay destinationClients).</summary>
    public int? DestinationClients { get; init; }

    public int? Streams { get; init; }

    public int? Destinations { get; init; }

    /// <summary>Ingest publishers the server has.</summary>
    public int? Publishers { get; init; }

    /// <summary>Pushes the relay has (its publishers).</summary>
    public int? RelayPublishers { get; init; }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"server {Server?.Threads} threads, {Server?.OpenFds} fds, {Server?.RssMegabytes:0.0} MB; relay {Relay?.Threads} threads, {Relay?.OpenFds} fds, {Relay?.RssMegabytes:0.0} MB; {StreamInputTasks} input tasks, {DestinationClients} destination clients");
}

/// <summary>A process's threads, descriptors and resident memory, from /proc.</summary>
public sealed class ProcessSnapshot
{
    public long Threads { get; init; }

    public int OpenFds { get; init; }

    public double RssMegabytes { get; init; }

    internal static ProcessSnapshot? Read(int? pid)
    {
        if (pid is not int p)
        {
            return null;
        }

        var sampler = new ProcessSampler(p);
        if (!sampler.TryReadThreads(out var threads) || !sampler.TryReadMemoryKb(out var rssKb, out _))
        {
            return null;
        }

        return new ProcessSnapshot { Threads = threads, OpenFds = ProcessSampler.CountOpenFileDescriptors(p), RssMegabytes = Math.Round(rssKb * 1024 / 1e6, 1) };
    }
}

/// <summary>Percentiles of a duration, in milliseconds.</summary>
public sealed class SoakDurations
{
    public double? P50Ms { get; init; }

    public double? P95Ms { get; init; }

    public double? P99Ms { get; init; }

    public double? MaxMs { get; init; }
}

/// <summary>A check after the cycles.</summary>
public sealed class SoakCheck
{
    public string Name { get; init; } = "";

    public bool Ok { get; init; }

    public string Detail { get; init; } = "";
}

/// <summary>One of the soak's publishers.</summary>
public sealed class SoakPublisherResult
{
    public string Feed { get; init; } = "";

    public string File { get; init; } = "";

    public long Bytes { get; init; }

    public long Writes { get; init; }

    public string? Error { get; init; }
}
