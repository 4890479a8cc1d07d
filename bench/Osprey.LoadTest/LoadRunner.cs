using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Osprey.LoadTest;

/// <summary>Runs a fan-out load test: many viewers of one feed (raw, JPEG or fMP4 WebSocket, or MJPEG over HTTP), measured over a fixed window.</summary>
public static class LoadRunner
{
    private static readonly TimeSpan s_loopStopGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_closeGrace = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_rssInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_publisherSlack = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan s_publisherHeadStart = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Connects all viewers (bounded concurrency), waits the warm-up, measures for <see cref="LoadOptions.Duration"/>,
    /// then closes every connection. The run ends within about
    /// <see cref="LoadOptions.ConnectTimeout"/> + <see cref="LoadOptions.Warmup"/> + <see cref="LoadOptions.Duration"/> + 6 s
    /// whatever the server does.
    /// </summary>
    /// <param name="options">What to load and for how long.</param>
    /// <param name="ct">Cancelling ends the run early; the report then has <see cref="LoadReport.Interrupted"/> set.</param>
    /// <returns>The report; a server that accepted nobody gives a report with <see cref="LoadReport.ViewersConnected"/> = 0, not an exception.</returns>
    /// <exception cref="ArgumentException">The options are invalid, or the target is not a loopback address and <see cref="LoadOptions.AllowRemote"/> is off.</exception>
    public static async Task<LoadReport> RunAsync(LoadOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        var log = options.Log ?? (static _ => { });
        var startedAt = DateTimeOffset.UtcNow;
        var mode = options.EffectiveMode;
        var discarder = await PayloadDiscarder.CreateAsync(options.DiscardMode, ct);
        log($"stream mode {mode.ToString().ToLowerInvariant()}; discard mode {discarder.Mode}: {discarder.Detail}");
        var tsSource = mode == StreamMode.Ts && options.TsFile is { } file ? LoadTsSource(options, file, log) : null;

        // One deadline covers name resolution and every handshake, so a slow resolver cannot stretch the run.
        using var connectCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        connectCts.CancelAfter(options.ConnectTimeout);
        var connectWatch = Stopwatch.StartNew();
        var endpoint = await ResolveAsync(options.Url, options.AllowRemote, connectCts.Token, ct);

        var window = new MeasurementWindow();
        // Markers carry the run's id; 0 means there are none to expect (ts mode only watching).
        var runId = tsSource is null ? 0u : (uint)Random.Shared.Next(1, int.MaxValue);
        var total = options.Viewers + options.StalledViewers;
        var viewers = new Viewer[total];
        for (var i = 0; i < total; i++)
        {
            viewers[i] = Viewer.Create(mode, i + 1, stalled: i >= options.Viewers, options, discarder, window, runId);
        }

        TsPublisher? publisher = null;
        Task? publishing = null;
        using var publishCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            if (tsSource is not null)
            {
                var publishUrl = options.TsPublishUrl ?? LoadOptions.PublishUrlFromViewerUrl(options.Url)!;
                var publishEndpoint = await ResolveAsync(publishUrl, options.AllowRemote, connectCts.Token, ct);
                publisher = new TsPublisher(tsSource, publishUrl, runId, options.TsMarkers, window);
                log($"publishing {tsSource.Path} ({tsSource.BitsPerSecond / 1e6:0.000} Mbit/s) to {publishUrl}");
                if (await publisher.ConnectAsync(publishEndpoint, connectCts.Token))
                {
                    // Longer than the whole run can take; the run cancels it first.
                    var limit = options.ConnectTimeout + options.Warmup + options.Duration + s_publisherSlack;
                    publishing = Task.Run(() => publisher.RunAsync(limit, publishCts.Token), CancellationToken.None);
                    await WaitForPublisherAsync(publisher, connectCts.Token);
                }

                if (publisher.Error is { } error)
                {
                    log(error);
                }
            }

            log($"connecting {options.Viewers} viewers{(options.StalledViewers > 0 ? $" + {options.StalledViewers} stalled" : "")} to {endpoint}");
            await ConnectAllAsync(options, endpoint, viewers, readCts.Token, connectCts.Token);
            var connectSeconds = connectWatch.Elapsed.TotalSeconds;
            var connected = viewers.Count(v => v.Connected && !v.Stalled);
            log($"{connected}/{options.Viewers} viewers connected in {connectSeconds:0.00} s; warm-up {options.Warmup.TotalSeconds:0.#} s");

            // A publisher alone (ts mode, no viewers) is measured too: that is the cost of ingest.
            var measurable = connected > 0 || (options.Viewers == 0 && publisher is { Connected: true, Error: null });
            var interrupted = ct.IsCancellationRequested;
            if (!interrupted && measurable)
            {
                interrupted = !await DelayAsync(options.Warmup, ct);
            }

            var measured = new WindowMeasurement();
            if (!interrupted && measurable)
            {
                log($"measuring for {options.Duration.TotalSeconds:0.#} s");
                interrupted = !await MeasureWindowAsync(options, window, measured, ct);
            }

            var stalledStates = viewers.Where(v => v.Stalled).Select(v => (Viewer: v, Probe: v.ProbeConnection())).ToList();
            measured.PublisherMarkersAtStop = publisher?.Markers ?? 0;
            await readCts.CancelAsync();
            await WaitBoundedAsync(viewers.Select(v => v.ReadLoop).OfType<Task>(), s_loopStopGrace);

            return BuildReport(options, mode, startedAt, connectSeconds, interrupted, discarder, window, viewers, stalledStates, measured, tsSource, publisher);
        }
        finally
        {
            await readCts.CancelAsync();
            await publishCts.CancelAsync();
            using var closeCts = new CancellationTokenSource(s_closeGrace);
            if (publishing is not null)
            {
                await WaitBoundedAsync([publishing], s_loopStopGrace);
                await publisher!.FinishAsync(closeCts.Token);
            }

            await WaitBoundedAsync(viewers.Select(v => v.CloseAsync(closeCts.Token)), s_closeGrace + s_closeGrace);
            foreach (var viewer in viewers)
            {
                viewer.Dispose();
            }

            publisher?.Dispose();
        }
    }

    private static TsSource LoadTsSource(LoadOptions options, string file, Action<string> log)
    {
        try
        {
            var source = TsSource.Load(file, options.TsWriteSize, options.TsBitsPerSecond);
            log($"ts file {file}: {source.PacketCount} packets, {source.LoopSeconds:0.00} s per loop ({(source.TimedByPcr ? "PCR timing" : "constant rate")}), " +
                $"{source.WriteCount} writes per loop ({(source.WriteSize == TsSource.PesWrites ? "ffmpeg-like" : $"{source.WriteSize} B")})");
            return source;
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException(ex.Message, nameof(options), ex);
        }
    }

    /// <summary>Waits for the first write and then a little, so that the feed exists (and has a key frame) before viewers ask for it.</summary>
    private static async Task WaitForPublisherAsync(TsPublisher publisher, CancellationToken deadline)
    {
        try
        {
            for (var i = 0; i < 200 && publisher.Writes == 0 && publisher.Error is null; i++)
            {
                await Task.Delay(25, deadline);
            }

            await Task.Delay(s_publisherHeadStart, deadline);
        }
        catch (OperationCanceledException)
        {
            // The connect deadline passed; the viewers' handshakes will say so.
        }
    }

    internal static async Task<IPEndPoint> ResolveAsync(Uri url, bool allowRemote, CancellationToken deadline, CancellationToken ct)
    {
        IPAddress[] addresses;
        if (IPAddress.TryParse(url.DnsSafeHost, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(url.DnsSafeHost, deadline);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new ArgumentException($"cannot resolve {url.DnsSafeHost}: {ex.Message}", nameof(url), ex);
            }
        }

        var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new ArgumentException($"{url.DnsSafeHost} has no address", nameof(url));
        if (!IPAddress.IsLoopback(address) && !allowRemote)
        {
            throw new ArgumentException($"{address} is not a loopback address; a load test stays on this machine unless AllowRemote (--allow-remote) is set", nameof(url));
        }

        return new IPEndPoint(address, url.Port);
    }

    private static async Task ConnectAllAsync(LoadOptions options, IPEndPoint endpoint, Viewer[] viewers, CancellationToken readToken, CancellationToken deadline)
    {
        using var gate = new SemaphoreSlim(options.MaxConcurrentHandshakes);
        var host = options.Url.Authority;
        var target = options.Url.PathAndQuery;

        async Task ConnectOneAsync(Viewer viewer)
        {
            try
            {
                await gate.WaitAsync(deadline);
            }
            catch (OperationCanceledException)
            {
                viewer.MarkFailed("connect timeout (handshake never started)");
                return;
            }

            // A slot freed by a handshake that timed out can be handed on before this waiter sees the deadline.
            if (deadline.IsCancellationRequested)
            {
                gate.Release();
                viewer.MarkFailed("connect timeout (handshake never started)");
                return;
            }

            try
            {
                if (await viewer.ConnectAsync(endpoint, host, target, deadline) && !viewer.Stalled)
                {
                    // Started on the pool: a socket with data queued completes receives synchronously, and the
                    // loop must not run inline here while it holds a handshake slot.
                    viewer.ReadLoop = Task.Run(() => viewer.RunAsync(readToken), CancellationToken.None);
                }
            }
            finally
            {
                gate.Release();
            }
        }

        await Task.WhenAll(viewers.Select(ConnectOneAsync));
    }

    /// <summary>Waits; false if cancelled.</summary>
    private static async Task<bool> DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Opens the window, samples the server across it and closes it; false if cancelled early.</summary>
    private static async Task<bool> MeasureWindowAsync(LoadOptions options, MeasurementWindow window, WindowMeasurement measured, CancellationToken ct)
    {
        var serverCpu = options.ServerPid is int pid ? new ProcessSampler(pid) : null;
        var selfCpu = new ProcessSampler(null);
        var serverCpuStart = 0.0;
        var hasServerCpu = serverCpu?.TryReadCpuSeconds(out serverCpuStart) ?? false;
        var hasSelfCpu = selfCpu.TryReadCpuSeconds(out var selfCpuStart);
        var allocatedStart = GC.GetTotalAllocatedBytes(precise: true);

        window.Open(options.Duration);
        using var windowCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        windowCts.CancelAfter(options.Duration);
        var rssTask = options.ServerPid is int rssPid
            ? SampleMemoryAsync(new ProcessSampler(rssPid), options.Duration, measured, windowCts.Token)
            : Task.CompletedTask;

        var completed = await DelayAsync(options.Duration, ct);
        if (!completed)
        {
            window.CloseNow();
        }

        measured.AllocatedBytes = GC.GetTotalAllocatedBytes(precise: true) - allocatedStart;
        if (hasSelfCpu && selfCpu.TryReadCpuSeconds(out var selfCpuEnd))
        {
            measured.ToolCpuSeconds = selfCpuEnd - selfCpuStart;
        }

        if (hasServerCpu)
        {
            if (serverCpu!.TryReadCpuSeconds(out var serverCpuEnd))
            {
                measured.ServerCpuSeconds = serverCpuEnd - serverCpuStart;
            }
            else
            {
                measured.ServerExited = true;
            }
        }

        await windowCts.CancelAsync();
        await rssTask;
        return completed;
    }

    private static async Task SampleMemoryAsync(ProcessSampler sampler, TimeSpan duration, WindowMeasurement measured, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(s_rssInterval);
        var maxSamples = (int)(duration / s_rssInterval) + 2;
        try
        {
            for (var i = 0; i < maxSamples; i++)
            {
                if (sampler.TryReadMemoryKb(out var rssKb, out var highWaterKb))
                {
                    measured.RssSamples++;
                    measured.PeakRssKb = Math.Max(measured.PeakRssKb, rssKb);
                    measured.HighWaterKb = highWaterKb;
                }
                else if (measured.RssSamples > 0)
                {
                    measured.ServerExited = true;
                    return;
                }

                if (!await timer.WaitForNextTickAsync(ct))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Window over.
        }
    }

    private static async Task WaitBoundedAsync(IEnumerable<Task> tasks, TimeSpan limit)
    {
        try
        {
            await Task.WhenAll(tasks).WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            // A loop or close that ignores cancellation must not hold the run open; its socket is disposed next.
        }
    }

    private static LoadReport BuildReport(
        LoadOptions options,
        StreamMode mode,
        DateTimeOffset startedAt,
        double connectSeconds,
        bool interrupted,
        PayloadDiscarder discarder,
        MeasurementWindow window,
        Viewer[] viewers,
        List<(Viewer Viewer, (string State, bool StillConnected, long UnreadBytes) Probe)> stalled,
        WindowMeasurement measured,
        TsSource? tsSource,
        TsPublisher? publisher)
    {
        var windowSeconds = window.Seconds;
        var watchers = viewers.Where(v => !v.Stalled).ToList();
        var results = watchers.Select(v => ToResult(v, windowSeconds, measured.PublisherMarkersAtStop)).ToList();
        var connectedResults = results.Where(r => r.Connected).ToList();
        var fps = connectedResults.Select(r => r.Fps).Order().ToList();
        var captureFps = connectedResults.Select(r => r.CaptureFps).Order().ToList();
        var totalBytes = results.Sum(r => r.Bytes);

        var allSamples = new int[watchers.Sum(v => v.LatencySamples.Length)];
        var offset = 0;
        foreach (var viewer in watchers)
        {
            viewer.LatencySamples.CopyTo(allSamples.AsSpan(offset));
            offset += viewer.LatencySamples.Length;
        }

        Array.Sort(allSamples);
        var latencyFrames = watchers.Sum(v => v.LatencyCount);
        var latency = new LatencySummary
        {
            Samples = allSamples.Length,
            Frames = latencyFrames,
            P50Ms = PercentileMs(allSamples, 50),
            P95Ms = PercentileMs(allSamples, 95),
            P99Ms = PercentileMs(allSamples, 99),
            MaxMs = latencyFrames > 0 ? watchers.Where(v => v.LatencyCount > 0).Max(v => v.LatencyMaxUs) / 1000.0 : null,
            MeanMs = latencyFrames > 0 ? Math.Round(watchers.Sum(v => v.LatencySumUs) / (double)latencyFrames / 1000.0, 3) : null,
        };

        ServerStats? server = null;
        if (options.ServerPid is int pid)
        {
            server = new ServerStats
            {
                Pid = pid,
                CpuSeconds = Round(measured.ServerCpuSeconds, 3),
                CpuPercentOfOneCore = Round(measured.ServerCpuSeconds / windowSeconds * 100, 2),
                CpuSecondsPerGigabyte = totalBytes > 0 ? Round(measured.ServerCpuSeconds / (totalBytes / 1e9), 4) : null,
                PeakRssMegabytes = measured.RssSamples > 0 ? Round(measured.PeakRssKb * 1024 / 1e6, 2) : null,
                HighWaterRssMegabytes = measured.RssSamples > 0 ? Round(measured.HighWaterKb * 1024 / 1e6, 2) : null,
                RssSamples = measured.RssSamples,
                Exited = measured.ServerExited,
            };
        }

        var sizes = new int[watchers.Sum(v => v.SizeSamples.Length)];
        offset = 0;
        foreach (var viewer in watchers)
        {
            viewer.SizeSamples.CopyTo(sizes.AsSpan(offset));
            offset += viewer.SizeSamples.Length;
        }

        Array.Sort(sizes);
        var sized = watchers.Where(v => v.MaxFrameBytes > 0).ToList();
        var frameBytes = sizes.Length == 0 || sized.Count == 0 ? null : new FrameSizeSummary
        {
            Min = sized.Min(v => v.MinFrameBytes),
            Median = sizes.Length % 2 == 1 ? sizes[sizes.Length / 2] : (sizes[(sizes.Length / 2) - 1] + (long)sizes[sizes.Length / 2]) / 2,
            Max = sized.Max(v => v.MaxFrameBytes),
            Samples = sizes.Length,
        };

        var sample = watchers.FirstOrDefault(v => v.PayloadLength > 0);
        return new LoadReport
        {
            Url = options.Url.ToString(),
            Mode = mode,
            TransportDetail = watchers.Select(v => v.TransportDetail).FirstOrDefault(d => d is not null) ?? "",
            StartedAt = startedAt,
            ViewersRequested = options.Viewers,
            ViewersConnected = connectedResults.Count,
            ConnectionErrors = viewers.Count(v => !v.Connected),
            ConnectSeconds = Math.Round(connectSeconds, 3),
            WarmupSeconds = options.Warmup.TotalSeconds,
            WindowSeconds = windowSeconds,
            Interrupted = interrupted,
            DiscardMode = discarder.Mode,
            DiscardDetail = discarder.Detail,
            // A stream without a probe (BerryMSE's layout) has sizes but no dimensions.
            FrameWidth = sample is { Width: > 0 } ? sample.Width : null,
            FrameHeight = sample is { Width: > 0 } ? sample.Height : null,
            FramePayloadBytes = sample?.PayloadLength,
            FrameBytes = frameBytes,
            Fps = fps.Count == 0 ? new FpsSummary() : new FpsSummary { Min = fps[0], Median = Median(fps), Max = fps[^1], Mean = Math.Round(fps.Average(), 3) },
            CaptureFps = captureFps.Count == 0 ? new FpsSummary() : new FpsSummary { Min = captureFps[0], Median = Median(captureFps), Max = captureFps[^1], Mean = Math.Round(captureFps.Average(), 3) },
            TotalFrames = results.Sum(r => r.Frames),
            TotalBytes = totalBytes,
            TotalMegabytesPerSecond = windowSeconds > 0 ? Math.Round(totalBytes / windowSeconds / 1e6, 3) : 0,
            Latency = latency,
            Skipped = results.Sum(r => r.Skipped),
            Torn = results.Sum(r => r.Torn),
            OutOfOrder = results.Sum(r => r.OutOfOrder),
            BadProbes = results.Sum(r => r.BadProbes),
            UnexpectedMessages = results.Sum(r => r.UnexpectedMessages),
            MimeType = watchers.OfType<Mp4WebSocketViewer>().Select(v => v.MimeType).FirstOrDefault(m => m is not null),
            Messages = results.Sum(r => r.Messages),
            Headers = results.Sum(r => r.Headers),
            KeyFrameStarts = results.Any(r => r.KeyFrameStart is not null) ? results.All(r => r.KeyFrameStart is not false) : null,
            KeyFrames = results.Sum(r => r.KeyFrames),
            ResumesOnNonKeyFrame = results.Sum(r => r.ResumesOnNonKeyFrame),
            Ts = mode == StreamMode.Ts ? BuildTsSummary(options, tsSource, publisher, results, windowSeconds) : null,
            Server = server,
            Tool = new ToolStats { CpuSeconds = Round(measured.ToolCpuSeconds, 3), AllocatedBytesInWindow = measured.AllocatedBytes },
            Viewers = results,
            StalledViewers = [.. stalled.Select(s => new StalledViewerResult
            {
                Id = s.Viewer.Id,
                Connected = s.Viewer.Connected,
                Error = s.Viewer.Error,
                TcpState = s.Probe.State,
                StillConnected = s.Probe.StillConnected,
                UnreadBytes = s.Probe.UnreadBytes,
            })],
        };
    }

    private static TsSummary BuildTsSummary(LoadOptions options, TsSource? source, TsPublisher? publisher, List<ViewerResult> results, double windowSeconds)
    {
        var ts = results.Where(r => r.Connected && r.Ts is not null).Select(r => r.Ts!).ToList();
        var rates = ts.Select(t => t.MegabitsPerSecond).Order().ToList();
        return new TsSummary
        {
            File = source?.Path,
            FileMegabitsPerSecond = source is null ? null : Math.Round(source.BitsPerSecond / 1e6, 4),
            LoopSeconds = source is null ? null : Math.Round(source.LoopSeconds, 3),
            TimedByPcr = source?.TimedByPcr,
            Writes = source is null ? null : source.WriteSize == TsSource.PesWrites ? "ffmpeg-like (one per muxed packet, at most 32 KiB)" : $"{source.WriteSize / TsPackets.Size * TsPackets.Size} B",
            Markers = publisher is not null && options.TsMarkers,
            Publisher = publisher is null ? null : new TsPublisherResult
            {
                Connected = publisher.Connected,
                Error = publisher.Error,
                Bytes = publisher.Bytes,
                Writes = publisher.Writes,
                Markers = publisher.Markers,
                BytesInWindow = publisher.BytesInWindow,
                WritesInWindow = publisher.WritesInWindow,
                MegabitsPerSecondInWindow = windowSeconds > 0 ? Math.Round(publisher.BytesInWindow * 8 / windowSeconds / 1e6, 4) : 0,
                MaxLateMs = Math.Round(publisher.MaxLateMs, 2),
                LateWrites = publisher.LateWrites,
            },
            ViewersInOrder = ts.Count(t => t.InOrder),
            ViewersComplete = ts.Count(t => t.Complete),
            DeliveredMegabitsPerSecond = rates.Count == 0 ? new FpsSummary() : new FpsSummary { Min = rates[0], Median = Median(rates), Max = rates[^1], Mean = Math.Round(rates.Average(), 4) },
            StreamBytesInWindow = ts.Sum(t => t.StreamBytesInWindow),
            CheckedBytes = ts.Sum(t => t.CheckedBytes),
            ExpectedBytes = ts.Sum(t => t.ExpectedBytes),
            SkippedBytes = ts.Sum(t => t.SkippedBytes),
            Skips = ts.Sum(t => t.Skips),
            Resumes = ts.Sum(t => t.Resumes),
            ExcessBytes = ts.Sum(t => t.ExcessBytes),
            ContinuityErrors = ts.Sum(t => t.ContinuityErrors),
            SyncLosses = ts.Sum(t => t.SyncLosses),
            UnalignedMessages = ts.Sum(t => t.UnalignedMessages),
            TableMessages = ts.Sum(t => t.TableMessages),
            MarkersReceived = ts.Sum(t => t.MarkersReceived),
            MarkersOutOfOrder = ts.Sum(t => t.MarkersOutOfOrder),
            MaxMarkersBehind = ts.Count == 0 ? 0 : ts.Max(t => t.MarkersBehind),
        };
    }

    private static ViewerResult ToResult(Viewer viewer, double windowSeconds, long publisherMarkers)
    {
        var samples = viewer.LatencySamples.ToArray();
        Array.Sort(samples);
        var mp4 = viewer as Mp4WebSocketViewer;
        var ts = viewer as TsWebSocketViewer;
        return new ViewerResult
        {
            Id = viewer.Id,
            Connected = viewer.Connected,
            Error = viewer.Error,
            ServerCloseCode = viewer.ServerCloseCode,
            ConnectMs = Math.Round(viewer.ConnectMilliseconds, 3),
            Frames = viewer.FramesInWindow,
            TotalFrames = viewer.TotalFrames,
            Bytes = viewer.BytesInWindow,
            Fps = windowSeconds > 0 ? Math.Round(viewer.FramesInWindow / windowSeconds, 3) : 0,
            CaptureFps = windowSeconds > 0 ? Math.Round(viewer.FramesCapturedInWindow / windowSeconds, 3) : 0,
            Skipped = viewer.Skipped,
            Torn = viewer.Torn,
            OutOfOrder = viewer.OutOfOrder,
            BadProbes = viewer.BadProbes,
            UnexpectedMessages = viewer.UnexpectedMessages,
            PingsAnswered = viewer.PingsAnswered,
            Messages = mp4?.Messages ?? 0,
            Headers = mp4?.Headers ?? 0,
            KeyFrameStart = mp4?.KeyFrameStart,
            KeyFrames = mp4?.KeyFrames ?? 0,
            ResumesOnNonKeyFrame = mp4?.ResumesOnNonKeyFrame ?? 0,
            LatencyP50Ms = PercentileMs(samples, 50),
            LatencyMaxMs = viewer.LatencyCount > 0 ? viewer.LatencyMaxUs / 1000.0 : null,
            Ts = ts is null ? null : new TsViewerResult
            {
                Messages = ts.Messages,
                StreamBytesInWindow = ts.StreamBytesInWindow,
                MegabitsPerSecond = windowSeconds > 0 ? Math.Round(ts.BytesInWindow * 8 / windowSeconds / 1e6, 4) : 0,
                CheckedBytes = ts.CheckedBytes,
                ExpectedBytes = ts.ExpectedBytes,
                SkippedBytes = ts.SkippedBytes,
                Skips = ts.Skips,
                Resumes = ts.Resumes,
                ExcessBytes = ts.ExcessBytes,
                ContinuityErrors = ts.ContinuityErrors,
                SyncLosses = ts.SyncLosses,
                UnalignedMessages = ts.UnalignedMessages,
                TableMessages = ts.TableMessages,
                MarkersReceived = ts.MarkersReceived,
                MarkersOutOfOrder = ts.MarkersOutOfOrder,
                MarkersBehind = publisherMarkers > 0 ? publisherMarkers - ts.LastMarkerSequence : 0,
                InOrder = ts.InOrder,
                // Every byte, in order, up to the end: checked bytes equal what was sent, and it kept up.
                Complete = ts.Connected && ts.Error is null && ts.InOrder && ts.Skips == 0 && ts.UnalignedMessages == 0
                    && (publisherMarkers == 0 || (ts.CheckedBytes > 0 && ts.CheckedBytes == ts.ExpectedBytes)),
            },
        };
    }

    /// <summary>Nearest-rank percentile of sorted microsecond samples, in milliseconds.</summary>
    private static double? PercentileMs(int[] sortedUs, double percentile)
    {
        if (sortedUs.Length == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(percentile / 100 * sortedUs.Length);
        return sortedUs[Math.Clamp(rank - 1, 0, sortedUs.Length - 1)] / 1000.0;
    }

    private static double? Round(double? value, int digits) => value is double v ? Math.Round(v, digits) : null;

    private static double Median(List<double> sorted) => sorted.Count % 2 == 1
        ? sorted[sorted.Count / 2]
        : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>What the window measured outside the viewers; the RSS task and the window task only ever set <see cref="ServerExited"/> to true concurrently.</summary>
    private sealed class WindowMeasurement
    {
        public double? ServerCpuSeconds { get; set; }

        public double? ToolCpuSeconds { get; set; }

        public long AllocatedBytes { get; set; }

        public long PeakRssKb { get; set; }

        public long HighWaterKb { get; set; }

        public int RssSamples { get; set; }

        public bool ServerExited { get; set; }

        /// <summary>Markers the publisher had sent when the viewers stopped reading.</summary>
        public long PublisherMarkersAtStop { get; set; }
    }
}
