using System.Globalization;
using System.Net;
using Osprey.Server.Security;

namespace Osprey.Server.Hosting;

/// <summary>What the <c>osprey</c> command was asked to do.</summary>
internal sealed record OspreyOptions
{
    public const int DefaultPort = 8888;

    /// <summary>The subcommand: <c>serve</c> (default), <c>stream</c> or <c>relay</c> (no default source), <c>devices</c> (list cameras) or <c>cert</c> (write a self-signed pair).</summary>
    public string Command { get; init; } = "serve";

    public int Port { get; init; } = DefaultPort;

    public IPAddress Bind { get; init; } = IPAddress.Any;

    /// <summary>Configured sources, <c>NAME=URI</c>.</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>JPEG quality 1-100 of frames Osprey encodes.</summary>
    public int JpegQuality { get; init; } = 80;

    public bool ShowHelp { get; init; }

    /// <summary>
    /// The port of the go2rtc-compatible API (<c>/api/streams</c>, <c>/api/ws</c>, <c>/api/frame.jpeg</c>, ...), for
    /// Frigate and Home Assistant pointed at Osprey where they point at go2rtc (1984); null: off.
    /// </summary>
    public int? Go2rtcPort { get; init; }

    /// <summary>The TCP port of the RTSP server (<c>rtsp://host:port/{feed}</c>), 8554 as MediaMTX's and go2rtc's; 0 picks a free one; null: off.</summary>
    public int? RtspPort { get; init; } = 8554;

    /// <summary>More ports serving the same routes (jsmpeg's relay: ingest on 8081, viewers on 8082).</summary>
    public IReadOnlyList<int> ExtraPorts { get; init; } = [];

    /// <summary>jsmpeg-relay style ingest: <c>POST /{secret}/...</c> publishes; null turns it off.</summary>
    public string? IngestSecret { get; init; }

    /// <summary>A viewer (or relay topic client) whose socket takes nothing of a send for this long is dropped; zero: never.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>HLS: the part target (EXT-X-PART-INF PART-TARGET).</summary>
    public TimeSpan HlsPartTarget { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>HLS: a feed's HLS stream stops this long after its last request.</summary>
    public TimeSpan HlsGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A relay topic client that sends and is sent nothing (pings count) for this long is dropped; zero: never.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The most bytes an ordered (stream) viewer may hold queued.</summary>
    public long ViewerQueueBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>The most bytes of messages a relay topic client may hold queued.</summary>
    public long TopicQueueBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>A source that publishes no frame for this long is restarted; zero: never. A source's own <c>timeout</c> option wins.</summary>
    public TimeSpan SourceTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>vw's <c>VW_API</c>: a WebSocket URL the WS/JSON control API connects out to (destination rule <c>apiRule</c>).</summary>
    public string? ApiDestination { get; init; }

    /// <summary>The config file (<c>--config</c>, else <c>osprey.yaml</c> in the working directory when it exists); null: none.</summary>
    public string? ConfigFile { get; init; }

    /// <summary>The config file's text as loaded (what its watcher compares against).</summary>
    public string ConfigText { get; init; } = "";

    /// <summary>The config file as loaded: its sources, vw streams and destinations are applied, and re-applied on change.</summary>
    public Configuration.OspreyConfig Config { get; init; } = new();

    /// <summary>Every setting given by a flag, a variable or the file, by its id (<c>limits.maxViewers</c>), with where it came from.</summary>
    public IReadOnlyDictionary<string, Configuration.ResolvedSetting> Settings { get; init; } = new Dictionary<string, Configuration.ResolvedSetting>();

    /// <summary><c>--state-file</c>: where the sources API writes its changes instead of the config file; null: none.</summary>
    public string? StateFile { get; init; }

    /// <summary>The state file's content at start, read over the config file's sources.</summary>
    public Configuration.StateFile State { get; init; } = Configuration.StateFile.Empty;

    /// <summary>The command line as given (the config watcher validates a changed file with it).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The environment as read at start.</summary>
    public Func<string, string?> Environment { get; init; } = _ => null;

    /// <summary><c>--user NAME:PASSWORD:ACTIONS[:PATHS]</c> specs (see <c>AccessPolicy.Create</c>).</summary>
    public IReadOnlyList<string> Users { get; init; } = [];

    /// <summary><c>--token TOKEN:ACTIONS[:PATHS]</c> specs.</summary>
    public IReadOnlyList<string> Tokens { get; init; } = [];

    /// <summary>Who decides (<c>--auth-method</c>, or implied by the JWT or callback flags).</summary>
    public AuthMethod AuthMethod { get; init; } = AuthMethod.Internal;

    /// <summary>The JWT method's settings (<c>--jwt-*</c>).</summary>
    public JwtOptions? Jwt { get; init; }

    /// <summary>The HTTP callback's URL (<c>--auth-http</c>).</summary>
    public Uri? AuthHttp { get; init; }

    /// <summary>Actions the callback is not asked about (<c>--auth-http-exclude</c>).</summary>
    public OspreyAction AuthHttpExclude { get; init; }

    /// <summary>Origins whose pages may use this server (CORS and cross-origin WebSockets); <c>*</c> is any.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>Host names besides localhost that mean this machine, for loopback-only permissions.</summary>
    public IReadOnlyList<string> LocalHostNames { get; init; } = [];

    /// <summary>The most connections at once; null: 4096, lowered to fit the descriptor limit.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>The UDP port of WebRTC (ICE-lite, DTLS and SRTP on one socket); 0 picks a free one.</summary>
    public int WebRtcPort { get; init; } = 8189;

    /// <summary>More addresses or names to put in WebRTC answers as host candidates (NAT, containers).</summary>
    public IReadOnlyList<string> WebRtcHosts { get; init; } = [];

    /// <summary>The most connections at once from one client address.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 256;
    /// <summary>The most feeds publishers may make.</summary>
    public int MaxFeeds { get; init; } = Osprey.Feeds.FeedRegistry.DefaultMaxPublisherFeeds;

    /// <summary>How long a publisher's feed with no publisher and no viewer is kept; infinite: for ever.</summary>
    public TimeSpan PublisherFeedTtl { get; init; } = Osprey.Feeds.FeedRegistry.DefaultPublisherFeedTtl;

    /// <summary>How long a publisher may take to send its first bytes.</summary>
    public TimeSpan PublisherFirstBytesTimeout { get; init; } = Osprey.Feeds.FeedRegistry.DefaultPublisherFirstBytesTimeout;

    /// <summary>How long a publisher may send nothing once it has started.</summary>
    public TimeSpan PublisherIdleTimeout { get; init; } = Osprey.Feeds.FeedRegistry.DefaultPublisherIdleTimeout;

    /// <summary>A second publisher of a feed takes it over instead of being refused.</summary>
    public bool PublisherTakeover { get; init; }

    /// <summary>Destination targets let through the deny-by-default policy (CIDR, address or host name).</summary>
    public IReadOnlyList<string> AllowedDestinations { get; init; } = [];

    /// <summary>Destination tokens may go over plain ws://.</summary>
    public bool AllowInsecureToken { get; init; }

    /// <summary>PEM files of CAs trusted for wss:// relays besides the system's (<c>--destination-ca</c>).</summary>
    public IReadOnlyList<string> DestinationCaFiles { get; init; } = [];

    /// <summary>SHA-256 fingerprints a wss:// relay's certificate must match (<c>--destination-pin</c>), unless a rule pins its own.</summary>
    public IReadOnlyList<string> DestinationPins { get; init; } = [];

    /// <summary>The most vw stream rules.</summary>
    public int MaxStreams { get; init; } = Osprey.Routing.StreamRegistry.DefaultMaxStreams;

    /// <summary>The most vw destination rules.</summary>
    public int MaxDestinations { get; init; } = Osprey.Routing.DestinationRegistry.DefaultMaxDestinations;

    /// <summary>The most relay topics with clients at once.</summary>
    public int MaxTopics { get; init; } = Osprey.Relay.RelayHub.DefaultMaxTopics;

    /// <summary>The most viewers over all feeds.</summary>
    public int MaxViewers { get; init; } = Outputs.ViewerAdmission.DefaultMaxTotal;

    /// <summary>The most viewers of one feed.</summary>
    public int MaxViewersPerFeed { get; init; } = Outputs.ViewerAdmission.DefaultMaxPerFeed;

    /// <summary>A PEM certificate (optionally followed by its chain): every listener serves HTTPS and WSS.</summary>
    public string? TlsCertFile { get; init; }

    /// <summary>The PEM private key of <see cref="TlsCertFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>Serve TLS with a certificate made at start.</summary>
    public bool TlsSelfSigned { get; init; }

    /// <summary>Where <c>osprey cert</c> writes its files; null: the current directory.</summary>
    public string? CertDirectory { get; init; }

    /// <summary>True when listeners serve TLS.</summary>
    public bool UsesTls => TlsCertFile is not null || TlsSelfSigned;
}

/// <summary>
/// Parses flags, then fills what they leave out from <c>OSPREY_*</c> environment variables (and <c>VW_PORT</c>,
/// <c>VW_LOG_LEVEL</c>, <c>VW_LOGLEVEL</c>, <c>VW_API</c>, which vw users already have set), then from the config
/// file (<see cref="Configuration.ConfigSetting.All"/> gives each flag its key and variables).
/// </summary>
internal static class OspreyCommandLine
{
    public const string Usage = """
        Usage: osprey [stream|relay|devices|cert DIR] [options]

          osprey              serve the camera at /dev/video0 as feed 'video0' if there is one, else a test pattern as feed 'test'
          osprey stream       start with no default source (ingest-only use, like vw's 'vw stream')
          osprey relay        the same, named for its relay role (crossbar): /in/{name} -> /out/{name}, N:N on other paths
          osprey devices      list cameras (/dev/v4l/by-id) with their formats, sizes and frame rates
          osprey cert [DIR]   write a self-signed osprey-cert.pem and osprey-key.pem (90 days) into DIR for --tls-cert/--tls-key

        Options (each also read from the environment variable in brackets):
          --port N            HTTP port, default 8888                     [OSPREY_PORT, then VW_PORT; relay: CROSSBAR_LISTEN=host:port]
          --bind ADDRESS      address to listen on, default 0.0.0.0       [OSPREY_BIND]
          --source NAME=URI   add a feed from a source; repeatable        [OSPREY_SOURCE, several separated by spaces]
                              e.g. video0=testpattern:?width=640&height=480&fps=30
          --jpeg-quality Q    quality 1-100 of JPEGs Osprey encodes, default 80  [OSPREY_JPEG_QUALITY]
          --log-level LEVEL   trace|debug|information|warning|error      [OSPREY_LOG_LEVEL, VW_LOG_LEVEL, VW_LOGLEVEL]
          --extra-port N      also listen on port N (same routes); repeatable, e.g. jsmpeg's 8082  [OSPREY_EXTRA_PORTS]
          --rtsp-port N       the TCP port of the RTSP server (rtsp://host:N/{feed}), default 8554; 0 picks one, off turns it off  [OSPREY_RTSP_PORT]
          --go2rtc-port N     serve go2rtc's API (/api/streams, /api/ws?src=, /api/frame.jpeg, ...) on port N, e.g. 1984; off by default  [OSPREY_GO2RTC_PORT]
          --ingest-secret S   accept MPEG-TS POSTed to /S/{feed} (or /S: feed 'jsmpeg'), as jsmpeg's relay  [OSPREY_INGEST_SECRET]
          --api URL           connect vw's WS/JSON control API out to URL (rule 'apiRule')  [OSPREY_API, VW_API]
          --config FILE       a YAML config file (server:, sources:, streams:, destinations:, users:, tokens:,
                              allowOrigins:, auth:, limits:, tls:; docs/osprey.schema.json), watched: sources, vw
                              streams and destinations added, changed or removed in it apply at once; the sources
                              API writes to it. Default osprey.yaml here if it exists. Every option below has a key
                              in it (--max-viewers: limits.maxViewers); flags and environment variables win  [OSPREY_CONFIG]
          --state-file FILE   the sources API writes its changes here (YAML) instead of the config file, and this
                              file is read over the config file's sources at start  [OSPREY_STATE_FILE]
          --user NAME:PASSWORD:ACTIONS[:PATHS]
                              a user; ACTIONS from read,publish,api,metrics (or all), PATHS a glob (cams/*, stream/**;
                              default all); repeatable. With no user or token: anyone reads and publishes, api and
                              metrics from loopback only. User 'any' (no password) is anyone  [OSPREY_USERS]
          --token TOKEN:ACTIONS[:PATHS]
                              a bearer token (Authorization: Bearer, or ?token=), at least 16 characters  [OSPREY_TOKENS]
          --jwt-jwks URL      authenticate by JWT (Bearer, ?jwt= or ?token=) signed by a key of this JWKS  [OSPREY_JWT_JWKS]
          --jwt-key FILE      ... or by this PEM public key (RSA or EC)
          --jwt-issuer ISS, --jwt-audience AUD  the iss and aud a JWT must have (default: not checked)
          --jwt-claim NAME    the claim with [{"action":"read","path":"cams/*"}], default osprey_permissions
                              (mediamtx_permissions is read too)
          --auth-http URL     ask URL (POST JSON user,password,token,ip,action,path,...) for each request; 2xx allows  [OSPREY_AUTH_HTTP]
          --auth-http-exclude ACTION  do not ask about ACTION (it gets the open default's rule); repeatable
          --auth-method internal|http|jwt  one method at a time; implied by the flags above, internal (--user, --token) otherwise
          --allow-origin URL  pages of this origin may use Osprey (CORS, WebSockets); '*' any; repeatable  [OSPREY_ALLOW_ORIGINS]
          --local-host NAME   a Host name meaning this machine, besides localhost (loopback-only rules)  [OSPREY_LOCAL_HOSTS]
          --max-connections N connections at once, default 4096 lowered to the descriptor limit less 128  [OSPREY_MAX_CONNECTIONS]
          --max-connections-per-address N  from one client address, default 256  [OSPREY_MAX_CONNECTIONS_PER_ADDRESS]
          --send-timeout S    drop a viewer whose socket takes nothing for S seconds, default 10, 0 never  [OSPREY_SEND_TIMEOUT]
          --hls-part S        HLS part target in seconds, 0.05 to 2, default 0.2  [OSPREY_HLS_PART]
          --hls-grace S       stop a feed's HLS stream S seconds after its last request, default 30  [OSPREY_HLS_GRACE]
          --idle-timeout S    drop a relay topic client that sends and gets nothing (pings count) for S s, default 60  [OSPREY_IDLE_TIMEOUT]
          --viewer-queue-mib N  bytes a stream viewer may hold queued, default 8 MiB  [OSPREY_VIEWER_QUEUE_MIB]
          --topic-queue-mib N   bytes a relay topic client may hold queued, default 16 MiB  [OSPREY_TOPIC_QUEUE_MIB]
          --source-timeout S  restart a source that gives no frame for S seconds, default 10, 0 never  [OSPREY_SOURCE_TIMEOUT]
          --max-feeds N       feeds publishers may make, default 64 (past it: 503)
          --publisher-feed-ttl S  seconds a publisher's feed with no publisher and no viewer is kept, default 60; 0: for ever
          --publisher-first-bytes-timeout S  a publisher's claim is released if no bytes come within S s, default 10
          --publisher-idle-timeout S  ... or if it then sends nothing for S s, default 30
          --publisher-takeover  a second publisher of a feed takes it over (the first is disconnected) instead of 409
          --allow-destination CIDR|HOST  let destinations dial it (loopback, link-local and private are denied); repeatable
          --allow-insecure-token  send destination tokens over ws:// too (default: only wss://)
          --destination-ca FILE   also trust the CAs of this PEM file for wss:// relays; repeatable
          --destination-pin SHA256  wss:// relays must present the certificate with this SHA-256 (a self-signed one is
                              then accepted); repeatable; a destination's own "pin" wins
          --max-streams N     vw stream rules, default 64      --max-destinations N  destination rules, default 32
          --max-topics N      relay topics, default 256 (64 clients each)
          --max-viewers N     viewers over all feeds, default 300   --max-viewers-per-feed N  default 100
          --tls-cert FILE --tls-key FILE  serve HTTPS and WSS (HTTP/2 and HTTP/1.1) on every port with this PEM
                              certificate (and chain) and key; reloaded when the files change  [OSPREY_TLS_CERT, OSPREY_TLS_KEY]
          --tls-self-signed   serve HTTPS and WSS with a certificate made at start (its SHA-256 is printed)
          --webrtc-port N     the UDP port of WebRTC (WHEP at /{feed}/whep), default 8189  [OSPREY_WEBRTC_PORT]
          --webrtc-host H     also offer address or name H as a WebRTC candidate (NAT, containers); repeatable
          -h, --help          show this help

        Each option without a variable above is also read from OSPREY_ and its name in capitals
        (--max-feeds: OSPREY_MAX_FEEDS; a switch: 1 or 0).

        Source URIs: testpattern:?width=640&height=480&fps=30
                     v4l2:///dev/video0?format=yuyv|mjpeg|h264|nv12&width=640&height=480&fps=30&buffers=6&timeout=5
                     ffmpeg:<ffmpeg input arguments>#output=mjpeg|yuyv|h264&size=WxH&fps=N&qscale=2-31&bitrate=KBPS&gop=N
                       e.g. 'cam=ffmpeg:-re -f lavfi -i testsrc2=size=640x480:rate=30'
                     ffmpeg:<ffmpeg input arguments>#output=mjpeg|h264&codec=copy   (the camera's own MJPEG or H.264, unchanged)
                     openmv:///dev/ttyACM0?baud=921600&payload=4082&ack=1&events=1&timeout=500&poll=10&channel=stream|frame
                     openmv+udp://192.168.4.1:5555?payload=1400&ack=0

        Endpoints: /  (page)  /ws/{feed}/raw  /ws/{feed}/jpeg  /ws/{feed}/mp4  /ws/{feed}/h264  /ws/{feed}/ts
                   /mjpeg/{feed}  /snapshot/{feed}.jpg  /eyetoy  /video_websocket  /api/feeds  /healthz
                   vw: /ts/{feed} (ingest)  /ws/{feed-or-stream}  /ws/api  /api/streams  /api/destinations  /healthcheck
                   relay: /in/{name}  /out/{name}  any other path: N:N WebSocket topic  status: /api/relay
        """;

    public static OspreyOptions Parse(IReadOnlyList<string> args, Func<string, string?> environment) => Parse(args, environment, configText: null);

    /// <summary>
    /// As <see cref="Parse(IReadOnlyList{string}, Func{string, string?})"/>, with the config file's text given (null:
    /// read it). Unless <paramref name="fileAlone"/>, the file is also checked on its own, so that a bad value a flag
    /// or variable overrides today is still refused (it would stop the next start without them).
    /// </summary>
    private static OspreyOptions Parse(IReadOnlyList<string> args, Func<string, string?> environment, string? configText, bool fileAlone = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        string command = "serve";
        string? go2rtcPort = null;
        string? port = null, bind = null, logLevel = null, jpegQuality = null, ingestSecret = null, api = null;
        string? sendTimeout = null, hlsPart = null, hlsGrace = null, idleTimeout = null, viewerQueue = null, topicQueue = null, sourceTimeout = null;
        var limits = new Dictionary<string, string>(StringComparer.Ordinal);
        var sources = new List<string>();
        var extraPorts = new List<string>();
        var users = new List<string>();
        var tokens = new List<string>();
        var origins = new List<string>();
        var localHosts = new List<string>();
        string? maxConnections = null, maxPerAddress = null;
        string? configFile = null, stateFile = null;
        var help = false;
        var takeover = false;
        var insecureToken = false;
        string? jwks = null, jwtKey = null, jwtIssuer = null, jwtAudience = null, jwtClaim = null, authHttp = null, authMethod = null;
        var authExclude = new List<string>();
        var allowedDestinations = new List<string>();
        var destinationCas = new List<string>();
        var destinationPins = new List<string>();
        var commandGiven = false;
        string? tlsCert = null, tlsKey = null, certDirectory = null;
        var selfSigned = false;
        string? webRtcPort = null;
        string? rtspPort = null;
        var webRtcHosts = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var (flag, inline) = SplitInline(arg);
            switch (flag)
            {
                case "stream" or "serve" or "relay" or "devices" or "cert" when !commandGiven:
                    // The subcommand may stand anywhere among the flags, once.
                    command = flag;
                    commandGiven = true;
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                case "--port":
                    port = inline ?? Next(args, ref i, flag);
                    break;
                case "--bind":
                    bind = inline ?? Next(args, ref i, flag);
                    break;
                case "--source":
                    sources.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--jpeg-quality":
                    jpegQuality = inline ?? Next(args, ref i, flag);
                    break;
                case "--log-level":
                    logLevel = inline ?? Next(args, ref i, flag);
                    break;
                case "--go2rtc-port":
                    go2rtcPort = inline ?? Next(args, ref i, flag);
                    break;
                case "--extra-port":
                    extraPorts.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--ingest-secret":
                    ingestSecret = inline ?? Next(args, ref i, flag);
                    break;
                case "--config":
                    configFile = inline ?? Next(args, ref i, flag);
                    break;
                case "--state-file":
                    stateFile = inline ?? Next(args, ref i, flag);
                    break;
                case "--api":
                    api = inline ?? Next(args, ref i, flag);
                    break;
                case "--user":
                    users.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--token":
                    tokens.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--jwt-jwks":
                    jwks = inline ?? Next(args, ref i, flag);
                    break;
                case "--jwt-key":
                    jwtKey = inline ?? Next(args, ref i, flag);
                    break;
                case "--jwt-issuer":
                    jwtIssuer = inline ?? Next(args, ref i, flag);
                    break;
                case "--jwt-audience":
                    jwtAudience = inline ?? Next(args, ref i, flag);
                    break;
                case "--jwt-claim":
                    jwtClaim = inline ?? Next(args, ref i, flag);
                    break;
                case "--auth-http":
                    authHttp = inline ?? Next(args, ref i, flag);
                    break;
                case "--auth-http-exclude":
                    authExclude.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--auth-method":
                    authMethod = inline ?? Next(args, ref i, flag);
                    break;
                case "--allow-origin":
                    origins.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--local-host":
                    localHosts.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--max-connections":
                    maxConnections = inline ?? Next(args, ref i, flag);
                    break;
                case "--max-connections-per-address":
                    maxPerAddress = inline ?? Next(args, ref i, flag);
                    break;
                case "--send-timeout":
                    sendTimeout = inline ?? Next(args, ref i, flag);
                    break;
                case "--hls-part":
                    hlsPart = inline ?? Next(args, ref i, flag);
                    break;
                case "--hls-grace":
                    hlsGrace = inline ?? Next(args, ref i, flag);
                    break;
                case "--idle-timeout":
                    idleTimeout = inline ?? Next(args, ref i, flag);
                    break;
                case "--viewer-queue-mib":
                    viewerQueue = inline ?? Next(args, ref i, flag);
                    break;
                case "--topic-queue-mib":
                    topicQueue = inline ?? Next(args, ref i, flag);
                    break;
                case "--source-timeout":
                    sourceTimeout = inline ?? Next(args, ref i, flag);
                    break;
                case "--allow-destination":
                    allowedDestinations.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--allow-insecure-token":
                    insecureToken = true;
                    break;
                case "--destination-ca":
                    destinationCas.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--destination-pin":
                    destinationPins.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--publisher-takeover":
                    takeover = true;
                    break;
                case "--tls-cert":
                    tlsCert = inline ?? Next(args, ref i, flag);
                    break;
                case "--tls-key":
                    tlsKey = inline ?? Next(args, ref i, flag);
                    break;
                case "--webrtc-port":
                    webRtcPort = inline ?? Next(args, ref i, flag);
                    break;
                case "--rtsp-port":
                    rtspPort = inline ?? Next(args, ref i, flag);
                    break;
                case "--webrtc-host":
                    webRtcHosts.Add(inline ?? Next(args, ref i, flag));
                    break;
                case "--tls-self-signed":
                    selfSigned = true;
                    break;
                case var folder when command == "cert" && certDirectory is null && !folder.StartsWith('-'):
                    certDirectory = folder;
                    break;
                case "--publisher-first-bytes-timeout" or "--publisher-idle-timeout" or "--max-feeds" or "--max-streams" or "--max-destinations" or "--max-topics" or "--max-viewers" or "--max-viewers-per-feed" or "--publisher-feed-ttl":
                    limits[flag] = inline ?? Next(args, ref i, flag);
                    break;
                default:
                    throw new FormatException($"Unknown argument '{arg}'. Run 'osprey --help' for the options.");
            }
        }

        if (command == "relay" && port is null && bind is null && environment("CROSSBAR_LISTEN") is { Length: > 0 } listen)
        {
            // crossbar's address, host:port (its --listen flag was never bound, so this is what its users set).
            var colon = listen.LastIndexOf(':');
            if (colon < 0)
            {
                throw new FormatException($"CROSSBAR_LISTEN '{listen}' is not host:port.");
            }

            bind = colon == 0 ? "0.0.0.0" : listen[..colon].Trim('[', ']');
            port = listen[(colon + 1)..];
        }

        // The file fills in what flags and environment variables leave unset: they win over it.
        configFile ??= environment("OSPREY_CONFIG");
        configFile ??= File.Exists(DefaultConfigFile) ? DefaultConfigFile : null;
        // A --config file that does not exist yet is an empty configuration; the sources API's first change creates it.
        configText ??= configFile is not null && File.Exists(configFile) ? File.ReadAllText(configFile) : "";
        var config = configFile is null ? new Configuration.OspreyConfig() : ParseConfig(configText, configFile);
        var layers = new SettingLayers(environment, config);
        // A certificate and an authentication method are each taken whole from one place: a flag or variable for
        // any part of it means the file's other parts are not mixed in.
        if (tlsCert is not null || tlsKey is not null || selfSigned || layers.InEnvironment("--tls-cert") || layers.InEnvironment("--tls-key") || layers.InEnvironment("--tls-self-signed"))
        {
            layers.IgnoreFile("--tls-cert", "--tls-key", "--tls-self-signed");
        }

        string[] authFlags = ["--auth-method", "--jwt-jwks", "--jwt-key", "--jwt-issuer", "--jwt-audience", "--jwt-claim", "--auth-http", "--auth-http-exclude"];
        if (authMethod is not null || jwks is not null || jwtKey is not null || jwtIssuer is not null || jwtAudience is not null || jwtClaim is not null || authHttp is not null || authExclude.Count > 0
            || authFlags.Any(layers.InEnvironment))
        {
            layers.IgnoreFile(authFlags);
        }

        port = layers.Value("--port", port);
        go2rtcPort = layers.Value("--go2rtc-port", go2rtcPort);
        bind = layers.Value("--bind", bind);
        jpegQuality = layers.Value("--jpeg-quality", jpegQuality);
        logLevel = layers.Value("--log-level", logLevel);
        ingestSecret = layers.Value("--ingest-secret", ingestSecret);
        extraPorts = layers.List("--extra-port", extraPorts, ',');
        api = layers.Value("--api", api);
        stateFile = layers.Value("--state-file", stateFile);
        sendTimeout = layers.Value("--send-timeout", sendTimeout);
        hlsPart = layers.Value("--hls-part", hlsPart);
        hlsGrace = layers.Value("--hls-grace", hlsGrace);
        webRtcPort = layers.Value("--webrtc-port", webRtcPort);
        rtspPort = layers.Value("--rtsp-port", rtspPort);
        webRtcHosts = layers.List("--webrtc-host", webRtcHosts);
        idleTimeout = layers.Value("--idle-timeout", idleTimeout);
        viewerQueue = layers.Value("--viewer-queue-mib", viewerQueue);
        topicQueue = layers.Value("--topic-queue-mib", topicQueue);
        sourceTimeout = layers.Value("--source-timeout", sourceTimeout);
        maxConnections = layers.Value("--max-connections", maxConnections);
        maxPerAddress = layers.Value("--max-connections-per-address", maxPerAddress);
        foreach (var flag in s_limitFlags)
        {
            if (layers.Value(flag, limits.GetValueOrDefault(flag)) is { } value)
            {
                limits[flag] = value;
            }
        }

        takeover = layers.Switch("--publisher-takeover", takeover);
        insecureToken = layers.Switch("--allow-insecure-token", insecureToken);
        allowedDestinations = layers.List("--allow-destination", allowedDestinations);
        destinationCas = layers.List("--destination-ca", destinationCas);
        destinationPins = layers.List("--destination-pin", destinationPins);
        users = layers.List("--user", users);
        tokens = layers.List("--token", tokens);
        origins = layers.List("--allow-origin", origins);
        localHosts = layers.List("--local-host", localHosts);
        tlsCert = layers.Value("--tls-cert", tlsCert);
        tlsKey = layers.Value("--tls-key", tlsKey);
        selfSigned = layers.Switch("--tls-self-signed", selfSigned);
        authMethod = layers.Value("--auth-method", authMethod);
        jwks = layers.Value("--jwt-jwks", jwks);
        jwtKey = layers.Value("--jwt-key", jwtKey);
        jwtIssuer = layers.Value("--jwt-issuer", jwtIssuer);
        jwtAudience = layers.Value("--jwt-audience", jwtAudience);
        jwtClaim = layers.Value("--jwt-claim", jwtClaim);
        authHttp = layers.Value("--auth-http", authHttp);
        authExclude = layers.List("--auth-http-exclude", authExclude, ',');

        if (ingestSecret is { Length: > 0 } && !Endpoints.Ingest.IngestEndpoints.IsValidSecret(ingestSecret))
        {
            throw new FormatException($"{layers.Label("--ingest-secret")} '{ingestSecret}' must be letters, digits, '-', '_', '.', '~' (a path segment), and not a route name (ts, ws, api, in, out).");
        }

        if (api is { Length: > 0 } && !(Uri.TryCreate(api, UriKind.Absolute, out var apiUri) && apiUri.Scheme is "ws" or "wss"))
        {
            throw new FormatException($"{layers.Label("--api")} '{api}' is not a ws:// or wss:// URL.");
        }

        // A typo in an allow entry fails here, not when the first destination is added.
        try
        {
            _ = Osprey.Routing.DestinationTargetPolicy.Create(allowedDestinations, insecureToken);
        }
        catch (FormatException ex) when (layers.Resolved.TryGetValue("limits.allowDestinations", out var allow) && allow.From == Configuration.SettingLayer.File)
        {
            throw new FormatException($"{allow.Label}: {ex.Message}", ex);
        }
        // And an unreadable CA file or a mistyped pin now, not at the first wss:// dial.
        _ = Osprey.Routing.RelayTrust.Create(destinationCas, destinationPins);

        if ((tlsCert is null) != (tlsKey is null))
        {
            throw new FormatException(tlsCert is null ? $"{layers.Label("--tls-key")} needs --tls-cert (the certificate's PEM file)." : $"{layers.Label("--tls-cert")} needs --tls-key (the private key's PEM file).");
        }

        if (selfSigned && tlsCert is not null)
        {
            throw new FormatException($"{layers.Label("--tls-self-signed")} and {layers.Label("--tls-cert")} both give a certificate; choose one.");
        }

        var (method, jwt, callback, excluded) = ParseAuthMethod(authMethod, jwks, jwtKey, jwtIssuer, jwtAudience, jwtClaim, authHttp, authExclude, layers.Label);

        if (sources.Count == 0 && environment("OSPREY_SOURCE") is { Length: > 0 } envSources)
        {
            sources.AddRange(envSources.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries));
        }

        if (!fileAlone && configFile is not null && layers.Resolved.Values.Any(r => r.From != Configuration.SettingLayer.File) && config.Values.Count > 0)
        {
            _ = Parse(["--config", configFile], _ => null, configText, fileAlone: true);
        }

        var state = stateFile is null ? Configuration.StateFile.Empty : ParseState(stateFile);
        return new OspreyOptions
        {
            Command = command,
            ShowHelp = help,
            Arguments = [.. args],
            Environment = environment,
            Port = port is null ? OspreyOptions.DefaultPort : ParsePort(port, layers.Label("--port")),
            Bind = bind is null ? IPAddress.Any : ParseAddress(bind, layers.Label("--bind")),
            Sources = sources,
            ConfigFile = configFile,
            ConfigText = configText,
            Config = config,
            Settings = layers.Resolved,
            StateFile = stateFile,
            State = state,
            LogLevel = logLevel is null ? LogLevel.Information : ParseLogLevel(logLevel, layers.Label("--log-level")),
            JpegQuality = jpegQuality is null ? 80 : ParseQuality(jpegQuality, layers.Label("--jpeg-quality")),
            ExtraPorts = [.. extraPorts.Select(p => ParsePort(p, layers.Label("--extra-port")))],
            Go2rtcPort = string.IsNullOrEmpty(go2rtcPort) ? null : ParsePort(go2rtcPort, layers.Label("--go2rtc-port")),
            RtspPort = rtspPort is null ? 8554 : rtspPort is "" or "off" ? null : ParsePort(rtspPort, layers.Label("--rtsp-port")),
            IngestSecret = string.IsNullOrEmpty(ingestSecret) ? null : ingestSecret,
            ApiDestination = string.IsNullOrEmpty(api) ? null : api,
            MaxConnections = maxConnections is { } max ? ParseCount(max, layers.Label("--max-connections")) : null,
            MaxConnectionsPerAddress = maxPerAddress is { } perAddress ? ParseCount(perAddress, layers.Label("--max-connections-per-address")) : 256,
            Users = users,
            Tokens = tokens,
            AuthMethod = method,
            Jwt = jwt,
            AuthHttp = callback,
            AuthHttpExclude = excluded,
            AllowedOrigins = origins,
            LocalHostNames = localHosts,
            SendTimeout = ParseSeconds(sendTimeout, layers.Label("--send-timeout"), 10),
            HlsPartTarget = ParseSeconds(hlsPart, layers.Label("--hls-part"), 0.2) is var part && part >= TimeSpan.FromMilliseconds(50) && part <= TimeSpan.FromSeconds(2)
                ? part : throw new FormatException($"{layers.Label("--hls-part")} '{hlsPart}' is not a part target from 0.05 to 2 seconds."),
            HlsGrace = ParseSeconds(hlsGrace, layers.Label("--hls-grace"), 30) is var grace && grace >= TimeSpan.FromSeconds(1)
                ? grace : throw new FormatException($"{layers.Label("--hls-grace")} '{hlsGrace}' is not at least 1 second."),
            IdleTimeout = ParseSeconds(idleTimeout, layers.Label("--idle-timeout"), 60),
            ViewerQueueBytes = ParseMebibytes(viewerQueue, layers.Label("--viewer-queue-mib"), 8),
            TopicQueueBytes = ParseMebibytes(topicQueue, layers.Label("--topic-queue-mib"), 16),
            SourceTimeout = ParseSeconds(sourceTimeout, layers.Label("--source-timeout"), 10),
            MaxFeeds = Count(limits, "--max-feeds", Osprey.Feeds.FeedRegistry.DefaultMaxPublisherFeeds, layers),
            PublisherFeedTtl = limits.TryGetValue("--publisher-feed-ttl", out var ttl)
                ? ParseSeconds(layers.Label("--publisher-feed-ttl"), ttl) is var seconds && seconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds)
                : Osprey.Feeds.FeedRegistry.DefaultPublisherFeedTtl,
            PublisherFirstBytesTimeout = limits.TryGetValue("--publisher-first-bytes-timeout", out var first)
                ? TimeSpan.FromSeconds(Positive(layers.Label("--publisher-first-bytes-timeout"), first)) : Osprey.Feeds.FeedRegistry.DefaultPublisherFirstBytesTimeout,
            PublisherIdleTimeout = limits.TryGetValue("--publisher-idle-timeout", out var idle)
                ? TimeSpan.FromSeconds(Positive(layers.Label("--publisher-idle-timeout"), idle)) : Osprey.Feeds.FeedRegistry.DefaultPublisherIdleTimeout,
            PublisherTakeover = takeover,
            AllowedDestinations = [.. allowedDestinations, .. api is { Length: > 0 } && Uri.TryCreate(api, UriKind.Absolute, out var configured) ? [configured.Host] : Array.Empty<string>()],
            AllowInsecureToken = insecureToken,
            DestinationCaFiles = destinationCas,
            DestinationPins = destinationPins,
            MaxStreams = Count(limits, "--max-streams", Osprey.Routing.StreamRegistry.DefaultMaxStreams, layers),
            MaxDestinations = Count(limits, "--max-destinations", Osprey.Routing.DestinationRegistry.DefaultMaxDestinations, layers),
            MaxTopics = Count(limits, "--max-topics", Osprey.Relay.RelayHub.DefaultMaxTopics, layers),
            MaxViewers = Count(limits, "--max-viewers", Outputs.ViewerAdmission.DefaultMaxTotal, layers),
            MaxViewersPerFeed = Count(limits, "--max-viewers-per-feed", Outputs.ViewerAdmission.DefaultMaxPerFeed, layers),
            TlsCertFile = tlsCert,
            TlsKeyFile = tlsKey,
            TlsSelfSigned = selfSigned,
            CertDirectory = certDirectory,
            WebRtcPort = webRtcPort is { } rtcPort ? ParsePort(rtcPort, layers.Label("--webrtc-port")) : 8189,
            WebRtcHosts = webRtcHosts,
        };
    }

    /// <summary>The flags gathered in the <c>limits</c> dictionary (a count or seconds each).</summary>
    private static readonly string[] s_limitFlags =
        ["--publisher-first-bytes-timeout", "--publisher-idle-timeout", "--max-feeds", "--max-streams", "--max-destinations", "--max-topics", "--max-viewers", "--max-viewers-per-feed", "--publisher-feed-ttl"];

    /// <summary>
    /// What the options would be with the config file's text <paramref name="configText"/>, flags and environment
    /// as at start: the config watcher validates a changed file with it, by the same rules as at start.
    /// </summary>
    /// <exception cref="FormatException">A value is invalid; the message names the file's line and key.</exception>
    public static OspreyOptions Reparse(OspreyOptions running, string configText) =>
        Parse(running.Arguments, running.Environment, configText);

    private static Configuration.StateFile ParseState(string file)
    {
        try
        {
            return File.Exists(file) ? Configuration.StateFile.Parse(File.ReadAllText(file), file) : Configuration.StateFile.Empty;
        }
        catch (Configuration.ConfigException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"--state-file '{file}' cannot be read: {ex.Message}", ex);
        }
    }

    /// <summary>The config file read when there is no <c>--config</c> and it exists in the working directory.</summary>
    public const string DefaultConfigFile = "osprey.yaml";

    private static Configuration.OspreyConfig ParseConfig(string text, string file)
    {
        try
        {
            return Configuration.OspreyConfig.Parse(text, file);
        }
        catch (Configuration.ConfigException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
    }


    /// <summary>
    /// One authentication method at a time, as MediaMTX's <c>authMethod</c>: the JWT flags imply jwt, <c>--auth-http</c>
    /// implies http, and an explicit <c>--auth-method</c> must agree with them.
    /// </summary>
    private static (AuthMethod, JwtOptions?, Uri?, OspreyAction) ParseAuthMethod(
        string? explicitMethod, string? jwks, string? jwtKey, string? issuer, string? audience, string? claim, string? authHttp, List<string> exclude, Func<string, string> name)
    {
        var jwtGiven = jwks is { Length: > 0 } || jwtKey is { Length: > 0 };
        var httpGiven = authHttp is { Length: > 0 };
        if (jwtGiven && httpGiven)
        {
            throw new FormatException($"{name(jwks is { Length: > 0 } ? "--jwt-jwks" : "--jwt-key")} and {name("--auth-http")} are two authentication methods: give one (MediaMTX's authMethod is one too).");
        }

        var method = jwtGiven ? AuthMethod.Jwt : httpGiven ? AuthMethod.Http : AuthMethod.Internal;
        if (explicitMethod is not null)
        {
            var asked = explicitMethod.ToLowerInvariant() switch
            {
                "internal" => AuthMethod.Internal,
                "http" => AuthMethod.Http,
                "jwt" => AuthMethod.Jwt,
                _ => throw new FormatException($"{name("--auth-method")} '{explicitMethod}' is not one of internal, http, jwt."),
            };
            if (asked != method)
            {
                throw new FormatException(name("--auth-method") + asked switch
                {
                    AuthMethod.Jwt => " jwt needs --jwt-jwks URL or --jwt-key FILE (and no --auth-http).",
                    AuthMethod.Http => " http needs --auth-http URL (and no --jwt-*).",
                    _ => " internal cannot be given with --jwt-jwks, --jwt-key or --auth-http.",
                });
            }
        }

        if (method != AuthMethod.Jwt && (issuer is not null || audience is not null || claim is not null))
        {
            throw new FormatException("--jwt-issuer, --jwt-audience and --jwt-claim need --jwt-jwks URL or --jwt-key FILE.");
        }

        if (method != AuthMethod.Http && exclude.Count > 0)
        {
            throw new FormatException("--auth-http-exclude needs --auth-http URL.");
        }

        JwtOptions? jwt = null;
        if (method == AuthMethod.Jwt)
        {
            string? pem = null;
            if (jwtKey is { Length: > 0 })
            {
                try
                {
                    pem = File.ReadAllText(jwtKey);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new FormatException($"{name("--jwt-key")} '{jwtKey}' cannot be read: {ex.Message}", ex);
                }
            }

            if (claim is not null && (claim.Length is 0 or > 128 || claim.Any(char.IsControl)))
            {
                throw new FormatException($"{name("--jwt-claim")} '{claim}' is not a claim name.");
            }

            jwt = new JwtOptions
            {
                JwksUrl = jwks is { Length: > 0 } ? HttpUrl(jwks, name("--jwt-jwks")) : null,
                KeyPem = pem,
                Issuer = issuer,
                Audience = audience,
                Claim = claim ?? JwtOptions.DefaultClaim,
            };
        }

        var excluded = OspreyAction.None;
        foreach (var action in exclude)
        {
            excluded |= OspreyActions.TryParse(action, out var parsed) ? parsed
                : throw new FormatException($"{name("--auth-http-exclude")} '{action}' is not an action (read, publish, api, metrics).");
        }

        return (method, jwt, method == AuthMethod.Http ? HttpUrl(authHttp!, name("--auth-http")) : null, excluded);
    }

    private static Uri HttpUrl(string text, string flag) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException($"{flag} '{text}' is not an http:// or https:// URL.");

    private static (string Flag, string? Inline) SplitInline(string arg)
    {
        if (arg.StartsWith("--", StringComparison.Ordinal))
        {
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                return (arg[..equals], arg[(equals + 1)..]);
            }
        }

        return (arg, null);
    }

    private static string Next(IReadOnlyList<string> args, ref int i, string flag)
    {
        if (i + 1 >= args.Count)
        {
            throw new FormatException($"{flag} needs a value.");
        }

        return args[++i];
    }

    private static int ParseCount(string text, string flag) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= 1_000_000
            ? count
            : throw new FormatException($"{flag} '{text}' is not a number from 1 to 1000000.");

    private static int Count(Dictionary<string, string> limits, string flag, int fallback, SettingLayers layers) =>
        !limits.TryGetValue(flag, out var text) ? fallback
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= 100_000 ? count
        : throw new FormatException($"{layers.Label(flag)} '{text}' is not a number from 1 to 100000.");

    /// <summary>Whole or fractional seconds from 0 to a day.</summary>
    private static double ParseSeconds(string flag, string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 86_400
            ? seconds
            : throw new FormatException($"{flag} '{text}' is not a number of seconds from 0 to 86400.");

    private static double Positive(string flag, string text) =>
        ParseSeconds(flag, text) is > 0 and var seconds ? seconds : throw new FormatException($"{flag} must be more than 0 seconds.");

    private static int ParsePort(string text, string label) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535
            ? port
            : throw new FormatException($"{label}: port '{text}' is not a number from 0 to 65535.");

    private static TimeSpan ParseSeconds(string? text, string flag, double fallback) =>
        text is null ? TimeSpan.FromSeconds(fallback)
        : double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 86_400
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"{flag} '{text}' is not a number of seconds from 0 to 86400.");

    private static long ParseMebibytes(string? text, string flag, double fallback) =>
        (long)((text is null ? fallback
        : double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var mib) && mib is > 0 and <= 4096
            ? mib
            : throw new FormatException($"{flag} '{text}' is not a number of MiB above 0, at most 4096.")) * 1024 * 1024);

    private static int ParseQuality(string text, string label) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var quality) && quality is >= 1 and <= 100
            ? quality
            : throw new FormatException($"{label}: JPEG quality '{text}' is not a number from 1 to 100.");

    private static IPAddress ParseAddress(string text, string label)
    {
        if (text is "localhost")
        {
            return IPAddress.Loopback;
        }

        return IPAddress.TryParse(text, out var address)
            ? address
            : throw new FormatException($"{label}: bind address '{text}' is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::).");
    }

    private static LogLevel ParseLogLevel(string text, string label) => text.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "fatal" or "panic" or "critical" => LogLevel.Critical,
        _ => throw new FormatException($"{label}: log level '{text}' is not one of trace, debug, information, warning, error."),
    };
}
