using Osprey.Feeds;
using Osprey.Media;

namespace Osprey.Server.Outputs;

/// <summary>
/// What the viewers of one feed over one protocol were sent: the viewers now, the frames and bytes of those that
/// left, and the leases of those still here, summed when /metrics asks (<see cref="Frames"/>, <see cref="Bytes"/>).
/// </summary>
/// <remarks>Viewers, retired counts and the lease set change under <see cref="ViewerAdmission"/>'s lock or this
/// tally's own; the frame sample is lock-free.</remarks>
internal sealed class OutputTally
{
    private readonly HashSet<ViewerAdmission.Lease> _leases = [];
    private Feed? _sampledFeed;
    private long _sampledSequence = -1;

    internal OutputTally(string feed, string protocol)
    {
        Feed = feed;
        Protocol = protocol;
    }

    /// <summary>The feed's name (views of a feed carry its name).</summary>
    public string Feed { get; }

    /// <summary>The output protocol (<see cref="OutputProtocol"/>).</summary>
    public string Protocol { get; }

    /// <summary>Viewers now; changed under the admission's lock.</summary>
    public int Viewers { get; internal set; }

    internal long RetiredFrames { get; set; }

    internal long RetiredBytes { get; set; }

    /// <summary>Frames sent to this feed's viewers over this protocol, those gone included.</summary>
    public long Frames
    {
        get
        {
            lock (_leases)
            {
                return RetiredFrames + _leases.Sum(l => l.Frames);
            }
        }
    }

    /// <summary>Frame bytes sent, those gone included.</summary>
    public long Bytes
    {
        get
        {
            lock (_leases)
            {
                return RetiredBytes + _leases.Sum(l => l.Bytes);
            }
        }
    }

    internal void Add(ViewerAdmission.Lease lease)
    {
        lock (_leases)
        {
            _leases.Add(lease);
        }
    }

    // Removing the lease and adding its counts to the retired ones happen under the same lock as the sums, so a
    // scrape never counts a leaving viewer twice or not at all.
    internal void Remove(ViewerAdmission.Lease lease)
    {
        lock (_leases)
        {
            _leases.Remove(lease);
            RetiredFrames += lease.Frames;
            RetiredBytes += lease.Bytes;
        }
    }

    /// <summary>True for the first send of a frame newer than the last sampled one of <paramref name="feed"/>.</summary>
    internal bool TakeSample(Feed feed, long sequence)
    {
        if (!ReferenceEquals(Volatile.Read(ref _sampledFeed), feed))
        {
            // Another feed object under the name (a publisher's feed made again): its sequence starts over.
            Volatile.Write(ref _sampledFeed, feed);
            Volatile.Write(ref _sampledSequence, -1);
        }

        var last = Volatile.Read(ref _sampledSequence);
        return sequence > last && Interlocked.CompareExchange(ref _sampledSequence, sequence, last) == last;
    }
}

/// <summary>The output protocols /metrics labels viewers with.</summary>
internal static class OutputProtocol
{
    public const string Raw = "raw";
    public const string Jpeg = "jpeg";
    public const string Mjpeg = "mjpeg";
    public const string Mp4 = "mp4";
    public const string H264 = "h264";
    public const string BerryMse = "berrymse";
    public const string Ts = "ts";
    public const string Relay = "relay";
    public const string Rtsp = "rtsp";

    /// <summary>The protocol of a frame-per-message viewer of <paramref name="feed"/>: its format's.</summary>
    public static string Of(Feed feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        return feed.Info.Format switch
        {
            MediaFormat.Jpeg => Jpeg,
            MediaFormat.MpegTs => Ts,
            _ => Raw,
        };
    }
}
