using System.Globalization;
using System.Text.Json;

namespace Osprey.LoadTest;

/// <summary>Outcome of one load run. Sizes use decimal units: 1 MB = 10^6 bytes, 1 GB = 10^9 bytes.</summary>
public sealed class LoadReport
{
    /// <summary>The feed address that was loaded.</summary>
    public required string Url { get; init; }

    /// <summary>What the viewers read (never <see cref="StreamMode.Auto"/> in a report of a run).</summary>
    public StreamMode Mode { get; init; }

    /// <summary>How the stream was framed, as the first connected viewer saw it (for MJPEG: the boundary and whether the body was chunked).</summary>
    public string TransportDetail { get; init; } = "";

    /// <summary>Wall-clock time at which the run started.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>Measured viewers asked for.</summary>
    public int ViewersRequested { get; init; }

    /// <summary>Measured viewers whose handshake succeeded.</summary>
    public int ViewersConnected { get; init; }

    /// <summary>Measured and stalled viewers whose handshake failed or did not finish within the connect timeout.</summary>
    public int ConnectionErrors { get; init; }

    /// <summary>Seconds from the first connection attempt until every handshake had finished or failed.</summary>
    public double ConnectSeconds { get; init; }

    /// <summary>Warm-up before the window, in seconds.</summary>
    public double WarmupSeconds { get; init; }

    /// <summary>Length of the measurement window actually used, in seconds.</summary>
    public double WindowSeconds { get; init; }

    /// <summary>True when the run was cancelled before the window ran its full length.</summary>
    public bool Interrupted { get; init; }

    /// <summary>How viewers discarded payload bytes.</summary>
    public DiscardMode DiscardMode { get; init; }

    /// <summary>What the discard self-test found.</summary>
    public string DiscardDetail { get; init; } = "";

    /// <summary>Frame width from the probe header of the last frame seen, if any.</summary>
    public int? FrameWidth { get; init; }

    /// <summary>Frame height from the probe header of the last frame seen, if any.</summary>
    public int? FrameHeight { get; init; }

    /// <summary>Payload size of the last frame seen, in bytes, if any (a JPEG's size varies: see <see cref="FrameBytes"/>).</summary>
    public long? FramePayloadBytes { get; init; }

    /// <summary>Spread of frame sizes in the window (raw frames, whole JPEGs), over well-probed frames; null when there were none.</summary>
    public FrameSizeSummary? FrameBytes { get; init; }

    /// <summary>Delivered frames per second across the connected measured viewers (mp4: media segments per second, which BerryMSE's layout sends one per slice NAL).</summary>
    public FpsSummary Fps { get; init; } = new();

    /// <summary>
    /// Frames per second by capture time (frames with a probe captured inside the window, whenever they arrived): at
    /// most the source's rate, where <see cref="Fps"/> can exceed it while a backlog from socket buffers drains.
    /// </summary>
    public FpsSummary CaptureFps { get; init; } = new();

    /// <summary>Frames received by all measured viewers in the window.</summary>
    public long TotalFrames { get; init; }

    /// <summary>Payload bytes received by all measured viewers in the window (message payloads; for MJPEG the JPEG bytes, without part headers and chunk framing).</summary>
    public long TotalBytes { get; init; }

    /// <summary>Payload throughput to all measured viewers together, in MB/s.</summary>
    public double TotalMegabytesPerSecond { get; init; }

    /// <summary>Capture-to-receive latency over all sampled frames of all measured viewers.</summary>
    public LatencySummary Latency { get; init; } = new();

    /// <summary>Frames the source produced that viewers did not get (sum of counter gaps).</summary>
    public long Skipped { get; init; }

    /// <summary>
    /// Damaged frames. Raw: the trailing counter differed from the probe header's counter. JPEG and MJPEG: the
    /// message (part) length differed from the probe's payload size, or the image did not end with EOI (FF D9).
    /// fMP4: the moof and mdat box sizes, or the NAL lengths walked, did not add up to the message length.
    /// </summary>
    public long Torn { get; init; }

    /// <summary>Frames whose counter went backwards or repeated.</summary>
    public long OutOfOrder { get; init; }

    /// <summary>Frames without the FOUT magic (JPEG: or without the SOI + COM probe prefix; fMP4: no probe in an SEI NAL before the first slice); for raw frames also those whose declared size disagreed with the message length.</summary>
    public long BadProbes { get; init; }

    /// <summary>Messages that were not video frames nor ping, pong or close (text, fragments, runts); for MJPEG, parts that were not <c>image/jpeg</c> and junk between parts.</summary>
    public long UnexpectedMessages { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: the MIME type the server announced in its text message (as the first viewer that got one saw it last); null otherwise and in BerryMSE's layout.</summary>
    public string? MimeType { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: WebSocket data messages (text and binary) received by all measured viewers over the whole run, warm-up included; 0 in other modes.</summary>
    public long Messages { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: init segments (each after its MIME text message, except in BerryMSE's layout) received by all measured viewers over the whole run; 0 in other modes.</summary>
    public long Headers { get; init; }

    /// <summary>
    /// <see cref="StreamMode.Mp4"/>: true when every measured viewer that received a media segment started on a
    /// key frame (a sample whose first VCL NAL is IDR; BerryMSE: a trun whose first_sample_flags say the sample
    /// depends on no other); null in other modes or when no viewer received a media segment.
    /// </summary>
    public bool? KeyFrameStarts { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: media segments in the window that were key frames (BerryMSE: IDR slices), over all measured viewers.</summary>
    public long KeyFrames { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: counter gaps after which the next segment was not a key frame (a viewer that skips must resume at a key frame to decode); should be 0.</summary>
    public long ResumesOnNonKeyFrame { get; init; }

    /// <summary><see cref="StreamMode.Ts"/>: the publisher and what the viewers' checks found; null in other modes.</summary>
    public TsSummary? Ts { get; init; }

    /// <summary>Server CPU and memory over the window; null when no pid was given.</summary>
    public ServerStats? Server { get; init; }

    /// <summary>The load tool's own cost over the window.</summary>
    public ToolStats Tool { get; init; } = new();

    /// <summary>One entry per measured viewer, in id order.</summary>
    public IReadOnlyList<ViewerResult> Viewers { get; init; } = [];

    /// <summary>One entry per stalled viewer.</summary>
    public IReadOnlyList<StalledViewerResult> StalledViewers { get; init; } = [];

    /// <summary>Serialises the report as indented camelCase JSON (source-generated, no reflection).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, LoadReportJsonContext.Default.LoadReport);

    /// <summary>Reads a report written by <see cref="ToJson"/>.</summary>
    public static LoadReport? FromJson(string json) => JsonSerializer.Deserialize(json, LoadReportJsonContext.Default.LoadReport);

    /// <summary>Writes the human-readable summary table.</summary>
    public void WriteText(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var c = CultureInfo.InvariantCulture;
        void Row(string label, string value) => writer.WriteLine(string.Create(c, $"  {label,-22} {value}"));

        writer.WriteLine(string.Create(c, $"osprey-load  {Url}  ({StartedAt:yyyy-MM-dd HH:mm:ss} UTC)"));
        Row("viewers", string.Create(c, $"{ViewersRequested} requested, {ViewersConnected} connected, {ConnectionErrors} connection errors, connected in {ConnectSeconds:0.00} s"));
        Row("window", WindowSeconds > 0
            ? string.Create(c, $"{WindowSeconds:0.00} s after {WarmupSeconds:0.0} s warm-up{(Interrupted ? "  (INTERRUPTED)" : "")}")
            : $"never opened{(Interrupted ? " (INTERRUPTED)" : " (no viewer connected)")}");
        Row("mode", string.IsNullOrEmpty(TransportDetail) ? ModeName(Mode) : $"{ModeName(Mode)}: {TransportDetail}");
        Row("discard", DiscardMode.ToString());
        if (Mode == StreamMode.Mp4)
        {
            if (FrameBytes is { } segment)
            {
                var size = FrameWidth is null ? "H.264" : string.Create(c, $"{FrameWidth}x{FrameHeight} H.264");
                Row("frames", string.Create(c, $"{size}, media segment size min {segment.Min} / median {segment.Median} / max {segment.Max} B"));
            }

            var started = Viewers.Where(v => v.KeyFrameStart is not null).ToList();
            Row("mp4", string.Create(c, $"{(MimeType is null ? "no MIME message" : $"MIME {MimeType}")}; {Headers} headers, {Messages} messages"));
            Row("key frames", string.Create(c, $"{started.Count(v => v.KeyFrameStart == true)}/{started.Count} viewers started on a key frame; {KeyFrames} key frames in window; {ResumesOnNonKeyFrame} resumes on a non-key frame"));
        }
        else if (FrameWidth is not null)
        {
            Row("frames", Mode is StreamMode.Jpeg or StreamMode.Mjpeg && FrameBytes is { } size
                ? string.Create(c, $"{FrameWidth}x{FrameHeight} JPEG, frame size min {size.Min} / median {size.Median} / max {size.Max} B")
                : string.Create(c, $"{FrameWidth}x{FrameHeight}, {FramePayloadBytes} B per message"));
        }

        if (Ts is { } ts)
        {
            WriteTsText(ts, Row, c);
        }

        Row(Mode == StreamMode.Ts ? "messages/s per viewer" : "fps per viewer", string.Create(c, $"min {Fps.Min:0.00}  median {Fps.Median:0.00}  max {Fps.Max:0.00}  mean {Fps.Mean:0.00}"));
        var connected = Viewers.Where(v => v.Connected).ToList();
        if (Viewers.Count <= 50 && connected.Count > 0)
        {
            Row("", string.Join(' ', connected.Select(v => v.Fps.ToString("0.0", c))));
        }

        Row("throughput", string.Create(c, $"{TotalMegabytesPerSecond:0.0} MB/s total, {TotalFrames} frames, {TotalBytes / 1e9:0.000} GB"));
        Row("latency ms", Latency.Samples == 0
            ? "no samples"
            : string.Create(c, $"p50 {Latency.P50Ms:0.00}  p95 {Latency.P95Ms:0.00}  p99 {Latency.P99Ms:0.00}  max {Latency.MaxMs:0.00}  mean {Latency.MeanMs:0.00}  ({Latency.Samples} samples of {Latency.Frames} frames)"));
        if (Mode != StreamMode.Ts)
        {
            Row("skipped/torn/order", string.Create(c, $"{Skipped} skipped, {Torn} torn, {OutOfOrder} out of order, {BadProbes} bad probes, {UnexpectedMessages} unexpected messages"));
        }
        if (Server is { } s)
        {
            var cpu = s.CpuSeconds is null
                ? "CPU n/a"
                : string.Create(c, $"CPU {s.CpuSeconds:0.00} s ({s.CpuPercentOfOneCore:0.0} % of one core), {Format(s.CpuSecondsPerGigabyte, "0.000")} CPU s per GB");
            Row(string.Create(c, $"server pid {s.Pid}"), string.Create(c, $"{cpu}, peak RSS {Format(s.PeakRssMegabytes, "0.0")} MB (VmHWM {Format(s.HighWaterRssMegabytes, "0.0")} MB){(s.Exited ? "  EXITED DURING THE WINDOW" : "")}"));
        }

        Row("load tool", string.Create(c, $"CPU {Format(Tool.CpuSeconds, "0.00")} s, {Tool.AllocatedBytesInWindow / 1024.0:0.0} KiB allocated in window"));
        foreach (var stalled in StalledViewers)
        {
            Row(string.Create(c, $"stalled viewer {stalled.Id}"), stalled.Connected
                ? string.Create(c, $"{(stalled.StillConnected ? "still connected" : "disconnected")} ({stalled.TcpState}), {stalled.UnreadBytes / 1e6:0.00} MB unread in its socket")
                : $"never connected: {stalled.Error}");
        }

        foreach (var group in Viewers.Where(v => v.Error is not null).GroupBy(v => v.Error).OrderByDescending(g => g.Count()).Take(10))
        {
            Row("viewer errors", string.Create(c, $"{group.Count()} x {group.Key}"));
        }
    }

    private static void WriteTsText(TsSummary ts, Action<string, string> row, CultureInfo c)
    {
        if (ts.File is not null)
        {
            row("ts file", string.Create(c, $"{ts.File}: {ts.FileMegabitsPerSecond:0.000} Mbit/s, {ts.LoopSeconds:0.0} s loop ({(ts.TimedByPcr == true ? "PCR timing" : "constant rate")}), writes {ts.Writes}{(ts.Markers ? ", a marker after each" : ", no markers")}"));
        }

        if (ts.Publisher is { } p)
        {
            row("publisher", string.Create(c, $"{(p.Connected ? "connected" : "NOT CONNECTED")}, {p.MegabitsPerSecondInWindow:0.000} Mbit/s in window ({p.WritesInWindow} writes), {p.Bytes / 1e6:0.0} MB in {p.Writes} writes in all; late max {p.MaxLateMs:0.0} ms, {p.LateWrites} writes > 10 ms late{(p.Error is null ? "" : $"; {p.Error}")}"));
        }

        row("ts order", string.Create(c, $"{ts.ViewersComplete} viewers complete (every byte, in order), {ts.ViewersInOrder} in order; {ts.ContinuityErrors} continuity errors, {ts.SyncLosses} sync losses, {ts.ExcessBytes} excess bytes, {ts.MarkersOutOfOrder} markers out of order, {ts.UnalignedMessages} unaligned messages, {ts.TableMessages} table messages"));
        row("ts skips", string.Create(c, $"{ts.Skips} skips ({ts.Resumes} counter resumes), {ts.SkippedBytes} bytes skipped; {ts.CheckedBytes} of {ts.ExpectedBytes} bytes checked against markers ({ts.MarkersReceived} markers); max {ts.MaxMarkersBehind} markers behind at the end"));
        row("Mbit/s per viewer", string.Create(c, $"min {ts.DeliveredMegabitsPerSecond.Min:0.000}  median {ts.DeliveredMegabitsPerSecond.Median:0.000}  max {ts.DeliveredMegabitsPerSecond.Max:0.000}"));
    }

    private static string ModeName(StreamMode mode) => mode switch
    {
        StreamMode.Ts => "ts (WebSocket, jsmpeg-style)",
        StreamMode.Raw => "raw (WebSocket)",
        StreamMode.Jpeg => "jpeg (WebSocket)",
        StreamMode.Mjpeg => "mjpeg (HTTP multipart)",
        StreamMode.Mp4 => "mp4 (WebSocket)",
        _ => mode.ToString(),
    };

    private static string Format(double? value, string format) => value?.ToString(format, CultureInfo.InvariantCulture) ?? "n/a";
}

/// <summary>Spread of delivered frame rate across viewers.</summary>
public sealed class FpsSummary
{
    /// <summary>Lowest viewer frame rate.</summary>
    public double Min { get; init; }

    /// <summary>Median viewer frame rate.</summary>
    public double Median { get; init; }

    /// <summary>Highest viewer frame rate.</summary>
    public double Max { get; init; }

    /// <summary>Mean viewer frame rate.</summary>
    public double Mean { get; init; }
}

/// <summary>Spread of frame sizes, in bytes.</summary>
public sealed class FrameSizeSummary
{
    /// <summary>Smallest frame of any measured viewer.</summary>
    public long Min { get; init; }

    /// <summary>Median over the sampled frames (reservoir-sampled per viewer).</summary>
    public long Median { get; init; }

    /// <summary>Largest frame of any measured viewer.</summary>
    public long Max { get; init; }

    /// <summary>Number of sizes the median was taken over.</summary>
    public long Samples { get; init; }
}

/// <summary>Latency from capture (probe header) to arrival of the frame's last byte (a raw frame's tail counter, a JPEG's EOI, the end of an fMP4 media segment), in milliseconds; null when there were no frames.</summary>
public sealed class LatencySummary
{
    /// <summary>Number of samples the percentiles were taken over (reservoir-sampled per viewer when there were more frames).</summary>
    public long Samples { get; init; }

    /// <summary>Number of frames measured (the max and mean cover all of them).</summary>
    public long Frames { get; init; }

    /// <summary>Median latency.</summary>
    public double? P50Ms { get; init; }

    /// <summary>95th percentile latency.</summary>
    public double? P95Ms { get; init; }

    /// <summary>99th percentile latency.</summary>
    public double? P99Ms { get; init; }

    /// <summary>Largest latency of any frame.</summary>
    public double? MaxMs { get; init; }

    /// <summary>Mean latency over all frames.</summary>
    public double? MeanMs { get; init; }
}

/// <summary>What one measured viewer saw in the window.</summary>
public sealed class ViewerResult
{
    /// <summary>Viewer number, from 1.</summary>
    public int Id { get; init; }

    /// <summary>True when the handshake succeeded.</summary>
    public bool Connected { get; init; }

    /// <summary>Why the viewer failed to connect or stopped early (including a close by the server); null otherwise.</summary>
    public string? Error { get; init; }

    /// <summary>Close status code sent by the server, if it closed this viewer.</summary>
    public int? ServerCloseCode { get; init; }

    /// <summary>TCP connect plus upgrade handshake time.</summary>
    public double ConnectMs { get; init; }

    /// <summary>Frames whose last byte arrived in the window.</summary>
    public long Frames { get; init; }

    /// <summary>Frames received over the whole run, warm-up included.</summary>
    public long TotalFrames { get; init; }

    /// <summary>Payload bytes of those frames.</summary>
    public long Bytes { get; init; }

    /// <summary>Frames per second of window.</summary>
    public double Fps { get; init; }

    /// <summary>Frames captured inside the window per second of window (see <see cref="LoadReport.CaptureFps"/>).</summary>
    public double CaptureFps { get; init; }

    /// <summary>Counter gaps summed over the window.</summary>
    public long Skipped { get; init; }

    /// <summary>Damaged frames (see <see cref="LoadReport.Torn"/>).</summary>
    public long Torn { get; init; }

    /// <summary>Frames whose counter went backwards or repeated.</summary>
    public long OutOfOrder { get; init; }

    /// <summary>Frames with a wrong magic or declared size.</summary>
    public long BadProbes { get; init; }

    /// <summary>Messages that were neither video nor control frames.</summary>
    public long UnexpectedMessages { get; init; }

    /// <summary>Pings answered with a pong over the whole run.</summary>
    public long PingsAnswered { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: data messages (text and binary) over the whole run; 0 in other modes.</summary>
    public long Messages { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: init segments over the whole run; 0 in other modes.</summary>
    public long Headers { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: whether the first media segment was a key frame; null in other modes or before the first.</summary>
    public bool? KeyFrameStart { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: key-frame media segments in the window.</summary>
    public long KeyFrames { get; init; }

    /// <summary><see cref="StreamMode.Mp4"/>: counter gaps in the window after which the segment was not a key frame.</summary>
    public long ResumesOnNonKeyFrame { get; init; }

    /// <summary>Median latency of this viewer's samples.</summary>
    public double? LatencyP50Ms { get; init; }

    /// <summary>Largest latency this viewer saw.</summary>
    public double? LatencyMaxMs { get; init; }

    /// <summary><see cref="StreamMode.Ts"/>: what this viewer's checks found; null in other modes.</summary>
    public TsViewerResult? Ts { get; init; }
}

/// <summary>A viewer that connected and then never read.</summary>
public sealed class StalledViewerResult
{
    /// <summary>Viewer number, following the measured viewers.</summary>
    public int Id { get; init; }

    /// <summary>True when its handshake succeeded.</summary>
    public bool Connected { get; init; }

    /// <summary>Handshake error, if it never connected.</summary>
    public string? Error { get; init; }

    /// <summary>Kernel TCP state at the end of the window (ESTABLISHED, CLOSE_WAIT after a server close, CLOSE after a reset).</summary>
    public string TcpState { get; init; } = "";

    /// <summary>True when the connection was still established at the end of the window.</summary>
    public bool StillConnected { get; init; }

    /// <summary>Bytes the server had pushed that sat unread in the viewer's socket at the end.</summary>
    public long UnreadBytes { get; init; }
}

/// <summary>Server process cost over the window, read from /proc.</summary>
public sealed class ServerStats
{
    /// <summary>The process measured.</summary>
    public int Pid { get; init; }

    /// <summary>User plus system CPU seconds spent in the window.</summary>
    public double? CpuSeconds { get; init; }

    /// <summary>CPU seconds per window second, as a percentage of one core.</summary>
    public double? CpuPercentOfOneCore { get; init; }

    /// <summary>CPU seconds per 10^9 payload bytes delivered to the measured viewers.</summary>
    public double? CpuSecondsPerGigabyte { get; init; }

    /// <summary>Largest VmRSS seen, sampled every 100 ms in the window.</summary>
    public double? PeakRssMegabytes { get; init; }

    /// <summary>VmHWM at the end of the window: the largest resident set over the process's whole life.</summary>
    public double? HighWaterRssMegabytes { get; init; }

    /// <summary>How many RSS samples were taken.</summary>
    public int RssSamples { get; init; }

    /// <summary>True when the process could no longer be read before the window ended.</summary>
    public bool Exited { get; init; }
}

/// <summary>Cost of the load tool itself over the window, to show it did not starve the server.</summary>
public sealed class ToolStats
{
    /// <summary>CPU seconds the tool used in the window.</summary>
    public double? CpuSeconds { get; init; }

    /// <summary>Managed bytes allocated by the tool in the window (0 per frame is the goal).</summary>
    public long AllocatedBytesInWindow { get; init; }
}

/// <summary><see cref="StreamMode.Ts"/>: the publisher and the viewers' checks, summed over the measured viewers.</summary>
public sealed class TsSummary
{
    /// <summary>The file published; null when the tool only watched.</summary>
    public string? File { get; init; }

    /// <summary>The file's bit rate at real time, in 10^6 bits/s.</summary>
    public double? FileMegabitsPerSecond { get; init; }

    /// <summary>One pass over the file, in seconds.</summary>
    public double? LoopSeconds { get; init; }

    /// <summary>True when the pacing came from the file's PCRs, false for a constant rate.</summary>
    public bool? TimedByPcr { get; init; }

    /// <summary>How the file was cut into writes.</summary>
    public string? Writes { get; init; }

    /// <summary>True when each write was followed by a marker packet.</summary>
    public bool Markers { get; init; }

    /// <summary>The publisher's side; null when the tool only watched.</summary>
    public TsPublisherResult? Publisher { get; init; }

    /// <summary>Viewers with no continuity error, sync loss, excess byte or marker out of order (skips of whole groups allowed).</summary>
    public int ViewersInOrder { get; init; }

    /// <summary>Viewers that received every byte in order, with no skip, to the end.</summary>
    public int ViewersComplete { get; init; }

    /// <summary>Spread across viewers of the message bytes received in the window, in 10^6 bits/s.</summary>
    public FpsSummary DeliveredMegabitsPerSecond { get; init; } = new();

    /// <summary>Stream bytes received in the window, all viewers.</summary>
    public long StreamBytesInWindow { get; init; }

    /// <summary>Stream bytes checked against markers (from each viewer's first marker to its last), all viewers.</summary>
    public long CheckedBytes { get; init; }

    /// <summary>What the markers say was sent over the same stretches.</summary>
    public long ExpectedBytes { get; init; }

    /// <summary>Bytes viewers missed because the server skipped them ahead.</summary>
    public long SkippedBytes { get; init; }

    /// <summary>Stretches between markers with bytes missed.</summary>
    public long Skips { get; init; }

    /// <summary>Counter jumps at skips, resumed at a payload unit start.</summary>
    public long Resumes { get; init; }

    /// <summary>Bytes beyond what the markers account for (errors).</summary>
    public long ExcessBytes { get; init; }

    /// <summary>Counter jumps outside skips (errors).</summary>
    public long ContinuityErrors { get; init; }

    /// <summary>Packets without the sync byte (errors).</summary>
    public long SyncLosses { get; init; }

    /// <summary>Messages that did not hold whole packets.</summary>
    public long UnalignedMessages { get; init; }

    /// <summary>Messages of tables only (the programme header).</summary>
    public long TableMessages { get; init; }

    /// <summary>Markers received, all viewers, whole run.</summary>
    public long MarkersReceived { get; init; }

    /// <summary>Markers whose sequence went back (errors).</summary>
    public long MarkersOutOfOrder { get; init; }

    /// <summary>The furthest any viewer was behind the publisher, in markers, when the viewers stopped.</summary>
    public long MaxMarkersBehind { get; init; }
}

/// <summary>The tool's own MPEG-TS publisher.</summary>
public sealed class TsPublisherResult
{
    /// <summary>True when the POST was sent.</summary>
    public bool Connected { get; init; }

    /// <summary>Why publishing stopped early (e.g. the server refused), or null.</summary>
    public string? Error { get; init; }

    /// <summary>Stream bytes sent over the whole run (packets and markers).</summary>
    public long Bytes { get; init; }

    /// <summary>Writes (HTTP chunks) over the whole run.</summary>
    public long Writes { get; init; }

    /// <summary>Markers over the whole run.</summary>
    public long Markers { get; init; }

    /// <summary>Stream bytes sent in the window.</summary>
    public long BytesInWindow { get; init; }

    /// <summary>Writes in the window.</summary>
    public long WritesInWindow { get; init; }

    /// <summary>Rate sent in the window, in 10^6 bits/s.</summary>
    public double MegabitsPerSecondInWindow { get; init; }

    /// <summary>Latest write after its due time, in milliseconds.</summary>
    public double MaxLateMs { get; init; }

    /// <summary>Writes more than 10 ms late.</summary>
    public long LateWrites { get; init; }
}

/// <summary>One <see cref="StreamMode.Ts"/> viewer's checks (see <see cref="TsSummary"/> for the meanings).</summary>
public sealed class TsViewerResult
{
    /// <summary>Binary messages over the whole run.</summary>
    public long Messages { get; init; }

    /// <summary>Stream bytes in the window.</summary>
    public long StreamBytesInWindow { get; init; }

    /// <summary>Message bytes in the window, in 10^6 bits/s.</summary>
    public double MegabitsPerSecond { get; init; }

    public long CheckedBytes { get; init; }

    public long ExpectedBytes { get; init; }

    public long SkippedBytes { get; init; }

    public long Skips { get; init; }

    public long Resumes { get; init; }

    public long ExcessBytes { get; init; }

    public long ContinuityErrors { get; init; }

    public long SyncLosses { get; init; }

    public long UnalignedMessages { get; init; }

    public long TableMessages { get; init; }

    public long MarkersReceived { get; init; }

    public long MarkersOutOfOrder { get; init; }

    /// <summary>Markers the publisher had sent beyond the last this viewer received, when it stopped.</summary>
    public long MarkersBehind { get; init; }

    /// <summary>No errors (skips allowed).</summary>
    public bool InOrder { get; init; }

    /// <summary>Every byte, in order, no skip, to the end.</summary>
    public bool Complete { get; init; }
}
