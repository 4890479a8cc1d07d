using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Osprey.Codecs.Jpeg;
using Osprey.Containers.Hls;
using Osprey.Feeds;
using Osprey.Relay;
using Osprey.Routing;
using Osprey.Runtime;
using Osprey.Server.Configuration;
using Osprey.Server.Endpoints.Auth;
using Osprey.Server.Endpoints.Feeds;
using Osprey.Server.Endpoints.Go2rtc;
using Osprey.Server.Endpoints.Ingest;
using Osprey.Server.Endpoints.Page;
using Osprey.Server.Endpoints.Relay;
using Osprey.Server.Endpoints.Sources;
using Osprey.Server.Endpoints.Vw;
using Osprey.Server.Http;
using Osprey.Server.Metrics;
using Osprey.Server.Outputs;
using Osprey.Server.Outputs.Hls;
using Osprey.Server.Outputs.Rtsp;
using Osprey.Server.Outputs.WebRtc;
using Osprey.Server.Outputs.WebSockets;
using Osprey.Server.Security;
using Osprey.Sources;
using Osprey.Sources.V4L2;
using Osprey.Transforms;

namespace Osprey.Server.Hosting;

/// <summary>Builds the ASP.NET Core application that is the <c>osprey</c> server.</summary>
internal static partial class OspreyServer
{
    /// <summary>The feed the server makes when started with no sources and not in <c>stream</c> mode.</summary>
    public const string DefaultFeedName = "test";

    public const string DefaultSourceUri = "testpattern:?width=640&height=480&fps=30";

    /// <summary>The feed served without sources when /dev/video0 exists.</summary>
    public const string DefaultCameraFeedName = "video0";

    public const string DefaultCameraSourceUri = "v4l2:///dev/video0?format=yuyv&width=640&height=480&fps=30";

    public static WebApplication Build(OspreyOptions options)
    {
        // Sources are parsed before anything starts, so a typo fails fast with a clear message; the real ones
        // are made with the loggers once the host exists.
        var sources = new List<(string Name, string Uri)>();
        foreach (var spec in options.Sources)
        {
            var (name, uri) = SourceFactory.ParseNamedSource(spec);
            if (sources.Exists(s => s.Name == name))
            {
                throw new FormatException($"--source: feed name '{name}' is given twice.");
            }

            _ = SourceFactory.Create(uri);
            sources.Add((name, uri));
        }

        // Access is checked before anything starts too: a malformed --user is a start-up error, not an open server.
        var jwt = options.Jwt is { } jwtOptions ? new JwtAuthenticator(jwtOptions) : null;
        var callback = options.AuthHttp is { } callbackUrl ? new HttpAuthCallback(callbackUrl, options.AuthHttpExclude) : null;
        var access = AccessPolicy.Create(options.Users, options.Tokens, options.LocalHostNames, jwt: jwt, callback: callback);
        // Fetched now, so that the first viewer does not wait for it; a failure is retried when a token comes.
        _ = jwt?.Jwks?.GetKeysAsync(null).AsTask();
        var origins = new WebOrigins(options.AllowedOrigins);

        if (sources.Count == 0 && options.Config.Sources.Count == 0 && options.State.Sources.Count == 0 && options.Command == "serve")
        {
            // A camera when there is one (feed video0), else the test pattern (feed test).
            sources.Add(File.Exists(V4L2DeviceList.DefaultDevice) ? (DefaultCameraFeedName, DefaultCameraSourceUri) : (DefaultFeedName, DefaultSourceUri));
        }

        // Osprey parses its own command line; the one host setting given here turns off the reloading of
        // appsettings.json. Reloading watches the content root (the working directory) and, on Linux, every
        // directory below it with inotify: started from / (a service's default) that walked the whole file system
        // (5,339 watches in the first 6 s, still going) and used up the machine's inotify watches.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", options.LogLevel > LogLevel.Warning ? options.LogLevel : LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // The host logs a failed start with its whole stack trace before rethrowing; Program reports it in one line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        // Loaded now, so that a missing or unreadable file is a start-up error rather than a failed first handshake.
        var certificate = options.TlsSelfSigned ? ServerCertificate.SelfSigned()
            : options.TlsCertFile is not null ? ServerCertificate.FromFiles(options.TlsCertFile, options.TlsKeyFile!)
            : null;
        if (certificate is not null)
        {
            builder.Services.AddSingleton(_ => certificate);
        }

        var connections = new ConnectionLimiter(options.MaxConnections ?? ConnectionLimiter.DefaultMaxConnections(4096), options.MaxConnectionsPerAddress);
        builder.Services.AddSingleton(connections);
        // HTTPS configured the ASP.NET way (Kestrel__Endpoints__* variables) works instead of aborting start-up.
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // An idle or silent connection holds a descriptor: let it go in seconds, not Kestrel's 130.
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Listen(options.Bind, options.Port, Configure);
            foreach (var extra in options.ExtraPorts)
            {
                // Every route on every port: jsmpeg's relay took ingest on one port and viewers on another.
                kestrel.Listen(options.Bind, extra, Configure);
            }

            if (options.Go2rtcPort is { } go2rtc)
            {
                // go2rtc's API answers only here (its /api/streams is not vw's); Osprey's own routes answer too.
                kestrel.Listen(options.Bind, go2rtc, Configure);
            }

            void Configure(ListenOptions listen)
            {
                // The limiter comes first: a connection is counted (or refused) before its TLS handshake costs anything.
                listen.Use(connections.Middleware);
                if (certificate is not null)
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = certificate.OnConnection });
                }
            }
        });
        // Viewers write frames straight to the socket after the WebSocket upgrade. A tiny transport write
        // buffer makes every flush, the 101 response's included, wait until the transport has handed the
        // bytes to the kernel, so those direct sends can never overtake the 101 still in Kestrel's pipe.
        builder.WebHost.UseSockets(sockets => sockets.MaxWriteBufferSize = 2);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(1.5));
        var jpegAvailable = TurboJpegLibrary.IsAvailable(out var jpegError);
        var jpeg = new JpegSettings { Quality = options.JpegQuality, Available = jpegAvailable, UnavailableReason = jpegError };
        // Made in dependency order, so the container disposes them in reverse: sources and views stop before
        // the feeds they use end.
        // The API's source-generated contexts: the OpenAPI generator reads the response types' shapes from them.
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Add(AuthJson.Default);
            json.SerializerOptions.TypeInfoResolverChain.Add(OspreyJsonContext.Default);
        });
        builder.Services.AddSingleton(access);
        builder.Services.AddSingleton(origins);
        builder.Services.AddSingleton(_ => new FeedRegistry
        {
            ReservedLastSegments = FeedEndpoints.ViewSuffixes.Keys.ToHashSet(StringComparer.Ordinal),
            MaxPublisherFeeds = options.MaxFeeds,
            PublisherFeedTtl = options.PublisherFeedTtl,
            PublisherFirstBytesTimeout = options.PublisherFirstBytesTimeout,
            PublisherIdleTimeout = options.PublisherIdleTimeout,
            PublisherTakeover = options.PublisherTakeover,
        });
        builder.Services.AddSingleton(provider => CreateSources(provider, sources, options.SourceTimeout));
        builder.Services.AddSingleton(provider => new SourceCatalog(
            provider.GetRequiredService<SourceHost>(), provider.GetRequiredService<FeedRegistry>(), provider.GetRequiredService<ILoggerFactory>(), sources, options.ConfigFile, options.StateFile, options.State));
        builder.Services.AddSingleton(provider => CreateViews(provider, jpeg));
        builder.Services.AddSingleton(provider => new StreamRegistry(provider.GetRequiredService<FeedRegistry>(), provider.GetRequiredService<ILoggerFactory>()) { MaxStreams = options.MaxStreams });
        builder.Services.AddSingleton(provider => new VwControlApi(provider.GetRequiredService<StreamRegistry>(), options.ApiDestination));
        builder.Services.AddSingleton(provider => CreateDestinations(provider, options));
        builder.Services.AddSingleton(provider => new VwRuleCatalog(
            provider.GetRequiredService<StreamRegistry>(), provider.GetRequiredService<DestinationRegistry>(), provider.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Configuration")));
        builder.Services.AddSingleton(provider => new RelayHub(
            provider.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Relay"),
            new RelayLimits { SendTimeout = options.SendTimeout, IdleTimeout = options.IdleTimeout, MaxQueuedBytes = options.TopicQueueBytes })
        {
            MaxTopics = options.MaxTopics,
        });
        var viewerLimits = new ViewerLimits { SendTimeout = options.SendTimeout, MaxQueuedBytes = options.ViewerQueueBytes };
        builder.Services.AddSingleton(viewerLimits);
        builder.Services.AddSingleton(_ => new SendWatchdog(viewerLimits));
        builder.Services.AddSingleton(_ => new ViewerAdmission(options.MaxViewersPerFeed, options.MaxViewers));
        builder.Services.AddSingleton(provider => new WebRtcServer(
            new WebRtcOptions { Bind = options.Bind, Port = options.WebRtcPort, ExtraHosts = options.WebRtcHosts, MaxQueuedBytes = options.ViewerQueueBytes },
            provider.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.WebRtc")));
        builder.Services.AddSingleton(provider => new RtspServer(
            new RtspOptions { Bind = options.Bind, Port = options.RtspPort ?? 0, SendTimeout = options.SendTimeout, MaxQueuedBytes = options.ViewerQueueBytes },
            provider.GetRequiredService<FeedRegistry>(),
            provider.GetRequiredService<FeedViews>(),
            provider.GetRequiredService<AccessPolicy>(),
            provider.GetRequiredService<ViewerAdmission>(),
            provider.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Rtsp")));
        builder.Services.AddSingleton(provider => new HlsStreams(
            new HlsSettings { PartTarget = options.HlsPartTarget, MinSegmentDuration = TimeSpan.FromSeconds(Math.Max(1, options.HlsPartTarget.TotalSeconds)) },
            options.HlsGrace,
            maxStreams: 256,
            provider.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddOspreyMetrics();
        builder.Services.AddOspreyOpenApi(options.IngestSecret);

        var app = builder.Build();
        // Made now, not by the first request: sources start with the server, and so does VW_API's control connection.
        _ = app.Services.GetRequiredService<SourceHost>();
        var catalog = app.Services.GetRequiredService<SourceCatalog>();
        _ = app.Services.GetRequiredService<FeedViews>();
        var rules = app.Services.GetRequiredService<VwRuleCatalog>();
        if (options.ConfigFile is not null || options.StateFile is not null)
        {
            var configFile = options.ConfigFile ?? options.StateFile!;
            try
            {
                // Sources first: a stream's name is checked against the feeds', and a stream's feeds may be sources.
                rules.Validate(options.Config, configFile);
                catalog.ApplyAsync(options.Config.Sources, configFile).GetAwaiter().GetResult();
                rules.Apply(options.Config, configFile);
            }
            catch (ConfigException ex)
            {
                throw new FormatException(ex.Message, ex);
            }

            var configLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Configuration");
            var writes = options.StateFile is not null ? $"the sources API writes to the state file {options.StateFile}" : "the sources API writes here";
            if (options.ConfigFile is not null)
            {
                var watcher = new ConfigWatcher(
                    options.ConfigFile,
                    options.ConfigText,
                    new ConfigLoad(options.Config, options.Settings),
                    text =>
                    {
                        var next = OspreyCommandLine.Reparse(options, text);
                        return new ConfigLoad(next.Config, next.Settings);
                    },
                    catalog,
                    rules,
                    configLogger);
                app.Lifetime.ApplicationStopping.Register(watcher.Dispose);
            }

            Log.ConfigLoaded(configLogger, configFile,
                $"{options.Config.Sources.Count} sources, {options.Config.Streams.Count} vw streams, {options.Config.Destinations.Count} vw destinations"
                + (options.StateFile is not null ? $", {options.State.Sources.Count} sources and {options.State.Removed.Count} removals from the state file" : "")
                + (options.ConfigFile is not null ? "; watched for changes" : "") + "; " + writes);
        }

        _ = app.Services.GetRequiredService<FeedViews>();
        _ = app.Services.GetRequiredService<DestinationRegistry>();
        // Bound now, so that the port (and a clash on it) is in the start-up log, not the first viewer's.
        _ = app.Services.GetRequiredService<WebRtcServer>();
        if (options.RtspPort is not null)
        {
            // Bound now too: its address is printed with the others, and a clash on 8554 is said at start.
            _ = app.Services.GetRequiredService<RtspServer>();
        }
        var startupLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey");
        app.Services.GetService<ServerCertificate>()?.StartWatching(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Tls"));
        // Frames and buffers a load left behind go back to the system once it ends, not at the next full GC.
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var views = app.Services.GetRequiredService<FeedViews>();
        var admission = app.Services.GetRequiredService<ViewerAdmission>();
        var trimmer = new MemoryTrimmer(startupLogger, () => [.. registry.Feeds, .. views.Outputs], () => admission.Viewers);
        app.Lifetime.ApplicationStopping.Register(trimmer.Dispose);
        foreach (var rule in access.Describe())
        {
            Log.AccessRule(startupLogger, rule);
        }

        // HEAD must become GET before routing picks an endpoint; an explicit UseRouting keeps it after this.
        app.UseHeadAsGet();
        app.UseWebSockets();
        app.UseExtendedConnectAsGet();
        app.UseMiddleware<WebOriginMiddleware>();
        app.UseRouting();
        app.UseExtendedConnectRestored();
        // After routing, so that the endpoint's AccessRule is known; before the endpoints, so that none runs unchecked.
        app.UseMiddleware<AccessMiddleware>();
        app.MapAuthEndpoints();
        app.MapSourceEndpoints();
        app.MapFeedEndpoints();
        app.MapHlsEndpoints();
        app.MapControlEndpoints();
        app.MapIngestEndpoints(options.IngestSecret);
        app.MapVwApiEndpoints();
        app.MapRelayEndpoints();
        app.MapRelayStatusEndpoint();
        app.MapWhepEndpoints();
        if (options.Go2rtcPort is { } go2rtcPort)
        {
            app.MapGo2rtcEndpoints(go2rtcPort);
        }

        app.MapMetricsEndpoint();
        app.MapOspreyOpenApi();
        var hub = app.Services.GetRequiredService<RelayHub>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var viewerLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Viewers");
        app.MapEmbeddedAssets(
            rootWebSocket: async context =>
            {
                // jsmpeg's view-stream.html connects to ws://host:port/: what is POSTed to /{secret}, whether or not
                // anyone publishes yet.
                var jsmpeg = options.IngestSecret is not null ? IngestEndpoints.GetOrAddJsmpegStream(streams)
                    : streams.TryGetStream(IngestEndpoints.JsmpegStreamName, out var existing) ? existing : null;
                if (jsmpeg is not null)
                {
                    await WebSocketFrameViewer.ServeAsync(context, jsmpeg.Output, viewerLogger, lifetime.ApplicationStopping, ViewerFraming.Stream);
                }
                else
                {
                    await RelayEndpoints.ServeTopicAsync(context, hub, lifetime.ApplicationStopping);
                }
            },
            rootWebSocketAccess: context => options.IngestSecret is not null || streams.TryGetStream(IngestEndpoints.JsmpegStreamName, out _)
                ? new AccessRequirement(OspreyAction.Read, IngestEndpoints.JsmpegStreamName)
                : new AccessRequirement(OspreyAction.Read | OspreyAction.Publish, "/"),
            otherWebSocket: context => RelayEndpoints.ServeTopicAsync(context, hub, lifetime.ApplicationStopping));
        return app;
    }

    /// <summary>The addresses Kestrel listens on, with port 0 resolved to the port it chose.</summary>
    public static IReadOnlyList<string> ListeningAddresses(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        return addresses is null ? [] : [.. addresses];
    }

    /// <summary>The address a person should open, e.g. <c>http://localhost:8888/</c> for a wildcard bind.</summary>
    public static string BrowsableUrl(string address)
    {
        var uri = new Uri(address.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal));
        var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "localhost" : uri.Host;
        return $"{uri.Scheme}://{(host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host)}:{uri.Port}/";
    }

    public static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static DestinationRegistry CreateDestinations(IServiceProvider provider, OspreyOptions options)
    {
        var registry = provider.GetRequiredService<FeedRegistry>();
        var streams = provider.GetRequiredService<StreamRegistry>();
        var control = provider.GetRequiredService<VwControlApi>();
        var destinations = new DestinationRegistry(
            streams.ResolveFeedOrStream,
            control.Handle,
            provider.GetRequiredService<ILoggerFactory>())
        {
            // Chunks are network reads: the queue holds a whole group of pictures, as a TS viewer's does.
            QueueCapacity = FeedRegistry.StreamGroupOfPicturesFrames,
            MaxDestinations = options.MaxDestinations,
            TargetPolicy = DestinationTargetPolicy.Create(options.AllowedDestinations, options.AllowInsecureToken),
            // A relay that stops reading holds what a stream viewer may, and is let go after the viewers' send timeout.
            QueueBytes = options.ViewerQueueBytes,
            SendTimeout = options.SendTimeout,
            Trust = RelayTrust.Create(options.DestinationCaFiles, options.DestinationPins),
        };
        control.Attach(destinations);
        return destinations;
    }

    private static SourceHost CreateSources(IServiceProvider provider, List<(string Name, string Uri)> sources, TimeSpan sourceTimeout)
    {
        var loggerFactory = provider.GetRequiredService<ILoggerFactory>();
        var host = new SourceHost(provider.GetRequiredService<FeedRegistry>(), loggerFactory) { FrameTimeout = sourceTimeout };
        foreach (var (name, uri) in sources)
        {
            host.Add(name, SourceFactory.Create(uri, loggers: loggerFactory));
        }

        return host;
    }

    private static FeedViews CreateViews(IServiceProvider provider, JpegSettings jpeg)
    {
        var loggerFactory = provider.GetRequiredService<ILoggerFactory>();
        if (!jpeg.Available)
        {
            Log.JpegUnavailable(loggerFactory.CreateLogger("Osprey"), jpeg.UnavailableReason ?? "");
        }

        _ = provider.GetRequiredService<FeedRegistry>();
        return new FeedViews(loggerFactory, jpeg);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.ConfigLoaded, LogLevel.Information, "Config {Path}: {Message}")]
        public static partial void ConfigLoaded(ILogger logger, string path, string message);

        [LoggerMessage(LogEvents.ServerAccessRule, LogLevel.Information, "Access: {Rule}")]
        public static partial void AccessRule(ILogger logger, string rule);

        [LoggerMessage(LogEvents.ServerJpegUnavailable, LogLevel.Error, "JPEG outputs (/mjpeg, /snapshot, /ws/{{feed}}/jpeg of raw feeds) are off: {Reason}")]
        public static partial void JpegUnavailable(ILogger logger, string reason);
    }
}
