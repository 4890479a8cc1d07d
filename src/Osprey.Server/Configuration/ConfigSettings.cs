namespace Osprey.Server.Configuration;

/// <summary>How a setting is written in the file.</summary>
public enum SettingKind
{
    /// <summary>One value (a number, a word, a URL).</summary>
    Value,

    /// <summary>A list (<c>- item</c> lines, <c>[a, b]</c>, or one value for a list of one).</summary>
    List,

    /// <summary><c>true</c> or <c>false</c>; the flag, which takes no value, means true.</summary>
    Switch,

    /// <summary>A file name; in the file, relative to the file's folder (a flag's is relative to the working directory).</summary>
    Path,
}

/// <summary>Where the value of a setting came from.</summary>
public enum SettingLayer
{
    /// <summary>A command-line flag: it wins.</summary>
    Flag,

    /// <summary>An environment variable: it wins over the file.</summary>
    Environment,

    /// <summary>The config file.</summary>
    File,
}

/// <summary>
/// One setting of the config file: its place (<see cref="Section"/>, <see cref="Key"/>), the flag that has the
/// same meaning and the same validation, and the environment variables that, like the flag, win over the file.
/// </summary>
/// <param name="Section">The top-level section: <c>server</c>, <c>auth</c>, <c>limits</c>, <c>tls</c>, or a list section (<c>users</c>).</param>
/// <param name="Key">The key inside the section; null for a list section, which is the setting itself.</param>
/// <param name="Flag">The flag, e.g. <c>--max-viewers</c>.</param>
/// <param name="Kind">How the value is written.</param>
/// <param name="Environment">The variables read when the flag is not given, in order.</param>
/// <param name="Secret">True when the value is not to be logged (passwords, tokens, secrets).</param>
public sealed record ConfigSetting(string Section, string? Key, string Flag, SettingKind Kind, string[] Environment, bool Secret = false)
{
    /// <summary>The setting's name in messages and the log: <c>limits.maxViewers</c>, <c>users</c>.</summary>
    public string Id => Key is null ? Section : Section + "." + Key;

    /// <summary>
    /// Every setting the file has besides <c>sources:</c>, <c>streams:</c> and <c>destinations:</c> (which are
    /// applied at run time): each flag of the command line that is not about the file itself has a place here.
    /// </summary>
    public static IReadOnlyList<ConfigSetting> All { get; } =
    [
        new("server", "port", "--port", SettingKind.Value, ["OSPREY_PORT", "VW_PORT"]),
        new("server", "bind", "--bind", SettingKind.Value, ["OSPREY_BIND"]),
        new("server", "extraPorts", "--extra-port", SettingKind.List, ["OSPREY_EXTRA_PORTS"]),
        new("server", "go2rtcPort", "--go2rtc-port", SettingKind.Value, ["OSPREY_GO2RTC_PORT"]),
        new("server", "rtspPort", "--rtsp-port", SettingKind.Value, ["OSPREY_RTSP_PORT"]),
        new("server", "jpegQuality", "--jpeg-quality", SettingKind.Value, ["OSPREY_JPEG_QUALITY"]),
        new("server", "logLevel", "--log-level", SettingKind.Value, ["OSPREY_LOG_LEVEL", "VW_LOG_LEVEL", "VW_LOGLEVEL"]),
        new("server", "ingestSecret", "--ingest-secret", SettingKind.Value, ["OSPREY_INGEST_SECRET"], Secret: true),
        new("server", "api", "--api", SettingKind.Value, ["OSPREY_API", "VW_API"]),
        new("server", "stateFile", "--state-file", SettingKind.Path, ["OSPREY_STATE_FILE"]),

        new("users", null, "--user", SettingKind.List, ["OSPREY_USERS"], Secret: true),
        new("tokens", null, "--token", SettingKind.List, ["OSPREY_TOKENS"], Secret: true),
        new("allowOrigins", null, "--allow-origin", SettingKind.List, ["OSPREY_ALLOW_ORIGINS"]),

        new("auth", "method", "--auth-method", SettingKind.Value, ["OSPREY_AUTH_METHOD"]),
        new("auth", "jwtJwks", "--jwt-jwks", SettingKind.Value, ["OSPREY_JWT_JWKS"]),
        new("auth", "jwtKey", "--jwt-key", SettingKind.Path, ["OSPREY_JWT_KEY"]),
        new("auth", "jwtIssuer", "--jwt-issuer", SettingKind.Value, ["OSPREY_JWT_ISSUER"]),
        new("auth", "jwtAudience", "--jwt-audience", SettingKind.Value, ["OSPREY_JWT_AUDIENCE"]),
        new("auth", "jwtClaim", "--jwt-claim", SettingKind.Value, ["OSPREY_JWT_CLAIM"]),
        new("auth", "http", "--auth-http", SettingKind.Value, ["OSPREY_AUTH_HTTP"]),
        new("auth", "httpExclude", "--auth-http-exclude", SettingKind.List, ["OSPREY_AUTH_HTTP_EXCLUDE"]),
        new("auth", "localHosts", "--local-host", SettingKind.List, ["OSPREY_LOCAL_HOSTS"]),

        new("limits", "maxConnections", "--max-connections", SettingKind.Value, ["OSPREY_MAX_CONNECTIONS"]),
        new("limits", "maxConnectionsPerAddress", "--max-connections-per-address", SettingKind.Value, ["OSPREY_MAX_CONNECTIONS_PER_ADDRESS"]),
        new("limits", "maxViewers", "--max-viewers", SettingKind.Value, ["OSPREY_MAX_VIEWERS"]),
        new("limits", "maxViewersPerFeed", "--max-viewers-per-feed", SettingKind.Value, ["OSPREY_MAX_VIEWERS_PER_FEED"]),
        new("limits", "maxFeeds", "--max-feeds", SettingKind.Value, ["OSPREY_MAX_FEEDS"]),
        new("limits", "maxStreams", "--max-streams", SettingKind.Value, ["OSPREY_MAX_STREAMS"]),
        new("limits", "maxDestinations", "--max-destinations", SettingKind.Value, ["OSPREY_MAX_DESTINATIONS"]),
        new("limits", "maxTopics", "--max-topics", SettingKind.Value, ["OSPREY_MAX_TOPICS"]),
        new("limits", "sendTimeout", "--send-timeout", SettingKind.Value, ["OSPREY_SEND_TIMEOUT"]),
        new("limits", "idleTimeout", "--idle-timeout", SettingKind.Value, ["OSPREY_IDLE_TIMEOUT"]),
        new("limits", "sourceTimeout", "--source-timeout", SettingKind.Value, ["OSPREY_SOURCE_TIMEOUT"]),
        new("limits", "viewerQueueMib", "--viewer-queue-mib", SettingKind.Value, ["OSPREY_VIEWER_QUEUE_MIB"]),
        new("limits", "topicQueueMib", "--topic-queue-mib", SettingKind.Value, ["OSPREY_TOPIC_QUEUE_MIB"]),
        new("limits", "publisherFeedTtl", "--publisher-feed-ttl", SettingKind.Value, ["OSPREY_PUBLISHER_FEED_TTL"]),
        new("limits", "publisherFirstBytesTimeout", "--publisher-first-bytes-timeout", SettingKind.Value, ["OSPREY_PUBLISHER_FIRST_BYTES_TIMEOUT"]),
        new("limits", "publisherIdleTimeout", "--publisher-idle-timeout", SettingKind.Value, ["OSPREY_PUBLISHER_IDLE_TIMEOUT"]),
        new("limits", "publisherTakeover", "--publisher-takeover", SettingKind.Switch, ["OSPREY_PUBLISHER_TAKEOVER"]),
        new("limits", "allowDestinations", "--allow-destination", SettingKind.List, ["OSPREY_ALLOW_DESTINATIONS"]),
        new("limits", "allowInsecureToken", "--allow-insecure-token", SettingKind.Switch, ["OSPREY_ALLOW_INSECURE_TOKEN"]),
        new("limits", "destinationCas", "--destination-ca", SettingKind.List, ["OSPREY_DESTINATION_CAS"]),
        new("limits", "destinationPins", "--destination-pin", SettingKind.List, ["OSPREY_DESTINATION_PINS"]),

        new("tls", "cert", "--tls-cert", SettingKind.Path, ["OSPREY_TLS_CERT"]),
        new("tls", "key", "--tls-key", SettingKind.Path, ["OSPREY_TLS_KEY"]),
        new("tls", "selfSigned", "--tls-self-signed", SettingKind.Switch, ["OSPREY_TLS_SELF_SIGNED"]),

        new("webrtc", "port", "--webrtc-port", SettingKind.Value, ["OSPREY_WEBRTC_PORT"]),
        new("webrtc", "hosts", "--webrtc-host", SettingKind.List, ["OSPREY_WEBRTC_HOSTS"]),

        new("hls", "part", "--hls-part", SettingKind.Value, ["OSPREY_HLS_PART"]),
        new("hls", "grace", "--hls-grace", SettingKind.Value, ["OSPREY_HLS_GRACE"]),
    ];

    /// <summary>The setting of <paramref name="flag"/>.</summary>
    public static ConfigSetting OfFlag(string flag) => s_byFlag[flag];

    private static readonly Dictionary<string, ConfigSetting> s_byFlag = All.ToDictionary(s => s.Flag, StringComparer.Ordinal);
}

/// <summary>A setting as the file writes it.</summary>
/// <param name="Values">The value, or the list's items (a switch: <c>true</c> or <c>false</c>; a path: resolved against the file's folder).</param>
/// <param name="Line">Where it is written.</param>
/// <param name="Label">How a message names it: <c>osprey.yaml:12: limits.maxViewers</c>.</param>
public sealed record ConfigValue(IReadOnlyList<string> Values, int Line, string Label);

/// <summary>What a setting is, once flags, environment and file are taken in that order.</summary>
/// <param name="Value">The value (list items joined by spaces).</param>
/// <param name="From">Where it came from.</param>
/// <param name="Label">How a message names it: the flag, the variable, or the file and line.</param>
public sealed record ResolvedSetting(string Value, SettingLayer From, string Label);
