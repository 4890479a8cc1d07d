using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Osprey.Feeds;
using Osprey.Ingest;
using Osprey.Media;
using Osprey.Routing;
using Osprey.Runtime;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Ingest;

/// <summary>
/// MPEG-TS ingest: ffmpeg's endless chunked POST to <c>/ts/{feed}</c> (vw), and, with <c>--ingest-secret</c>,
/// to <c>/{secret}/...</c> (jsmpeg's websocket-relay.js). Bytes are published to the feed as they arrive, in
/// chunks of whole TS packets cut at random access points; nothing is buffered whole.
/// </summary>
internal static partial class IngestEndpoints
{
    public static void MapIngestEndpoints(this WebApplication app, string? ingestSecret)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Osprey.Ingest");

        // Any method, as vw: ffmpeg POSTs, other tools PUT. With a secret, the names its anonymous ingest makes
        // (jsmpeg, jsmpeg/N) are its alone: a publisher naming one would be merged into the protected stream.
        app.Map("/ts/{**feed}", (HttpContext context, string feed) => ingestSecret is not null && IsJsmpegName(feed)
            ? RefuseReservedAsync(context, feed, logger)
            : IngestAsync(context, registry, feed, logger, lifetime.ApplicationStopping))
            .Requires(OspreyAction.Publish, AccessRuleExtensions.RouteValue("feed"));

        if (ingestSecret is not null)
        {
            // jsmpeg's relay checks only the first path segment and mixes every ingest into one broadcast (its README
            // runs audio and video as two ffmpegs). Here /{secret}/{feed} names a feed; /{secret} alone gives each
            // publisher a feed jsmpeg/1, jsmpeg/2, ... and the stream 'jsmpeg' combines them all (PIDs remapped, one
            // programme), which the WebSocket at / serves as jsmpeg's view-stream.html expects.
            // Routing matches literal segments ignoring case; the secret is compared exactly, byte for byte.
            app.Map($"/{ingestSecret}", context => HasExactSecret(context, ingestSecret)
                ? IngestAnonymousAsync(context, registry, streams, logger, lifetime.ApplicationStopping)
                : RefuseWrongSecretAsync(context, logger))
                .AllowEveryone(); // the secret is the credential, as jsmpeg's relay has it
            app.Map($"/{ingestSecret}/{{**rest}}", (HttpContext context, string? rest) =>
                !HasExactSecret(context, ingestSecret) ? RefuseWrongSecretAsync(context, logger)
                : !FeedNames.IsValid(rest) || IsLegacySize(rest!) ? IngestAnonymousAsync(context, registry, streams, logger, lifetime.ApplicationStopping)
                : IsJsmpegName(rest!) ? RefuseReservedAsync(context, rest!, logger)
                : IngestAsync(context, registry, rest!, logger, lifetime.ApplicationStopping))
                .AllowEveryone();

            // Any other first segment is a wrong secret: refused at once, and the connection closed so that ffmpeg
            // stops sending (literal routes such as /api/streams take precedence over this pattern).
            app.MapMethods("/{segment}/{**rest}", ["POST", "PUT"], context => RefuseWrongSecretAsync(context, logger)).AllowEveryone();
        }
    }

    /// <summary>
    /// <c>/{secret}/640/480</c>: jsmpeg's older READMEs (stream-server.js) put the picture's size after the secret,
    /// and its relay ignores everything after the first segment, so such a publisher belongs to the jsmpeg stream.
    /// </summary>
    public static bool IsLegacySize(string rest)
    {
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < rest.Length - 1
            && rest.AsSpan(0, slash).IndexOfAnyExceptInRange('0', '9') < 0
            && rest.AsSpan(slash + 1).IndexOfAnyExceptInRange('0', '9') < 0;
    }

    /// <summary>The stream that combines every ingest to <c>/{secret}</c> (each in its own feed <c>jsmpeg/N</c>).</summary>
    public const string JsmpegStreamName = "jsmpeg";

    private static readonly Lock s_anonymousLock = new();

    /// <summary>True for the names the anonymous ingest makes: the stream <c>jsmpeg</c> and its feeds <c>jsmpeg/N</c>.</summary>
    public static bool IsJsmpegName(string name) =>
        name == JsmpegStreamName || name.StartsWith(JsmpegStreamName + "/", StringComparison.Ordinal);

    private static bool HasExactSecret(HttpContext context, string secret)
    {
        var path = context.Request.Path.Value ?? "";
        return path.Length > secret.Length && path[0] == '/' && string.CompareOrdinal(path, 1, secret, 0, secret.Length) == 0
            && (path.Length == secret.Length + 1 || path[secret.Length + 1] == '/');
    }

    private static async Task RefuseWrongSecretAsync(HttpContext context, ILogger logger)
    {
        Log.WrongSecret(logger, $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        context.Response.Headers.Connection = "close";
        await context.Response.WriteAsync("Wrong ingest secret.\n");
    }

    private static async Task RefuseReservedAsync(HttpContext context, string name, ILogger logger)
    {
        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        var reason = $"Feed names '{JsmpegStreamName}' and '{JsmpegStreamName}/...' are made by the ingest secret's anonymous ingest (POST /{{secret}}); name the feed otherwise.";
        Log.Refused(logger, name, remote, reason);
        await PlainText.WriteAsync(context, StatusCodes.Status403Forbidden, reason, close: true);
    }

    /// <summary>True when <paramref name="secret"/> can stand as a path segment as given.</summary>
    public static bool IsValidSecret(string secret) =>
        secret.Length is > 0 and <= 128 && secret.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~') && secret is not ("ts" or "ws" or "api" or "in" or "out");

    private static async Task IngestAnonymousAsync(HttpContext context, FeedRegistry registry, StreamRegistry streams, ILogger logger, CancellationToken stopping)
    {
        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        PublisherClaim? claim = null;
        lock (s_anonymousLock)
        {
            for (var n = 1; claim is null && n <= 64; n++)
            {
                claim = registry.TryClaimPublisher($"{JsmpegStreamName}/{n}", new VideoInfo(MediaFormat.MpegTs, 0, 0, 0), remote, out _, out _);
            }

            if (claim is not null)
            {
                UpdateJsmpegStream(registry, streams);
            }
        }

        if (claim is null)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync("64 anonymous publishers already; name the feed: /{secret}/{feed}.\n", context.RequestAborted);
            return;
        }

        try
        {
            await IngestAsync(context, claim, logger, stopping);
        }
        finally
        {
            lock (s_anonymousLock)
            {
                claim.Dispose();
                UpdateJsmpegStream(registry, streams);
            }
        }
    }

    /// <summary>
    /// The stream the WebSocket at <c>/</c> serves when an ingest secret is set, made (empty) when missing: jsmpeg's
    /// view-stream.html is usually opened before ffmpeg starts and never reconnects, so it must be attached to the
    /// stream that the first publisher will feed, not parked on a relay topic.
    /// </summary>
    public static CombinedStream GetOrAddJsmpegStream(StreamRegistry streams)
    {
        ArgumentNullException.ThrowIfNull(streams);
        lock (s_anonymousLock)
        {
            if (!streams.TryGetStream(JsmpegStreamName, out var stream))
            {
                streams.Set(JsmpegStreamName, []);
                streams.TryGetStream(JsmpegStreamName, out stream);
            }

            return stream;
        }
    }

    /// <summary>Under the anonymous lock: the 'jsmpeg' stream combines the anonymous feeds that have a publisher now.</summary>
    private static void UpdateJsmpegStream(FeedRegistry registry, StreamRegistry streams)
    {
        var live = registry.Feeds.Where(f => f.Name.StartsWith(JsmpegStreamName + "/", StringComparison.Ordinal) && registry.HasPublisher(f.Name)).Select(f => f.Name).ToList();
        try
        {
            if (live.Count > 0 || streams.TryGetFeeds(JsmpegStreamName, out _))
            {
                streams.Set(JsmpegStreamName, live);
            }
        }
        catch (ObjectDisposedException)
        {
            // The server is stopping: the streams are gone already.
        }
    }

    private static async Task IngestAsync(HttpContext context, FeedRegistry registry, string name, ILogger logger, CancellationToken stopping)
    {
        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        using var claim = registry.TryClaimPublisher(name, new VideoInfo(MediaFormat.MpegTs, 0, 0, 0), remote, out var error, out var refusal);
        if (claim is not null)
        {
            await IngestAsync(context, claim, logger, stopping);
            return;
        }

        Log.Refused(logger, name, remote, error ?? "");
        await PlainText.WriteAsync(context, Refusals.StatusOf(refusal), error ?? "refused");
    }

    private static async Task IngestAsync(HttpContext context, PublisherClaim claim, ILogger logger, CancellationToken stopping)
    {
        var name = claim.Feed.Name;
        var remote = claim.Publisher;
        // An endless upload: no size cap, no minimum rate (ffmpeg may pause), for this request only.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }

        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }

        Log.PublisherConnected(logger, name, remote, context.Request.Method);
        var writer = new MpegTsFeedWriter(claim.Feed);
        var body = context.Request.BodyReader;
        var registry = claim.Registry;
        // One timer per connection, re-armed before every read: the first bytes must come within the first-bytes
        // timeout and each later read within the idle timeout, or the claim is released for the next publisher.
        using var silence = new CancellationTokenSource();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(stopping, context.RequestAborted, claim.Revoked, silence.Token);
        var ended = "the publisher finished";
        var received = false;
        try
        {
            while (true)
            {
                silence.CancelAfter(received ? registry.PublisherIdleTimeout : registry.PublisherFirstBytesTimeout);
                var result = await body.ReadAsync(abort.Token);
                received |= !result.Buffer.IsEmpty;
                foreach (var segment in result.Buffer)
                {
                    writer.Write(segment.Span);
                }

                // Publish what came in this read now: a chunk never waits for the next read.
                writer.Flush();
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionResetException or BadHttpRequestException)
        {
            ended = stopping.IsCancellationRequested ? "the server is stopping"
                : claim.IsRevoked ? "another publisher took the feed over"
                : silence.IsCancellationRequested ? Refusals.Silent(received, registry)
                : $"the connection ended ({ex.GetType().Name})";
            if (!stopping.IsCancellationRequested && (claim.IsRevoked || silence.IsCancellationRequested))
            {
                if (!claim.IsRevoked)
                {
                    registry.CountPublisherTimeout();
                }

                // The body is not read any further: the connection goes, and the claim with it.
                context.Abort();
            }
        }

        Log.PublisherLeft(logger, name, remote, ended, writer.Chunker.Bytes, writer.Chunks, writer.ResyncCount, writer.DiscardedBytes);
    }

    private static partial class Log
    {
        [LoggerMessage(LogEvents.IngestPublisherConnected, LogLevel.Information, "Feed {Feed}: publisher {Remote} connected ({Method})")]
        public static partial void PublisherConnected(ILogger logger, string feed, string remote, string method);

        [LoggerMessage(LogEvents.IngestPublisherLeft, LogLevel.Information, "Feed {Feed}: publisher {Remote} left: {Reason}; {Bytes} bytes in {Chunks} chunks, {Resyncs} resyncs, {Discarded} bytes discarded")]
        public static partial void PublisherLeft(ILogger logger, string feed, string remote, string reason, long bytes, long chunks, long resyncs, long discarded);

        [LoggerMessage(LogEvents.IngestWrongSecret, LogLevel.Warning, "Refused an ingest from {Remote}: wrong secret")]
        public static partial void WrongSecret(ILogger logger, string remote);

        [LoggerMessage(LogEvents.IngestRefused, LogLevel.Warning, "Feed {Feed}: refused publisher {Remote}: {Error}")]
        public static partial void Refused(ILogger logger, string feed, string remote, string error);
    }
}
