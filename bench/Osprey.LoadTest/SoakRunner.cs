using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Osprey.LoadTest;

/// <summary>
/// Soaks vw's streams and destinations under ingest: while the tool publishes one or two MPEG-TS feeds, it adds and
/// removes a stream combining them and a destination pushing it to a relay, cycle after cycle, and samples the
/// server's (and the relay's) threads, open descriptors, RSS and task counts before, during and after.
/// </summary>
/// <remarks>
/// A cycle: <c>POST /api/streams</c>, <c>POST /api/destinations</c> (to the relay, so a client really connects),
/// wait until <c>/api/relay</c> shows the destination connected with bytes sent (bounded by
/// <see cref="SoakOptions.ConnectWait"/>), keep them <see cref="SoakOptions.Hold"/> so that frames flow, then delete both: by name on even cycles, with <c>/all</c> on odd ones.
/// Every request has a 5 s timeout and the whole run is bounded by <see cref="SoakOptions.MaxDuration"/> plus the
/// settle and checks (about 40 s).
/// </remarks>
public static class SoakRunner
{
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_pollInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan s_publisherStart = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_settleLimit = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan s_probeTime = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan s_endToEndTimeout = TimeSpan.FromSeconds(2);
    private const int WarmSampleCycle = 100;
    private const int MaxErrorsKept = 10;

    /// <summary>Runs the soak; throws <see cref="ArgumentException"/> for invalid options or a non-loopback target without <see cref="SoakOptions.AllowRemote"/>.</summary>
    public static async Task<SoakReport> RunAsync(SoakOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        var log = options.Log ?? (static _ => { });
        var startedAt = DateTimeOffset.UtcNow;
        using var resolveCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        resolveCts.CancelAfter(s_requestTimeout);
        var serverEndpoint = await LoadRunner.ResolveAsync(options.ServerUrl, options.AllowRemote, resolveCts.Token, ct);
        _ = await LoadRunner.ResolveAsync(options.Destination, options.AllowRemote, resolveCts.Token, ct);

        // One connection per server, kept open: the samples count the same client sockets before and after.
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) }) { Timeout = s_requestTimeout };
        var state = new RunState(options, http, log);
        var runId = (uint)Random.Shared.Next(1, int.MaxValue);

        // Ingest for the whole soak.
        using var publishCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var publishers = new List<(SoakPublisher Spec, TsPublisher Publisher, Task? Task)>();
        var watch = Stopwatch.StartNew();
        try
        {
            foreach (var spec in options.Publishers)
            {
                var source = TsSource.Load(spec.File, TsSource.PesWrites, null);
                var publisher = new TsPublisher(source, new Uri(options.ServerUrl, "ts/" + spec.Feed), runId, markers: true, window: null);
                Task? task = null;
                if (await publisher.ConnectAsync(serverEndpoint, ct))
                {
                    var limit = options.MaxDuration + s_settleLimit + options.Settle + TimeSpan.FromSeconds(60);
                    task = Task.Run(() => publisher.RunAsync(limit, publishCts.Token), CancellationToken.None);
                }

                publishers.Add((spec, publisher, task));
                log($"publishing {spec.File} ({source.BitsPerSecond / 1e6:0.000} Mbit/s) to /ts/{spec.Feed}{(publisher.Error is null ? "" : $": {publisher.Error}")}");
            }

            await Task.Delay(s_publisherStart, ct);
            var before = await state.SnapshotAsync("before", 0, watch, ct);
            var trend = new List<SoakSnapshot> { before };
            log($"before: {before.Describe()}");

            var cycles = await RunCyclesAsync(state, watch, trend, ct);

            // Settle: the task counts should come back to where they were, then a quiet moment for memory.
            var settleWatch = Stopwatch.StartNew();
            var settled = await WaitForCountsAsync(state, before, ct);
            await Task.Delay(options.Settle, ct);
            var after = await state.SnapshotAsync("after", cycles, watch, ct);
            trend.Add(after);
            log($"after:  {after.Describe()} ({(settled ? "task counts back" : "task counts NOT back")} after {settleWatch.Elapsed.TotalSeconds:0.0} s with the settle time)");

            var health = new List<SoakCheck>
            {
                await state.HealthAsync("server", options.ServerUrl, ct),
                await state.HealthAsync("relay", options.RelayHttpUrl, ct),
            };
            foreach (var (spec, publisher, _) in publishers)
            {
                health.Add(await ProbeFlowAsync(options, spec.Feed, publisher, runId, ct));
            }

            foreach (var check in health)
            {
                log($"check {check.Name}: {(check.Ok ? "ok" : "FAILED")}: {check.Detail}");
            }

            return new SoakReport
            {
                ServerUrl = options.ServerUrl.ToString(),
                Destination = options.Destination.ToString(),
                StartedAt = startedAt,
                Seconds = Math.Round(watch.Elapsed.TotalSeconds, 1),
                CyclesRequested = options.Cycles,
                CyclesCompleted = cycles,
                StreamFeeds = options.EffectiveStreamFeeds,
                Publishers = [.. publishers.Select(p => new SoakPublisherResult
                {
                    Feed = p.Spec.Feed,
                    File = p.Spec.File,
                    Bytes = p.Publisher.Bytes,
                    Writes = p.Publisher.Writes,
                    Error = p.Publisher.Error,
                })],
                Before = before,
                After = after,
                Trend = trend,
                Settled = settled,
                ConnectedCycles = state.ConnectedCycles,
                ConnectTimeouts = state.ConnectTimeouts,
                ConnectMs = state.ConnectSummary(),
                HoldMs = options.Hold.TotalMilliseconds,
                EndToEndChecks = state.EndToEndChecks,
                EndToEndOk = state.EndToEndOk,
                RequestErrors = state.RequestErrors,
                FirstErrors = state.FirstErrors,
                Checks = health,
            };
        }
        finally
        {
            await publishCts.CancelAsync();
            using var finish = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            foreach (var (_, publisher, task) in publishers)
            {
                if (task is not null)
                {
                    await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
                    await publisher.FinishAsync(finish.Token);
                }

                publisher.Dispose();
            }
        }
    }

    private static async Task<int> RunCyclesAsync(RunState state, Stopwatch watch, List<SoakSnapshot> trend, CancellationToken ct)
    {
        var options = state.Options;
        var feeds = string.Join(",", options.EffectiveStreamFeeds.Select(f => JsonSerializer.Serialize(f, LoadReportJsonContext.Default.String)));
        var destinationBase = options.Destination.ToString();
        var completed = 0;
        for (var i = 0; i < options.Cycles && !ct.IsCancellationRequested; i++)
        {
            if (watch.Elapsed > options.MaxDuration)
            {
                state.Log($"stopping after {i} cycles: the {options.MaxDuration.TotalSeconds:0} s limit");
                break;
            }

            var stream = $"stream/soak/{i}";
            var id = $"soak{i}";
            var destination = destinationBase + (i % options.Topics);
            await state.RequestAsync(HttpMethod.Post, "api/streams", $$"""{"stream":"{{stream}}","feeds":[{{feeds}}]}""", ct);
            await state.RequestAsync(HttpMethod.Post, "api/destinations", $$"""{"id":"{{id}}","stream":"{{stream}}","destination":"{{destination}}"}""", ct);
            var connected = await state.WaitForDestinationAsync(id, ct);
            if (connected && options.EndToEndEvery > 0 && i % options.EndToEndEvery == 0)
            {
                await state.CheckEndToEndAsync(i % options.Topics, ct);
            }
            else if (connected && options.Hold > TimeSpan.Zero)
            {
                await Task.Delay(options.Hold, ct);
            }

            if (i % 2 == 0)
            {
                await state.RequestAsync(HttpMethod.Delete, $"api/destinations/{id}", null, ct);
                await state.RequestAsync(HttpMethod.Delete, $"api/streams/{stream}", null, ct);
            }
            else
            {
                await state.RequestAsync(HttpMethod.Delete, "api/destinations/all", null, ct);
                await state.RequestAsync(HttpMethod.Delete, "api/streams/all", null, ct);
            }

            completed = i + 1;
            if (completed == WarmSampleCycle || completed % options.SampleEvery == 0)
            {
                var sample = await state.SnapshotAsync($"cycle {completed}", completed, watch, ct);
                trend.Add(sample);
                state.Log($"{sample.Label,-11} {sample.Describe()}; {state.ConnectedCycles}/{completed} connected");
            }
        }

        return completed;
    }

    private static async Task<bool> WaitForCountsAsync(RunState state, SoakSnapshot before, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < s_settleLimit)
        {
            var status = await state.ReadRelayStatusAsync(state.Options.ServerUrl, ct);
            if (status is { } s && s.StreamInputTasks <= (before.StreamInputTasks ?? 0) && s.DestinationClients <= (before.DestinationClients ?? 0))
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
        }

        return false;
    }

    /// <summary>A jsmpeg-like viewer of the feed for a moment: bytes must arrive, with a marker sent after it connected.</summary>
    private static async Task<SoakCheck> ProbeFlowAsync(SoakOptions options, string feed, TsPublisher publisher, uint runId, CancellationToken ct)
    {
        var name = $"ingest {feed}";
        if (publisher.Error is { } error)
        {
            return new SoakCheck { Name = name, Ok = false, Detail = error };
        }

        var markersAtStart = publisher.Markers;
        var bytesAtStart = publisher.Bytes;
        var url = new UriBuilder(options.ServerUrl) { Scheme = "ws", Path = $"/ws/{feed}/ts" }.Uri;
        var (received, _) = await ReceiveAsync(url, s_probeTime, stopAfterFirst: false, ct);
        var newest = NewestMarker(received, runId);
        var ok = received.Length > 0 && newest > markersAtStart && publisher.Error is null;
        return new SoakCheck
        {
            Name = name,
            Ok = ok,
            Detail = $"a viewer of /ws/{feed}/ts got {received.Length} bytes in {s_probeTime.TotalSeconds:0.0} s, newest marker {newest} (publisher at {markersAtStart} when it connected); " +
                $"publisher sent {publisher.Bytes - bytesAtStart} bytes meanwhile{(publisher.Error is null ? "" : $"; {publisher.Error}")}",
        };
    }

    /// <summary>Receives binary messages from <paramref name="url"/> for up to <paramref name="time"/>; returns the bytes and the message count.</summary>
    internal static async Task<(byte[] Bytes, int Messages)> ReceiveAsync(Uri url, TimeSpan time, bool stopAfterFirst, CancellationToken ct)
    {
        using var socket = new ClientWebSocket();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(time);
        using var bytes = new MemoryStream();
        var messages = 0;
        var buffer = new byte[64 * 1024];
        try
        {
            await socket.ConnectAsync(url, cts.Token);
            // Bounded by the timeout; each pass receives at least one frame.
            while (socket.State == WebSocketState.Open)
            {
                var result = await socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                bytes.Write(buffer, 0, result.Count);
                if (result.EndOfMessage && result.MessageType == WebSocketMessageType.Binary)
                {
                    messages++;
                    if (stopAfterFirst)
                    {
                        break;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
        {
            // Time is up, or the server refused or closed: what arrived is the answer.
        }

        if (socket.State == WebSocketState.Open)
        {
            using var close = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", close.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
            {
                // Courtesy only.
            }
        }

        return (bytes.ToArray(), messages);
    }

    /// <summary>The highest marker sequence of this run in a received transport stream (packets from the first sync byte).</summary>
    internal static long NewestMarker(ReadOnlySpan<byte> stream, uint runId)
    {
        var start = stream.IndexOf(TsPackets.SyncByte);
        long newest = 0;
        for (var at = Math.Max(0, start); start >= 0 && at + TsPackets.Size <= stream.Length; at += TsPackets.Size)
        {
            var packet = stream.Slice(at, TsPackets.Size);
            if (packet[0] == TsPackets.SyncByte && TsPackets.TryReadMarker(packet, runId, out var sequence, out _, out _))
            {
                newest = Math.Max(newest, sequence);
            }
        }

        return newest;
    }

    /// <summary>What the cycles share: the HTTP client, the counters and the error log.</summary>
    private sealed class RunState(SoakOptions options, HttpClient http, Action<string> log)
    {
        private readonly List<double> _connectMs = [];

        public SoakOptions Options => options;

        public Action<string> Log => log;

        public int ConnectedCycles { get; private set; }

        public int ConnectTimeouts { get; private set; }

        public int EndToEndChecks { get; private set; }

        public int EndToEndOk { get; private set; }

        public int RequestErrors { get; private set; }

        public List<string> FirstErrors { get; } = [];

        public async Task RequestAsync(HttpMethod method, string path, string? json, CancellationToken ct)
        {
            using var request = new HttpRequestMessage(method, new Uri(options.ServerUrl, path));
            if (json is not null)
            {
                request.Content = new StringContent(json, Encoding.UTF8);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }

            try
            {
                using var response = await http.SendAsync(request, ct);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var body = await response.Content.ReadAsStringAsync(ct);
                    Error($"{method} /{path}: {(int)response.StatusCode} {body.Trim()}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                Error($"{method} /{path}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        /// <summary>Polls the server's status until the destination is connected and has pushed bytes; false after <see cref="SoakOptions.ConnectWait"/>.</summary>
        public async Task<bool> WaitForDestinationAsync(string id, CancellationToken ct)
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < options.ConnectWait)
            {
                var status = await ReadRelayStatusAsync(options.ServerUrl, ct, id);
                if (status is { DestinationConnected: true, DestinationBytes: > 0 })
                {
                    ConnectedCycles++;
                    _connectMs.Add(watch.Elapsed.TotalMilliseconds);
                    return true;
                }

                await Task.Delay(s_pollInterval, ct);
            }

            ConnectTimeouts++;
            return false;
        }

        /// <summary>The relay serves what the destination pushes: one binary message from its <c>/out/</c>.</summary>
        public async Task CheckEndToEndAsync(int topic, CancellationToken ct)
        {
            EndToEndChecks++;
            var path = options.Destination.AbsolutePath.Replace("/in/", "/out/", StringComparison.Ordinal) + topic;
            var url = new UriBuilder(options.Destination) { Path = path }.Uri;
            var (bytes, messages) = await ReceiveAsync(url, s_endToEndTimeout, stopAfterFirst: true, ct);
            if (messages > 0 && bytes.Length > 0)
            {
                EndToEndOk++;
            }
            else
            {
                Error($"end to end: nothing from {url} within {s_endToEndTimeout.TotalSeconds:0} s");
            }
        }

        public async Task<SoakCheck> HealthAsync(string name, Uri server, CancellationToken ct)
        {
            try
            {
                var body = await http.GetStringAsync(new Uri(server, "healthcheck"), ct);
                return new SoakCheck { Name = $"healthcheck {name}", Ok = body.Trim() == "\"ok\"", Detail = body.Trim() };
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                return new SoakCheck { Name = $"healthcheck {name}", Ok = false, Detail = ex.Message };
            }
        }

        public async Task<SoakSnapshot> SnapshotAsync(string label, int cycle, Stopwatch watch, CancellationToken ct)
        {
            var server = await ReadRelayStatusAsync(options.ServerUrl, ct);
            var relay = await ReadRelayStatusAsync(options.RelayHttpUrl, ct);
            return new SoakSnapshot
            {
                Label = label,
                Cycle = cycle,
                Seconds = Math.Round(watch.Elapsed.TotalSeconds, 1),
                Server = ProcessSnapshot.Read(options.ServerPid),
                Relay = ProcessSnapshot.Read(options.RelayPid),
                StreamInputTasks = server?.StreamInputTasks,
                DestinationClients = server?.DestinationClients,
                Streams = server?.Streams,
                Destinations = server?.Destinations,
                Publishers = server?.Publishers,
                RelayPublishers = relay?.Publishers,
            };
        }

        public async Task<RelayStatus?> ReadRelayStatusAsync(Uri server, CancellationToken ct, string? destinationId = null)
        {
            try
            {
                var json = await http.GetByteArrayAsync(new Uri(server, "api/relay"), ct);
                return RelayStatus.Parse(json, destinationId);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !ct.IsCancellationRequested)
            {
                Error($"GET {server}api/relay: {ex.GetType().Name}: {ex.Message}");
                return null;
            }
        }

        public SoakDurations ConnectSummary()
        {
            var sorted = _connectMs.Order().ToList();
            double? At(double p) => sorted.Count == 0 ? null : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)], 1);
            return new SoakDurations { P50Ms = At(50), P95Ms = At(95), P99Ms = At(99), MaxMs = sorted.Count == 0 ? null : Math.Round(sorted[^1], 1) };
        }

        private void Error(string message)
        {
            RequestErrors++;
            if (FirstErrors.Count < MaxErrorsKept)
            {
                FirstErrors.Add(message);
                log(message);
            }
        }
    }

    /// <summary>The parts of <c>GET /api/relay</c> the soak watches.</summary>
    internal sealed record RelayStatus(int StreamInputTasks, int DestinationClients, int Streams, int Destinations, int Publishers, bool DestinationConnected, long DestinationBytes)
    {
        public static RelayStatus Parse(byte[] json, string? destinationId)
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            int Count(string name) => root.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array ? array.GetArrayLength() : 0;
            int Number(string name) => root.TryGetProperty(name, out var value) && value.TryGetInt32(out var n) ? n : -1;
            var connected = false;
            long bytes = 0;
            if (destinationId is not null && root.TryGetProperty("destinations", out var destinations) && destinations.ValueKind == JsonValueKind.Array)
            {
                foreach (var destination in destinations.EnumerateArray())
                {
                    if (destination.TryGetProperty("id", out var id) && id.GetString() == destinationId)
                    {
                        connected = destination.TryGetProperty("state", out var s) && s.GetString() == "connected";
                        bytes = destination.TryGetProperty("bytesSent", out var b) && b.TryGetInt64(out var n) ? n : 0;
                    }
                }
            }

            return new RelayStatus(Number("streamInputTasks"), Number("destinationClients"), Count("streams"), Count("destinations"), Count("publishers"), connected, bytes);
        }
    }
}
