using Osprey.Feeds;

namespace Osprey.Server.Outputs;

/// <summary>
/// Caps viewers (WebSocket and MJPEG connections), per feed and in total, so that one client opening connections
/// in a loop cannot take every frame send and socket the server has. A viewer past a cap gets 503 before any
/// upgrade; refusals are counted.
/// </summary>
/// <remarks>Thread-safe: admissions and departures come from every connection's thread.</remarks>
internal sealed class ViewerAdmission(int maxPerFeed, int maxTotal)
{
    /// <summary>The default cap per feed.</summary>
    public const int DefaultMaxPerFeed = 100;

    /// <summary>The default cap over all feeds.</summary>
    public const int DefaultMaxTotal = 300;

    private readonly Lock _lock = new();
    private readonly Dictionary<Feed, int> _perFeed = [];
    private int _total;
    private long _refused;

    public int MaxPerFeed { get; } = maxPerFeed;

    public int MaxTotal { get; } = maxTotal;

    /// <summary>Viewers admitted and not yet gone.</summary>
    public int Viewers
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    /// <summary>Viewers refused because a cap was reached.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Admits a viewer of <paramref name="feed"/> (dispose the lease when it leaves), or says why not.</summary>
    public Lease? TryAdmit(Feed feed, out string? refusal)
    {
        lock (_lock)
        {
            var ofFeed = _perFeed.GetValueOrDefault(feed);
            refusal = _total >= MaxTotal ? $"This server has {MaxTotal} viewers already (--max-viewers); try again later."
                : ofFeed >= MaxPerFeed ? $"Feed '{feed.Name}' has {MaxPerFeed} viewers already (--max-viewers-per-feed); try again later."
                : null;
            if (refusal is not null)
            {
                _refused++;
                return null;
            }

            _perFeed[feed] = ofFeed + 1;
            _total++;
            return new Lease(this, feed);
        }
    }

    /// <summary>
    /// The admission of the server <paramref name="context"/> belongs to; a viewer with none (a server without the
    /// service) is admitted. Writes the 503 and returns false when refused.
    /// </summary>
    public static async Task<(bool Admitted, Lease? Lease)> AdmitAsync(HttpContext context, Feed feed)
    {
        if (context.RequestServices?.GetService(typeof(ViewerAdmission)) is not ViewerAdmission admission)
        {
            return (true, null);
        }

        var lease = admission.TryAdmit(feed, out var refusal);
        if (lease is not null)
        {
            return (true, lease);
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(refusal + "\n", context.RequestAborted);
        return (false, null);
    }

    private void Leave(Feed feed)
    {
        lock (_lock)
        {
            _total--;
            if (_perFeed.TryGetValue(feed, out var count) && count > 1)
            {
                _perFeed[feed] = count - 1;
            }
            else
            {
                _perFeed.Remove(feed);
            }
        }
    }

    /// <summary>One admitted viewer; disposing it frees its place.</summary>
    public sealed class Lease(ViewerAdmission owner, Feed feed) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Leave(feed);
            }
        }
    }
}
