using System.Diagnostics;
using System.Diagnostics.Metrics;
using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Server.Outputs;

/// <summary>
/// Caps viewers (WebSocket and MJPEG connections), per feed and in total, so that one client opening connections
/// in a loop cannot take every frame send and socket the server has. A viewer past a cap gets 503 before any
/// upgrade; refusals are counted.
/// </summary>
/// <remarks>
/// <para>Thread-safe: admissions and departures come from every connection's thread.</para>
/// <para>It also keeps what /metrics shows of outputs, per feed name and protocol (<see cref="OutputTally"/>): a
/// viewer counts what it sent in its own lease, with plain writes from its one send loop, and adds it to its
/// tally when it leaves, so the per-frame path takes no lock and no interlocked operation for the figures.</para>
/// </remarks>
internal sealed class ViewerAdmission(int maxPerFeed, int maxTotal)
{
    /// <summary>The default cap per feed.</summary>
    public const int DefaultMaxPerFeed = 100;

    /// <summary>The default cap over all feeds.</summary>
    public const int DefaultMaxTotal = 300;

    private readonly Lock _lock = new();
    private readonly Dictionary<Feed, int> _perFeed = [];
    private readonly Dictionary<(string Feed, string Protocol), OutputTally> _tallies = [];
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

    /// <summary>Capture to send of the first viewer's send of each frame, per feed and protocol; set by the metrics.</summary>
    public Histogram<double>? CaptureToSend { get; set; }

    /// <summary>From a viewer's admission to its first frame sent; set by the metrics.</summary>
    public Histogram<double>? JoinToFirstFrame { get; set; }

    /// <summary>The outputs' tallies now, one per feed name and protocol seen with a viewer.</summary>
    public IReadOnlyList<OutputTally> Tallies
    {
        get
        {
            lock (_lock)
            {
                return [.. _tallies.Values];
            }
        }
    }

    /// <summary>Forgets the tallies of feeds <paramref name="exists"/> no longer knows that have no viewer left.</summary>
    /// <remarks>Publishers name feeds: without this a client naming a new feed every minute would grow the table (and /metrics) for ever.</remarks>
    public void ForgetGone(Func<string, bool> exists)
    {
        ArgumentNullException.ThrowIfNull(exists);
        lock (_lock)
        {
            foreach (var (key, tally) in _tallies)
            {
                if (tally.Viewers == 0 && !exists(key.Feed))
                {
                    _tallies.Remove(key);
                }
            }
        }
    }

    /// <summary>Admits a viewer of <paramref name="feed"/> (dispose the lease when it leaves), or says why not.</summary>
    public Lease? TryAdmit(Feed feed, out string? refusal) => TryAdmit(feed, OutputProtocol.Of(feed), out refusal);

    /// <summary>Admits a viewer of <paramref name="feed"/> over <paramref name="protocol"/> (one of <see cref="OutputProtocol"/>'s names).</summary>
    public Lease? TryAdmit(Feed feed, string protocol, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(feed);
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
            if (!_tallies.TryGetValue((feed.Name, protocol), out var tally))
            {
                tally = new OutputTally(feed.Name, protocol);
                _tallies[(feed.Name, protocol)] = tally;
            }

            tally.Viewers++;
            return new Lease(this, feed, tally);
        }
    }

    /// <summary>
    /// The admission of the server <paramref name="context"/> belongs to; a viewer with none (a server without the
    /// service) is admitted. Writes the 503 and returns false when refused.
    /// </summary>
    public static async Task<(bool Admitted, Lease? Lease)> AdmitAsync(HttpContext context, Feed feed, string protocol)
    {
        if (context.RequestServices?.GetService(typeof(ViewerAdmission)) is not ViewerAdmission admission)
        {
            return (true, null);
        }

        var lease = admission.TryAdmit(feed, protocol, out var refusal);
        if (lease is not null)
        {
            return (true, lease);
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(refusal + "\n", context.RequestAborted);
        return (false, null);
    }

    private void Leave(Feed feed, OutputTally tally)
    {
        lock (_lock)
        {
            _total--;
            tally.Viewers--;
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
    /// <remarks>Its counts are written by the viewer's send loop only and read by scrapes (64-bit reads and
    /// writes are atomic on the 64-bit platforms Osprey runs on; a scrape may see a count one frame old).</remarks>
    public sealed class Lease : IDisposable
    {
        private readonly ViewerAdmission _owner;
        private readonly Feed _feed;
        private readonly OutputTally _tally;
        private readonly long _admitted = Stopwatch.GetTimestamp();
        private long _frames;
        private long _bytes;
        private int _disposed;

        internal Lease(ViewerAdmission owner, Feed feed, OutputTally tally)
        {
            _owner = owner;
            _feed = feed;
            _tally = tally;
            tally.Add(this);
        }

        /// <summary>Frames this viewer sent.</summary>
        public long Frames => Volatile.Read(ref _frames);

        /// <summary>Frame bytes this viewer sent (the frames' payload, without the protocol's own headers).</summary>
        public long Bytes => Volatile.Read(ref _bytes);

        /// <summary>Counts <paramref name="frame"/> as sent; called by the viewer's send loop after each send.</summary>
        public void Sent(Frame frame)
        {
            ArgumentNullException.ThrowIfNull(frame);
            var first = _frames == 0;
            Volatile.Write(ref _frames, _frames + 1);
            Volatile.Write(ref _bytes, _bytes + frame.Length);
            if (first && _owner.JoinToFirstFrame is { } join)
            {
                join.Record(Stopwatch.GetElapsedTime(_admitted).TotalSeconds, new("feed", _tally.Feed), new("protocol", _tally.Protocol));
            }

            // Once per frame and protocol, whichever viewer sends it first: the latency of a frame, not of N viewers.
            if (_owner.CaptureToSend is { } latency && frame.CaptureTimestamp != 0 && _tally.TakeSample(_feed, frame.Sequence))
            {
                latency.Record(Stopwatch.GetElapsedTime(frame.CaptureTimestamp).TotalSeconds, new("feed", _tally.Feed), new("protocol", _tally.Protocol));
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _tally.Remove(this);
                _owner.Leave(_feed, _tally);
            }
        }
    }
}
