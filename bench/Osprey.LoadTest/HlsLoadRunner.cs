using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Osprey.LoadTest;

/// <summary>What an <c>osprey-load hls</c> run does.</summary>
public sealed record HlsLoadOptions
{
    /// <summary>The LL-HLS media playlist (an edge's or the origin's), e.g. http://127.0.0.1:8090/hls/cam/media.m3u8.</summary>
    public required Uri Playlist { get; init; }

    /// <summary>Simulated clients.</summary>
    public int Clients { get; init; } = 100;

    /// <summary>The measured run's length (after the ramp).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Clients start spread over this long.</summary>
    public TimeSpan Ramp { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A gap this long between two parts a client gets is a stall.</summary>
    public TimeSpan StallGap { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>What the clients saw, together.</summary>
/// <param name="Clients">Clients run.</param>
/// <param name="ClientsPlaying">Clients that got at least one part.</param>
/// <param name="Parts">Parts got, all clients.</param>
/// <param name="PartBytes">Their bytes.</param>
/// <param name="MissedParts">Parts a playlist listed that a client could not get.</param>
/// <param name="Stalls">Gaps between two parts of a client longer than the stall gap.</param>
/// <param name="Requests">HTTP requests made.</param>
/// <param name="Errors">Requests that failed (404s of void preload hints excepted).</param>
/// <param name="DelayP50">Median of the parts' delay behind live (arrival − the part's end on the capture clock), seconds.</param>
/// <param name="DelayP95">Its 95th percentile.</param>
/// <param name="DelayMax">Its maximum.</param>
/// <param name="Seconds">The measured run's length.</param>
/// <param name="PartsPerClientPerSecond">Parts per client per second of the run.</param>
public sealed record HlsLoadReport(
    int Clients, int ClientsPlaying, long Parts, long PartBytes, long MissedParts, long Stalls, long Requests, long Errors,
    double DelayP50, double DelayP95, double DelayMax, double Seconds, double PartsPerClientPerSecond)
{
    /// <summary>One line of text.</summary>
    public void WriteText(TextWriter output) => output?.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"hls: {ClientsPlaying}/{Clients} clients playing; {Parts} parts ({PartBytes / 1048576.0:0.0} MiB, {PartsPerClientPerSecond:0.00} per client per s), {MissedParts} missed, {Stalls} stalls; {Requests} requests, {Errors} errors; behind live p50 {DelayP50:0.000} s, p95 {DelayP95:0.000} s, max {DelayMax:0.000} s over {Seconds:0.0} s"));

    /// <summary>The report as JSON.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("clients", Clients);
            json.WriteNumber("clientsPlaying", ClientsPlaying);
            json.WriteNumber("parts", Parts);
            json.WriteNumber("partBytes", PartBytes);
            json.WriteNumber("missedParts", MissedParts);
            json.WriteNumber("stalls", Stalls);
            json.WriteNumber("requests", Requests);
            json.WriteNumber("errors", Errors);
            json.WriteNumber("delayP50", DelayP50);
            json.WriteNumber("delayP95", DelayP95);
            json.WriteNumber("delayMax", DelayMax);
            json.WriteNumber("seconds", Seconds);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>
/// N simulated LL-HLS clients that follow a media playlist as hls.js does: the playlist once, then for each part
/// a blocking playlist reload (<c>_HLS_msn</c>, <c>_HLS_part</c>) and, at the same time, the hinted part
/// (EXT-X-PRELOAD-HINT); any part the new playlist lists that the client has not got is fetched too. Measures
/// each part's delay behind live (its arrival against the end of the part on the capture clock, from
/// PROGRAM-DATE-TIME: the client and the server share the machine's clock), parts missed, and stalls.
/// </summary>
public static class HlsLoadRunner
{
    /// <summary>Runs the clients for the ramp and the duration; the report of what they saw.</summary>
    public static async Task<HlsLoadReport> RunAsync(HlsLoadOptions options, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Clients, 1);
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
        var clock = Stopwatch.StartNew();
        var end = options.Ramp + options.Duration;
        var clients = new HlsClient[options.Clients];
        var tasks = new Task[options.Clients];
        for (var i = 0; i < clients.Length; i++)
        {
            clients[i] = new HlsClient(http, options.Playlist, options.StallGap);
            var delay = TimeSpan.FromTicks(options.Ramp.Ticks * i / clients.Length);
            var client = clients[i];
            tasks[i] = Task.Run(async () =>
            {
                await Task.Delay(delay, cancellationToken);
                await client.RunAsync(() => clock.Elapsed < end, cancellationToken);
            }, cancellationToken);
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException)
        {
        }

        var delays = clients.SelectMany(c => c.Delays).Order().ToArray();
        double Percentile(double p) => delays.Length == 0 ? double.NaN : delays[Math.Min(delays.Length - 1, (int)(p * delays.Length))];
        var parts = clients.Sum(c => c.Parts);
        return new HlsLoadReport(
            clients.Length, clients.Count(c => c.Parts > 0), parts, clients.Sum(c => c.PartBytes), clients.Sum(c => c.MissedParts),
            clients.Sum(c => c.Stalls), clients.Sum(c => c.Requests), clients.Sum(c => c.Errors),
            Percentile(0.5), Percentile(0.95), delays.Length == 0 ? double.NaN : delays[^1], options.Duration.TotalSeconds,
            parts / Math.Max(1, clients.Length) / Math.Max(0.001, options.Duration.TotalSeconds + (options.Ramp.TotalSeconds / 2)));
    }

    private sealed class HlsClient(HttpClient http, Uri playlist, TimeSpan stallGap)
    {
        private readonly Dictionary<(long, int), double> _partEnds = []; // wall-clock end of each listed part, Unix seconds
        private (long Msn, int Part) _last = (-1, -1);
        private long _lastArrival;

        public List<double> Delays { get; } = [];

        public long Parts { get; private set; }

        public long PartBytes { get; private set; }

        public long MissedParts { get; private set; }

        public long Stalls { get; private set; }

        public long Requests { get; private set; }

        public long Errors { get; private set; }

        public async Task RunAsync(Func<bool> running, CancellationToken ct)
        {
            var text = await GetStringAsync(playlist, ct);
            while (text is null && running())
            {
                await Task.Delay(500, ct);
                text = await GetStringAsync(playlist, ct);
            }

            if (text is null)
            {
                return;
            }

            var listing = Parse(text);
            // Start at the live edge: the last listed part is taken as had (hls.js starts PART-HOLD-BACK behind it).
            if (listing.Parts.Count > 0)
            {
                _last = listing.Parts[^1];
            }

            while (running())
            {
                var (msn, part) = listing.Hint;
                var hinted = GetPartAsync(msn, part, ct);
                var reload = GetStringAsync(new Uri(playlist, $"{playlist.AbsolutePath}?_HLS_msn={msn}&_HLS_part={part}"), ct);
                var got = await hinted;
                var arrival = UnixNow();
                text = await reload;
                if (text is null)
                {
                    await Task.Delay(200, ct);
                    text = await GetStringAsync(playlist, ct);
                    if (text is null)
                    {
                        continue;
                    }
                }

                listing = Parse(text);
                // Parts listed between the last one had and the hinted one (none when the client keeps up), then
                // the hinted one, then any listed after it: each fetched once, in order; one that cannot be is missed.
                foreach (var p in listing.Parts)
                {
                    if (Compare(p, _last) > 0 && (!got || Compare(p, (msn, part)) < 0))
                    {
                        await FetchAsync(p, ct);
                    }
                }

                if (got)
                {
                    Received((msn, part), arrival);
                    foreach (var p in listing.Parts)
                    {
                        if (Compare(p, _last) > 0)
                        {
                            await FetchAsync(p, ct);
                        }
                    }
                }
            }
        }

        private async Task FetchAsync((long Msn, int Part) p, CancellationToken ct)
        {
            if (await GetPartAsync(p.Msn, p.Part, ct))
            {
                Received(p, UnixNow());
            }
            else
            {
                MissedParts++;
                _last = p;
            }
        }

        private void Received((long Msn, int Part) p, double arrival)
        {
            if (Compare(p, _last) <= 0)
            {
                return;
            }

            Parts++;
            var now = Stopwatch.GetTimestamp();
            if (_lastArrival != 0 && Stopwatch.GetElapsedTime(_lastArrival, now) > stallGap)
            {
                Stalls++;
            }

            _lastArrival = now;
            _last = p;
            if (_partEnds.TryGetValue(p, out var endsAt))
            {
                Delays.Add(Math.Max(0, arrival - endsAt));
            }
        }

        private static int Compare((long Msn, int Part) a, (long Msn, int Part) b) =>
            a.Msn != b.Msn ? a.Msn.CompareTo(b.Msn) : a.Part.CompareTo(b.Part);

        private static double UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

        private async Task<bool> GetPartAsync(long msn, int part, CancellationToken ct)
        {
            Requests++;
            try
            {
                using var response = await http.GetAsync(new Uri(playlist, $"{msn}.{part}.m4s"), HttpCompletionOption.ResponseContentRead, ct);
                if (!response.IsSuccessStatusCode)
                {
                    if (response.StatusCode != HttpStatusCode.NotFound)
                    {
                        Errors++; // 404: a hint the segment's end made void, as hls.js sees it too
                    }

                    return false;
                }

                PartBytes += response.Content.Headers.ContentLength ?? 0;
                return true;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                Errors++;
                return false;
            }
        }

        private async Task<string?> GetStringAsync(Uri uri, CancellationToken ct)
        {
            Requests++;
            try
            {
                using var response = await http.GetAsync(uri, ct);
                if (!response.IsSuccessStatusCode)
                {
                    Errors++;
                    return null;
                }

                return await response.Content.ReadAsStringAsync(ct);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                Errors++;
                return null;
            }
        }

        private (List<(long Msn, int Part)> Parts, (long Msn, int Part) Hint) Parse(string text)
        {
            var parts = new List<(long, int)>();
            (long, int) hint = default;
            double time = 0;
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("#EXT-X-PROGRAM-DATE-TIME:", StringComparison.Ordinal))
                {
                    time = DateTimeOffset.Parse(line[25..], CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() / 1000.0;
                }
                else if (line.StartsWith("#EXT-X-PART:", StringComparison.Ordinal) && TryPart(line, out var p))
                {
                    var duration = double.Parse(line.Split("DURATION=")[1].Split(',')[0], CultureInfo.InvariantCulture);
                    time += duration;
                    _partEnds[p] = time;
                    parts.Add(p);
                }
                else if (line.StartsWith("#EXT-X-PRELOAD-HINT:", StringComparison.Ordinal) && TryPart(line, out var h))
                {
                    hint = h;
                }
            }

            if (_partEnds.Count > 4096)
            {
                foreach (var old in _partEnds.Keys.Where(k => Compare(k, _last) < 0).ToList())
                {
                    _partEnds.Remove(old);
                }
            }

            return (parts, hint);
        }

        private static bool TryPart(string line, out (long Msn, int Part) part)
        {
            part = default;
            var at = line.IndexOf("URI=\"", StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            var uri = line[(at + 5)..line.IndexOf('"', at + 5)];
            var pieces = uri.Split('.');
            return pieces.Length == 3 && long.TryParse(pieces[0], CultureInfo.InvariantCulture, out var msn) && int.TryParse(pieces[1], CultureInfo.InvariantCulture, out var index)
                && (part = (msn, index)) != default;
        }
    }
}
