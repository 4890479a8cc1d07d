using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Osprey.Server.Security;

/// <summary>What Osprey asks the callback about (MediaMTX's authHTTPAddress body, less <c>userAgent</c>).</summary>
/// <param name="User">The Basic user name, or empty.</param>
/// <param name="Password">The Basic password, or empty.</param>
/// <param name="Token">A bearer token or <c>?token=</c>/<c>?jwt=</c>, or empty.</param>
/// <param name="Ip">The client's address.</param>
/// <param name="Action">read, publish, api or metrics.</param>
/// <param name="Path">The feed, stream or topic path; empty when the request is on no one path.</param>
/// <param name="Protocol"><c>http</c>, or <c>ws</c> for a WebSocket upgrade.</param>
/// <param name="Id">The request's id (as in Osprey's log).</param>
/// <param name="Query">The request's query string, without <c>?</c>.</param>
public sealed record AuthCallbackRequest(
    string User, string Password, string Token, string Ip, string Action, string Path, string Protocol, string Id, string Query);

/// <summary>
/// External authentication (MediaMTX's <c>authHTTPAddress</c>): for each request's credentials, action and path,
/// Osprey POSTs <see cref="AuthCallbackRequest"/> as JSON to the operator's URL; a 2xx allows, anything else, an
/// error or no answer within <see cref="Timeout"/> refuses.
/// </summary>
/// <remarks>
/// Clients must not be able to make Osprey flood the callback: answers are cached for <see cref="CacheLifetime"/>
/// by a SHA-256 of credentials, address, action and path (at most <see cref="MaxCacheEntries"/>), requests with
/// the same key while one is in flight share it, and at most <see cref="MaxConcurrent"/> callback requests run at
/// once (the rest wait, within the same timeout). A failure to get an answer is not cached.
/// </remarks>
public sealed class HttpAuthCallback : IDisposable
{
    /// <summary>How long the callback has to answer (waiting for a free slot included).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>How long an answer is reused.</summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(10);

    /// <summary>The most answers remembered.</summary>
    public const int MaxCacheEntries = 4096;

    /// <summary>The most callback requests at once.</summary>
    public const int MaxConcurrent = 8;

    private readonly HttpClient _client;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _slots = new(MaxConcurrent, MaxConcurrent);
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, Task<bool?> Answer)> _cache = new(StringComparer.Ordinal);
    private long _calls;

    /// <summary>Asks <paramref name="url"/>; <paramref name="excluded"/> actions are not asked about (they get the open default's rule).</summary>
    public HttpAuthCallback(Uri url, OspreyAction excluded = OspreyAction.None, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        Url = url;
        Excluded = excluded;
        _time = time ?? TimeProvider.System;
        _client = new HttpClient(handler ?? new SocketsHttpHandler
        {
            ConnectTimeout = Timeout,
            AllowAutoRedirect = false, // a redirect is not a 2xx: refused, and the body is not re-sent elsewhere
            MaxResponseHeadersLength = 64, // KiB
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        })
        {
            Timeout = Timeout,
            MaxResponseContentBufferSize = 64 * 1024,
        };
    }

    /// <summary>The callback's URL.</summary>
    public Uri Url { get; }

    /// <summary>Actions decided without the callback (MediaMTX's <c>authHTTPExclude</c>).</summary>
    public OspreyAction Excluded { get; }

    /// <summary>Callback requests made since start.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>True when allowed, false when refused, null when the callback gave no answer (error, timeout).</summary>
    public async Task<bool?> AskAsync(AuthCallbackRequest request, CancellationToken cancellation = default)
    {
        var key = Key(request);
        var now = _time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && now - cached.At < CacheLifetime)
        {
            return await cached.Answer.WaitAsync(cancellation).ConfigureAwait(false);
        }

        if (_cache.Count >= MaxCacheEntries)
        {
            foreach (var (oldKey, entry) in _cache)
            {
                if (now - entry.At >= CacheLifetime)
                {
                    _cache.TryRemove(oldKey, out _);
                }
            }

            if (_cache.Count >= MaxCacheEntries)
            {
                _cache.Clear();
            }
        }

        var answer = new TaskCompletionSource<bool?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = (now, answer.Task);
        var entryNow = _cache.AddOrUpdate(key, mine, (_, existing) => now - existing.At < CacheLifetime ? existing : mine);
        if (entryNow.Item2 != answer.Task)
        {
            return await entryNow.Item2.WaitAsync(cancellation).ConfigureAwait(false);
        }

        // The call is not tied to this client's request: others may be waiting on its answer.
        var result = await CallAsync(request).ConfigureAwait(false);
        answer.SetResult(result);
        if (result is null)
        {
            _cache.TryRemove(new KeyValuePair<string, (DateTimeOffset, Task<bool?>)>(key, mine));
        }

        return result;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _client.Dispose();
        _slots.Dispose();
    }

    private async Task<bool?> CallAsync(AuthCallbackRequest request)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await _slots.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }

        try
        {
            Interlocked.Increment(ref _calls);
            using var message = new HttpRequestMessage(HttpMethod.Post, Url)
            {
                Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, AuthCallbackJson.Default.AuthCallbackRequest)),
            };
            message.Content.Headers.ContentType = new("application/json");
            // Only the status counts: the body is never read, so a large one costs nothing.
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            return null;
        }
        finally
        {
            _slots.Release();
        }
    }

    private static string Key(AuthCallbackRequest request)
    {
        // Hashed, so that the cache holds no password; fields are length-prefixed, so no two requests share a key.
        var text = string.Join('\n', new[] { request.User, request.Password, request.Token, request.Ip, request.Action, request.Path }
            .Select(f => f.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + f));
        return Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}

/// <summary>The callback body, source-generated for trimming and AOT.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AuthCallbackRequest))]
internal sealed partial class AuthCallbackJson : JsonSerializerContext;
