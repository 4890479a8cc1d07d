namespace Osprey.LoadTest;

/// <summary>How a viewer throws away the bulk of each frame's payload after the probe header.</summary>
public enum DiscardMode
{
    /// <summary>Pick the cheapest mode that passes a loopback self-test at start-up.</summary>
    Auto,

    /// <summary><see cref="System.Net.Sockets.SocketFlags.Truncated"/> on <c>Socket.ReceiveAsync</c>, which .NET passes to Linux as <c>MSG_TRUNC</c>: the kernel drops the bytes without copying them.</summary>
    Truncate,

    /// <summary><c>recv(fd, buf, len, MSG_TRUNC | MSG_DONTWAIT)</c> called through P/Invoke, waiting for readability with a zero-byte receive.</summary>
    NativeTruncate,

    /// <summary>Ordinary receives into one shared scratch buffer (portable, but copies every byte to user space).</summary>
    Copy,
}

/// <summary>What kind of stream the viewers read.</summary>
public enum StreamMode
{
    /// <summary>Chosen from the URL by <see cref="LoadOptions.ModeFromUrl"/>.</summary>
    Auto,

    /// <summary><c>ws://host/ws/{feed}/raw</c> (or <c>/eyetoy</c>): one raw frame per binary WebSocket message, probe header first and the counter again in the last 4 bytes.</summary>
    Raw,

    /// <summary><c>ws://host/ws/{feed}/jpeg</c>: one JPEG per binary WebSocket message, the probe header in a COM segment right after SOI.</summary>
    Jpeg,

    /// <summary><c>http://host/mjpeg/{feed}</c>: a <c>multipart/x-mixed-replace</c> HTTP response, one JPEG per part, chunked or not.</summary>
    Mjpeg,

    /// <summary>
    /// <c>ws://host/ws/{feed}/mp4</c>: fragmented MP4 for Media Source Extensions. A text message with the MIME type,
    /// a binary init segment (<c>ftyp</c> + <c>moov</c>), then one binary media segment (<c>moof</c> + <c>mdat</c>)
    /// per H.264 access unit, whose sample starts with an SEI NAL carrying the probe header. Also BerryMSE's layout
    /// on <c>ws://host/video_websocket</c>: no text message, one media segment per slice NAL, and no probe.
    /// </summary>
    Mp4,

    /// <summary>
    /// <c>ws://host/ws/{feed}/ts</c>: MPEG-TS as jsmpeg reads it, every byte of every binary message, checked packet by
    /// packet. The tool also publishes the feed (<see cref="LoadOptions.TsFile"/>, POSTed to <c>/ts/{feed}</c> at real
    /// time) with marker packets that give latency and byte accounting.
    /// </summary>
    Ts,
}

/// <summary>Settings of one fan-out load run; see <see cref="LoadRunner.RunAsync"/>.</summary>
public sealed class LoadOptions
{
    /// <summary>Upper bound on <see cref="Viewers"/> + <see cref="StalledViewers"/>; past this the file-descriptor limit, not the server, is what gets measured.</summary>
    public const int MaxTotalViewers = 5000;

    /// <summary>
    /// Address of the feed: <c>ws://127.0.0.1:8888/ws/test/raw</c>, <c>ws://127.0.0.1:8888/ws/test/jpeg</c>,
    /// <c>ws://127.0.0.1:8888/ws/test/mp4</c>, <c>ws://127.0.0.1:8888/video_websocket</c> or
    /// <c>http://127.0.0.1:8888/mjpeg/test</c>. Only <c>ws://</c> and <c>http://</c> are supported (no TLS).
    /// </summary>
    public required Uri Url { get; init; }

    /// <summary>What the viewers read (default <see cref="StreamMode.Auto"/>: chosen from <see cref="Url"/>, see <see cref="ModeFromUrl"/>).</summary>
    public StreamMode Mode { get; init; } = StreamMode.Auto;

    /// <summary><see cref="Mode"/>, or the mode <see cref="Url"/> implies when it is <see cref="StreamMode.Auto"/>.</summary>
    public StreamMode EffectiveMode => Mode != StreamMode.Auto ? Mode : ModeFromUrl(Url);

    /// <summary>Number of measured viewers (default 10).</summary>
    public int Viewers { get; init; } = 10;

    /// <summary>Length of the measurement window (default 10 s).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed for all handshakes together (default 15 s); viewers not connected by then count as connection errors.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Time between the last handshake and the start of the window (default 1 s), so that start-up transients are not measured.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Process id of the server; when set, its CPU time and resident memory over the window are reported (Linux <c>/proc</c>).</summary>
    public int? ServerPid { get; init; }

    /// <summary>Extra viewers that complete the handshake and then never read; they are left out of the statistics, and their connection state at the end is reported.</summary>
    public int StalledViewers { get; init; }

    /// <summary>How many handshakes may be in flight at once (default 32).</summary>
    public int MaxConcurrentHandshakes { get; init; } = 32;

    /// <summary>How payload bytes are discarded (default <see cref="DiscardMode.Auto"/>).</summary>
    public DiscardMode DiscardMode { get; init; } = DiscardMode.Auto;

    /// <summary>Allow a target address that is not a loopback address. Off by default: a load test belongs on the machine it runs on.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>
    /// <see cref="StreamMode.Ts"/>: the transport stream file the tool publishes, looped at real time (made once with
    /// ffmpeg, e.g. <c>-f mpegts -codec:v mpeg1video -b:v 1000k -bf 0</c>). Null: publish nothing and only watch (no
    /// markers, so no latency and no byte accounting; continuity is still checked).
    /// </summary>
    public string? TsFile { get; init; }

    /// <summary><see cref="StreamMode.Ts"/>: where the file is POSTed; null for <c>http://{host}/ts/{feed}</c> derived from <see cref="Url"/> (<c>/ws/{feed}/ts</c>).</summary>
    public Uri? TsPublishUrl { get; init; }

    /// <summary><see cref="StreamMode.Ts"/>: bytes per write (rounded down to whole packets), or <see cref="TsSource.PesWrites"/> (default) for ffmpeg's writes: one per muxed packet.</summary>
    public int TsWriteSize { get; init; } = TsSource.PesWrites;

    /// <summary><see cref="StreamMode.Ts"/>: send the file at this constant rate instead of its own clock (PCR) timing.</summary>
    public double? TsBitsPerSecond { get; init; }

    /// <summary><see cref="StreamMode.Ts"/>: append a marker null packet to each write (default true; off for a pure ingest-cost measurement).</summary>
    public bool TsMarkers { get; init; } = true;

    /// <summary>Receives one line per phase of the run (connecting, warm-up, window); null for silence.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Checks every setting and returns one message per problem; an empty list means the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Url is null || !Url.IsAbsoluteUri || Url.Scheme is not ("ws" or "http"))
        {
            errors.Add(Url is { IsAbsoluteUri: true, Scheme: "wss" or "https" }
                ? "url: TLS (wss://, https://) is not supported; use ws:// or http://"
                : "url must be an absolute ws:// or http:// address");
        }
        else if (!Enum.IsDefined(Mode))
        {
            errors.Add("unknown stream mode");
        }
        else if ((EffectiveMode == StreamMode.Mjpeg) != (Url.Scheme == "http"))
        {
            errors.Add(EffectiveMode == StreamMode.Mjpeg
                ? "mode mjpeg needs an http:// address (http://host/mjpeg/{feed})"
                : $"mode {EffectiveMode.ToString().ToLowerInvariant()} needs a ws:// address");
        }

        // A publisher alone is a run too in ts mode: what ingest costs the server.
        var minViewers = EffectiveModeOrRaw == StreamMode.Ts && TsFile is not null ? 0 : 1;
        if (Viewers < minViewers || Viewers > MaxTotalViewers)
        {
            errors.Add($"viewers must be between {minViewers} and {MaxTotalViewers}");
        }

        if (EffectiveModeOrRaw == StreamMode.Ts)
        {
            if (TsFile is not null && !File.Exists(TsFile))
            {
                errors.Add($"ts-file {TsFile}: no such file");
            }

            if (TsPublishUrl is not null && (!TsPublishUrl.IsAbsoluteUri || TsPublishUrl.Scheme != "http"))
            {
                errors.Add("publish-url must be an absolute http:// address");
            }
            else if (TsFile is not null && TsPublishUrl is null && Url is not null && PublishUrlFromViewerUrl(Url) is null)
            {
                errors.Add("cannot derive the publish address from the url (expected ws://host/ws/{feed}/ts); give --publish-url");
            }

            if (TsWriteSize != TsSource.PesWrites && TsWriteSize is < TsPackets.Size or > 1024 * 1024)
            {
                errors.Add($"ts-write must be 'pes' or between {TsPackets.Size} and 1048576 bytes");
            }

            if (TsBitsPerSecond is <= 0 or > 1e9 || TsBitsPerSecond is double rate && !double.IsFinite(rate))
            {
                errors.Add("ts-bitrate must be more than 0 and at most 1e9 bits/s");
            }
        }

        if (StalledViewers is < 0 or > MaxTotalViewers || Viewers + StalledViewers > MaxTotalViewers)
        {
            errors.Add($"stalled must be at least 0, and viewers + stalled at most {MaxTotalViewers}");
        }

        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(1))
        {
            errors.Add("seconds must be more than 0 and at most 3600");
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add("connect-timeout must be more than 0 and at most 600 seconds");
        }

        if (Warmup < TimeSpan.Zero || Warmup > TimeSpan.FromMinutes(10))
        {
            errors.Add("warmup must be between 0 and 600 seconds");
        }

        if (ServerPid is <= 0)
        {
            errors.Add("pid must be a positive process id");
        }
        else if (ServerPid is int pid && !ProcessSampler.Exists(pid))
        {
            errors.Add($"pid {pid}: no such process (or /proc is not readable)");
        }

        if (MaxConcurrentHandshakes is < 1 or > 1024)
        {
            errors.Add("handshake concurrency must be between 1 and 1024");
        }

        if (!Enum.IsDefined(DiscardMode))
        {
            errors.Add("unknown discard mode");
        }

        return errors;
    }

    /// <summary><see cref="EffectiveMode"/>, or <see cref="StreamMode.Raw"/> while <see cref="Url"/> is missing (during validation).</summary>
    private StreamMode EffectiveModeOrRaw => Url is null ? (Mode == StreamMode.Auto ? StreamMode.Raw : Mode) : EffectiveMode;

    /// <summary>The publish address for a viewer address: <c>ws://host/ws/{feed}/ts</c> → <c>http://host/ts/{feed}</c>; null when it is not one.</summary>
    public static Uri? PublishUrlFromViewerUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var path = url.AbsolutePath.TrimEnd('/');
        if (!url.IsAbsoluteUri || !path.StartsWith("/ws/", StringComparison.Ordinal) || !path.EndsWith("/ts", StringComparison.OrdinalIgnoreCase) || path.Length <= "/ws//ts".Length)
        {
            return null;
        }

        var feed = path["/ws/".Length..^"/ts".Length];
        return new UriBuilder(url) { Scheme = "http", Path = "/ts/" + feed, Query = "" }.Uri;
    }

    /// <summary>
    /// The mode a URL implies: <c>http(s)://</c> is <see cref="StreamMode.Mjpeg"/>; a <c>ws(s)://</c> path ending in
    /// <c>/jpeg</c> is <see cref="StreamMode.Jpeg"/>; in <c>/ts</c> is <see cref="StreamMode.Ts"/>; one ending in <c>/mp4</c> or <c>/video_websocket</c> is
    /// <see cref="StreamMode.Mp4"/>; any other <c>ws(s)://</c> address (<c>/raw</c>, <c>/eyetoy</c>) is
    /// <see cref="StreamMode.Raw"/>.
    /// </summary>
    /// <param name="url">An absolute address.</param>
    public static StreamMode ModeFromUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri)
        {
            return StreamMode.Raw;
        }

        if (url.Scheme is "http" or "https")
        {
            return StreamMode.Mjpeg;
        }

        var path = url.AbsolutePath.TrimEnd('/');
        if (path.EndsWith("/jpeg", StringComparison.OrdinalIgnoreCase))
        {
            return StreamMode.Jpeg;
        }

        if (path.EndsWith("/ts", StringComparison.OrdinalIgnoreCase))
        {
            return StreamMode.Ts;
        }

        return path.EndsWith("/mp4", StringComparison.OrdinalIgnoreCase) || path.EndsWith("/video_websocket", StringComparison.OrdinalIgnoreCase)
            ? StreamMode.Mp4
            : StreamMode.Raw;
    }

    /// <summary>Capacity of each viewer's latency sample array: two samples per frame at 60 fps, so a 30 fps feed is never sampled down.</summary>
    internal int LatencySamplesPerViewer => (int)Math.Clamp(Duration.TotalSeconds * 60 * 2, 256, 65_536);

    /// <summary>Capacity of each viewer's frame-size sample array (sizes vary far less across viewers than latency does).</summary>
    internal int SizeSamplesPerViewer => Math.Min(LatencySamplesPerViewer, 4096);
}
