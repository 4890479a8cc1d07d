namespace Osprey.Runtime;

/// <summary>
/// Every log event id of the engine and the server, in one table so that no two events share an id: a log
/// filter or an alert can match an event by id, and the source-generated logger names it after its method.
/// Blocks: 100 sources, 200 transforms, 300 routing, 400 relay, 500 runtime, 1000 and up the server.
/// </summary>
public static class LogEvents
{
    // 100-: sources: supervision
    /// <summary>Information: Feed {Feed}: starting source {Uri}</summary>
    public const int SourceStarting = 100;
    /// <summary>Warning: Feed {Feed}: source {Uri} failed</summary>
    public const int SourceFailed = 101;
    /// <summary>Information: Feed {Feed}: restarting the source in {Seconds} s; viewers stay connected</summary>
    public const int SourceRestarting = 102;
    /// <summary>Information: Feed {Feed}: restart requested</summary>
    public const int SourceRestartRequested = 103;
    /// <summary>Warning: Feed {Feed}: source {Uri} gave no frame for {Seconds} s: restarting it</summary>
    public const int SourceHung = 104;

    // 110-: sources: V4L2 cameras
    /// <summary>Warning: V4L2 {Device}: waiting for the device to appear</summary>
    public const int V4L2WaitingForDevice = 110;
    /// <summary>Information: V4L2 {Device}: device appeared</summary>
    public const int V4L2DeviceAppeared = 111;
    /// <summary>Error: V4L2 {Device}: cannot open: {Reason}</summary>
    public const int V4L2OpenFailed = 112;
    /// <summary>Information: V4L2 {Device} ({Card}): capturing {Format} {Width}x{Height} at {Fps} fps (0 = driver default) into {Buffers} mmap buffers</summary>
    public const int V4L2Negotiated = 113;
    /// <summary>Warning: V4L2 {Device}: asked for {Width}x{Height} at {Fps} fps, the driver chose {ChosenWidth}x{ChosenHeight} at {ChosenFps} fps</summary>
    public const int V4L2SettingsAdjusted = 114;
    /// <summary>Error: V4L2 {Device}: the camera refused format {Format} (it chose {Chosen}); it offers: {Offered}</summary>
    public const int V4L2FormatRefused = 115;
    /// <summary>Error: V4L2 {Device}: device went away (unplugged?): {Reason}; viewers stay connected, reconnecting with backoff</summary>
    public const int V4L2DeviceGone = 116;
    /// <summary>Error: V4L2 {Device}: no frame for {Seconds} s (poll timed out); reopening the device</summary>
    public const int V4L2NoFrames = 117;
    /// <summary>Information: V4L2 {Device}: control {Control} set to {Value} (driver kept {Kept})</summary>
    public const int V4L2ControlSet = 118;

    // 130-: sources: ffmpeg
    /// <summary>Information: Feed {Feed}: ffmpeg started (pid {Pid}): ffmpeg {Arguments}</summary>
    public const int FfmpegStarted = 130;

    // 140-: sources: OpenMV cameras
    /// <summary>Information: Feed {Feed}: OpenMV connected on {Transport}: {Device}, max payload {MaxPayload}</summary>
    public const int OpenMvConnected = 140;
    /// <summary>Warning: Feed {Feed}: OpenMV link lost ({Reason}); reconnecting in {Seconds} s</summary>
    public const int OpenMvLost = 141;

    // 200-: transforms: derived views
    /// <summary>Debug: Derived feed {Feed}: started for its first viewer</summary>
    public const int ViewStarted = 200;
    /// <summary>Debug: Derived feed {Feed}: stopped after its last viewer</summary>
    public const int ViewStopped = 201;
    /// <summary>Warning: Derived feed {Feed}: its work failed; it restarts with the next viewer</summary>
    public const int ViewRunFailed = 202;

    // 200-: transforms: per-frame work
    /// <summary>Debug: Derived feed {Feed}: source frame {Sequence} could not be transformed: {Error}</summary>
    public const int TransformFrameFailed = 205;

    // 210-: transforms: the H.264 encoder
    /// <summary>Information: Feed {Feed}: H.264 encoder started (ffmpeg pid {Pid}) for its first viewer</summary>
    public const int H264EncoderEncoderStarted = 210;

    // 215-: transforms: the H.264 decoder
    /// <summary>Information: Feed {Feed}: H.264 decoder started (ffmpeg pid {Pid}) for its first JPEG viewer</summary>
    public const int H264DecoderStarted = 215;

    // 300-: routing: vw streams
    /// <summary>Information: Stream {Stream}: added with feeds [{Feeds}]</summary>
    public const int StreamAdded = 300;
    /// <summary>Information: Stream {Stream}: re-wired to feeds [{Feeds}]</summary>
    public const int StreamRewired = 301;
    /// <summary>Information: Stream {Stream}: removed</summary>
    public const int StreamRemoved = 302;
    /// <summary>Warning: Stream {Stream}: refused: {Reason}</summary>
    public const int StreamRefused = 303;

    // 300-: routing: combined streams
    /// <summary>Error: Stream {Stream}: input {Feed} failed</summary>
    public const int CombinedStreamInputFailed = 305;

    // 310-: routing: destinations
    /// <summary>Information: Destination {Id}: connected to {Destination}, pushing {Stream}</summary>
    public const int DestinationConnected = 310;
    /// <summary>Information: Destination {Id}: disconnected from {Destination} ({Reason}); reconnecting in {Seconds} s</summary>
    public const int DestinationDisconnected = 311;
    /// <summary>Information: Destination {Id}: could not connect to {Destination} ({Reason}); retrying in {Seconds} s</summary>
    public const int DestinationConnectFailed = 312;
    /// <summary>Information: Destination {Id}: stopped pushing to {Destination}</summary>
    public const int DestinationStopped = 313;
    /// <summary>Warning: Destination {Id}: the control handler failed on a command from the relay</summary>
    public const int DestinationControlFailed = 314;
    /// <summary>Warning: Destination {Id}: skipped a control message longer than {Limit} bytes</summary>
    public const int DestinationControlMessageTooLong = 315;
    /// <summary>Warning: Destination {Id}: looking up stream {Stream} failed</summary>
    public const int DestinationResolveFailed = 317;

    // 400-: relay: crossbar topics
    /// <summary>Debug: Relay topic {Topic}: client joined</summary>
    public const int TopicJoined = 400;
    /// <summary>Debug: Relay topic {Topic}: client left ({Dropped} messages dropped for it)</summary>
    public const int TopicLeft = 401;
    /// <summary>Information: Relay topic {Topic}: dropping a client: {Reason}</summary>
    public const int TopicClientDropped = 402;

    // 500-: runtime: ffmpeg child processes
    /// <summary>Debug: Feed {Feed}: {Program} started (pid {Pid}): {Arguments}</summary>
    public const int FfmpegProcessStarted = 500;
    /// <summary>Dynamic: Feed {Feed}: {Program}: {Line}</summary>
    public const int FfmpegProcessSaid = 501;
    /// <summary>Debug: Feed {Feed}: pid {Pid} ended: {Reason}</summary>
    public const int FfmpegProcessEnded = 502;

    // 1000-: server outputs: WebSocket viewers
    /// <summary>Debug: Feed {Feed}: viewer {Remote} connected (direct socket sends: {Direct})</summary>
    public const int ViewerConnected = 1000;
    /// <summary>Debug: Feed {Feed}: viewer left after {Frames} frames, {Drops} skipped</summary>
    public const int ViewerDisconnected = 1001;
    /// <summary>Debug: Feed {Feed}: a viewer left during the handshake: {Reason}</summary>
    public const int ViewerHandshakeFailed = 1002;
    /// <summary>Information: Feed {Feed}: closing a viewer for a protocol error: {Error}</summary>
    public const int ViewerClientProtocolError = 1005;
    /// <summary>Information: Feed {Feed}: dropped viewer {Remote}: its socket took nothing for {Seconds} s</summary>
    public const int ViewerSendTimedOut = 1006;

    // 1010-: server outputs: WebRTC
    /// <summary>Information: WebRTC: UDP port {Port} (ICE-lite, DTLS-SRTP), host candidates {Candidates}</summary>
    public const int WebRtcListening = 1010;
    /// <summary>Error: WebRTC is off: UDP port {Port} could not be bound: {Reason}</summary>
    public const int WebRtcUnavailable = 1011;
    /// <summary>Debug: Feed {Feed}: WebRTC session {Session} offered by {Remote}</summary>
    public const int WebRtcSessionOffered = 1012;
    /// <summary>Information: Feed {Feed}: WebRTC viewer {Remote} connected ({Profile}, {Suite})</summary>
    public const int WebRtcSessionConnected = 1013;
    /// <summary>Warning: Feed {Feed}: WebRTC handshake with {Remote} failed: {Reason}</summary>
    public const int WebRtcHandshakeFailed = 1014;
    /// <summary>Information: Feed {Feed}: WebRTC viewer {Remote} left ({Reason}) after {Packets} packets, {Retransmissions} retransmitted</summary>
    public const int WebRtcSessionEnded = 1015;
    /// <summary>Warning: WebRTC: the receive loop failed</summary>
    public const int WebRtcReceiveFailed = 1016;

    // 1020-: server endpoints: ingest
    /// <summary>Information: Feed {Feed}: publisher {Remote} connected ({Method})</summary>
    public const int IngestPublisherConnected = 1020;
    /// <summary>Information: Feed {Feed}: publisher {Remote} left: {Reason}; {Bytes} bytes in {Chunks} chunks, {Resyncs} resyncs, {Discarded} bytes discarded</summary>
    public const int IngestPublisherLeft = 1021;
    /// <summary>Warning: Refused an ingest from {Remote}: wrong secret</summary>
    public const int IngestWrongSecret = 1022;
    /// <summary>Warning: Feed {Feed}: refused publisher {Remote}: {Error}</summary>
    public const int IngestRefused = 1023;

    // 1040-: server endpoints: relay pushes
    /// <summary>Information: Relay: {Remote} pushes to feed {Feed}</summary>
    public const int RelayPushPushConnected = 1040;
    /// <summary>Information: Relay: push of {Remote} to feed {Feed} ended: {Reason}; {Bytes} bytes in {Chunks} chunks</summary>
    public const int RelayPushPushEnded = 1041;
    /// <summary>Warning: Relay: refused a push of {Remote} to {Feed}: {Error}</summary>
    public const int RelayPushPushRefused = 1042;

    // 1060-: server security
    /// <summary>Warning: Refused {Remote} {Method} {Path}: {Detail}</summary>
    public const int AccessRefused = 1060;
    /// <summary>Warning: {Count} more refused credentials in the last minute (not logged one by one)</summary>
    public const int AccessRefusalsSuppressed = 1061;
    /// <summary>Error: Route {Route} has no access rule; refused</summary>
    public const int AccessUnclassifiedRoute = 1062;
    /// <summary>Information: Refused {Remote} {Method} {Path}: cross-origin request from {Origin}</summary>
    public const int AccessCrossOriginRefused = 1063;
    /// <summary>Debug: {Remote} {Method} {Path} from {Origin}: judged without ambient credentials</summary>
    public const int AccessCrossSite = 1064;

    // 1070-: server configuration
    /// <summary>Information: Source {Name} added: {Uri}</summary>
    public const int ConfigSourceAdded = 1070;
    /// <summary>Information: Source {Name} changed: {Uri}; restarted</summary>
    public const int ConfigSourceChanged = 1071;
    /// <summary>Information: Source {Name} removed</summary>
    public const int ConfigSourceRemoved = 1072;
    /// <summary>Information: Config {Path} reloaded: {Sources} sources</summary>
    public const int ConfigReloaded = 1073;
    /// <summary>Error: Config {Path} not applied, the running configuration stays: {Reason}</summary>
    public const int ConfigReloadRefused = 1074;
    /// <summary>Information: Config {Path}: {Message}</summary>
    public const int ConfigLoaded = 1075;
    /// <summary>Warning: Source {Name} of {File} is not applied: the state file {State} holds the sources API's change of it (delete it there to use the file's)</summary>
    public const int ConfigSourceOverriddenByState = 1076;
    /// <summary>Warning: Config {Path}: {Setting} changed ({Change}); it is read at start: restart Osprey to apply it{Note}</summary>
    public const int ConfigSettingNeedsRestart = 1077;
    /// <summary>Information: Config {Path}: {Setting} changed in the file, but {Winner} wins over it: no effect</summary>
    public const int ConfigSettingOverridden = 1078;
    /// <summary>Information: Config: vw {Kind} {Name} removed (no longer in the file)</summary>
    public const int ConfigRuleRemoved = 1079;
    /// <summary>Error: Config {File}:{Line}: vw {Kind} {Name} not applied: {Reason}</summary>
    public const int ConfigRuleRefused = 1080;

    // 1090-: server hosting
    /// <summary>Error: JPEG outputs (/mjpeg, /snapshot, /ws/{feed}/jpeg of raw feeds) are off: {Reason}</summary>
    public const int ServerJpegUnavailable = 1090;
    /// <summary>Information: Access: {Rule}</summary>
    public const int ServerAccessRule = 1091;
    /// <summary>Information: TLS certificate reloaded: {Certificate}</summary>
    public const int ServerTlsReloaded = 1092;
    /// <summary>Warning: TLS certificate {CertFile} with key {KeyFile} did not load ({Error}); still serving {Certificate}</summary>
    public const int ServerTlsReloadFailed = 1093;
    /// <summary>Debug: Memory trimmed after a load: working set {Before} MiB -> {After} MiB</summary>
    public const int ServerMemoryTrimmed = 1094;

    // 1100-: HLS output
    /// <summary>Information: Feed {Feed}: HLS stream {Stream} started</summary>
    public const int HlsStreamStarted = 1100;
    /// <summary>Information: Feed {Feed}: HLS stream {Stream} stopped after {Seconds} s without a request ({Parts} parts, {Segments} segments)</summary>
    public const int HlsStreamStopped = 1101;
    /// <summary>Warning: Feed {Feed}: HLS stream {Stream} dropped a fragment it could not read</summary>
    public const int HlsBadFragment = 1102;
    // 1110-: RTSP output
    /// <summary>Information: RTSP: listening on rtsp://{Address}:{Port}/ (RTP over TCP, or UDP from ports {RtpPort}-{RtcpPort})</summary>
    public const int RtspListening = 1110;
    /// <summary>Error: RTSP is off: TCP port {Port} could not be bound: {Reason}</summary>
    public const int RtspUnavailable = 1111;
    /// <summary>Information: Feed {Feed}: RTSP reader {Remote} playing over {Transport}</summary>
    public const int RtspPlaying = 1112;
    /// <summary>Information: Feed {Feed}: RTSP reader {Remote} left ({Reason}) after {Packets} packets, {Skips} skips to a key frame</summary>
    public const int RtspReaderLeft = 1113;
    /// <summary>Warning: RTSP {Remote}: refused request: {Status} {Reason}</summary>
    public const int RtspBadRequest = 1114;
    /// <summary>Warning: RTSP {Remote}: refused credentials for {Feed}: {Detail}</summary>
    public const int RtspAuthRefused = 1115;
}
