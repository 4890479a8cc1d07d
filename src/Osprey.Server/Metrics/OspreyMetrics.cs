using System.Diagnostics.Metrics;
using Osprey.Feeds;
using Osprey.Relay;
using Osprey.Routing;
using Osprey.Server.Configuration;
using Osprey.Server.Http;
using Osprey.Server.Outputs;
using Osprey.Server.Security;
using Osprey.Sources;
using Osprey.Transforms;

namespace Osprey.Server.Metrics;

/// <summary>
/// The <c>Osprey</c> meter: what /metrics shows. Almost every instrument is observable and reads, at scrape time,
/// the counters /api/feeds, /api/relay and /healthz already show, so the per-frame path pays nothing for them; the
/// two histograms are recorded once per viewer (join to first frame) and once per frame and protocol (capture to
/// send).
/// </summary>
/// <remarks>
/// <para>Labels are bounded: <c>feed</c> by the feed limits (sources, <c>--max-feeds</c>, <c>--max-streams</c>),
/// <c>protocol</c>, <c>cause</c>, <c>state</c> and <c>view</c> by the code, <c>destination</c> by
/// <c>--max-destinations</c>. Nothing is labelled per connection, per client address or per relay topic (topic
/// names are any path a client opens).</para>
/// <para>Owns its <see cref="Meter"/> (made by the host's <see cref="IMeterFactory"/>, which disposes it).</para>
/// </remarks>
internal sealed class OspreyMetrics
{
    /// <summary>The meter's name, the one the exporter listens to.</summary>
    public const string MeterName = "Osprey";

    // Seconds: frames are sent within milliseconds; a second or more is a stalled viewer or encoder start-up.
    private static readonly double[] s_latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    // A first frame waits for a key frame (seconds apart) or an encoder starting.
    private static readonly double[] s_joinBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

    private readonly FeedRegistry _feeds;
    private readonly FeedViews _views;
    private readonly SourceHost _sources;
    private readonly SourceCatalog _catalog;
    private readonly ViewerAdmission _viewers;

    public OspreyMetrics(
        IMeterFactory meters,
        FeedRegistry feeds,
        FeedViews views,
        SourceHost sources,
        StreamRegistry streams,
        DestinationRegistry destinations,
        RelayHub hub,
        ViewerAdmission viewers,
        ConnectionLimiter connections,
        AccessPolicy access,
        SourceCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(meters);
        _feeds = feeds;
        _views = views;
        _sources = sources;
        _catalog = catalog;
        _viewers = viewers;
        var meter = meters.Create(MeterName);

        // Feeds: what comes in.
        meter.CreateObservableCounter("osprey_feed_frames", () => PerFeed(f => f.Frames), "{frame}", "Frames published into the feed by its source or publisher.");
        meter.CreateObservableCounter("osprey_feed_received", () => PerFeed(f => f.Bytes), "By", "Bytes of the frames published into the feed.");
        meter.CreateObservableCounter("osprey_feed_drops", ReadDrops, "{frame}", "Frames a feed's readers missed, by cause: slow_reader (a reader skipped frames it was too slow for), send_timeout (viewers dropped because their socket took nothing for --send-timeout).");
        meter.CreateObservableCounter("osprey_source_restarts", ReadRestarts, "{restart}", "Times the feed's source was restarted.");
        meter.CreateObservableGauge("osprey_feed_state", ReadStates, "{feed}", "1 for the state the feed is in, 0 for the others.");
        meter.CreateObservableGauge("osprey_feed_publisher_connected", ReadPublishers, "{publisher}", "1 while a publisher (an ingest or /in/ connection) holds the feed, else 0; only feeds without a source.");
        meter.CreateObservableGauge("osprey_feed_origin", ReadOrigins, "{feed}", "1 for each feed, labelled with where it comes from: flag (--source), config (the config file), api (the sources API or its state file), publisher.");

        // Publishers: the life cycle of the feeds they make.
        meter.CreateObservableGauge("osprey_publisher_feeds", () => feeds.PublisherFeeds, "{feed}", "Feeds made by publishers that exist now (at most --max-feeds).");
        meter.CreateObservableCounter("osprey_publisher_feeds_expired", () => feeds.RemovedFeeds, "{feed}", "Publisher feeds removed after --publisher-feed-ttl with no publisher and no viewer.");
        meter.CreateObservableCounter("osprey_publishers_timed_out", () => feeds.TimedOutPublishers, "{publisher}", "Publishers let go for sending nothing within --publisher-first-bytes-timeout or --publisher-idle-timeout.");
        meter.CreateObservableCounter("osprey_publishers_taken_over", () => feeds.TakenOverPublishers, "{publisher}", "Publishers disconnected because another took their feed over (--publisher-takeover).");

        // Views: the encoders and muxers, running only while watched.
        meter.CreateObservableCounter("osprey_view_runs", () => PerView(v => v.Runs), "{run}", "Times a view's work (an encoder, a muxer) was started by a first viewer after none.");
        meter.CreateObservableCounter("osprey_view_frames", () => PerView(v => v.Output.Frames), "{frame}", "Frames a view made (encoded JPEGs or H.264 access units, muxed fragments).");
        meter.CreateObservableGauge("osprey_view_running", () => PerView(v => v.IsRunning ? 1 : 0), "{view}", "1 while the view's work runs, else 0.");

        // Outputs: what goes out, per protocol.
        meter.CreateObservableGauge("osprey_viewers", () => PerOutput(t => t.Viewers), "{viewer}", "Viewers connected, by feed and output protocol.");
        meter.CreateObservableCounter("osprey_output_frames", () => PerOutput(t => t.Frames), "{frame}", "Frames sent to viewers, by feed and output protocol (each viewer's sends count).");
        meter.CreateObservableCounter("osprey_output_sent", () => PerOutput(t => t.Bytes), "By", "Frame bytes sent to viewers, without the protocols' own headers, by feed and output protocol.");
        meter.CreateObservableCounter("osprey_viewers_refused", () => viewers.Refused, "{viewer}", "Viewers refused with 503 because --max-viewers or --max-viewers-per-feed was reached.");
        viewers.CaptureToSend = meter.CreateHistogram("osprey_capture_to_send", "s", "From a frame's capture (or arrival) to the end of its first send to a viewer, once per frame and protocol.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_latencyBuckets });
        viewers.JoinToFirstFrame = meter.CreateHistogram("osprey_join_to_first_frame", "s", "From a viewer's admission to the end of the send of its first frame.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_joinBuckets });

        // vw: streams and destinations.
        meter.CreateObservableGauge("osprey_streams", () => streams.Streams.Count, "{stream}", "vw stream rules.");
        meter.CreateObservableGauge("osprey_destination_state", () => ReadDestinationStates(destinations), "{destination}", "1 for the state the destination is in, 0 for the others.");
        meter.CreateObservableCounter("osprey_destination_sent", () => PerDestination(destinations, d => d.BytesSent), "By", "Bytes pushed to the destination's relay.");
        meter.CreateObservableCounter("osprey_destination_messages", () => PerDestination(destinations, d => d.MessagesSent), "{message}", "Messages pushed to the destination's relay.");
        meter.CreateObservableCounter("osprey_destination_drops", () => PerDestination(destinations, d => d.Drops), "{frame}", "Frames not pushed: published while disconnected or skipped by a slow relay.");
        meter.CreateObservableCounter("osprey_destination_reconnects", () => PerDestination(destinations, d => d.Reconnects), "{reconnect}", "Times the destination dialled again after a failure or a lost connection.");

        // The relay's topics: totals only, since topic names are whatever path a client opens.
        meter.CreateObservableGauge("osprey_relay_topics", () => hub.Topics.Count, "{topic}", "Relay topics with at least one client.");
        meter.CreateObservableGauge("osprey_relay_clients", () => hub.Clients, "{client}", "Clients joined to relay topics.");
        meter.CreateObservableCounter("osprey_relay_messages", () => hub.Messages, "{message}", "Messages relayed between topic clients.");
        meter.CreateObservableCounter("osprey_relay_message_drops", () => hub.Drops, "{message}", "Topic messages dropped for a client whose queue was full.");
        meter.CreateObservableCounter("osprey_relay_client_drops", () => hub.ClientsDropped, "{client}", "Topic clients dropped for a stalled send or silence.");
        meter.CreateObservableCounter("osprey_relay_refused", () => hub.Refused, "{client}", "Topic clients refused because --max-topics or the clients per topic were reached.");

        // Connections and access.
        meter.CreateObservableGauge("osprey_connections", () => connections.Open, "{connection}", "TCP connections open.");
        meter.CreateObservableCounter("osprey_connections_refused", () => connections.Refused, "{connection}", "Connections refused with 503 because --max-connections or the per-address cap was reached.");
        meter.CreateObservableCounter("osprey_credentials_refused", () => access.Refusals, "{request}", "Requests whose credentials (password, token) were refused.");
        meter.CreateObservableCounter("osprey_publishers_refused", () => feeds.RefusedFeeds, "{publisher}", "Publishers refused because --max-feeds publisher feeds existed.");
    }

    private IEnumerable<Measurement<long>> PerFeed(Func<Feed, long> read)
    {
        foreach (var feed in _feeds.Feeds)
        {
            yield return new(read(feed), new KeyValuePair<string, object?>("feed", feed.Name));
        }
    }

    private IEnumerable<Measurement<long>> ReadDrops()
    {
        foreach (var feed in _feeds.Feeds)
        {
            // A viewer reads the feed or one of its views: its drops are the feed's, as /api/feeds counts them.
            var views = _views.ViewsOf(feed.Name).ToList();
            yield return new(feed.Drops + views.Sum(v => v.Output.Drops), new("feed", feed.Name), new("cause", "slow_reader"));
            yield return new(feed.ViewersDropped + views.Sum(v => v.Output.ViewersDropped), new("feed", feed.Name), new("cause", "send_timeout"));
        }
    }

    private IEnumerable<Measurement<long>> ReadRestarts()
    {
        foreach (var feed in _feeds.Feeds)
        {
            if (_sources.TryGetSupervisor(feed.Name, out var supervisor))
            {
                yield return new(supervisor.Restarts, new KeyValuePair<string, object?>("feed", feed.Name));
            }
        }
    }

    private IEnumerable<Measurement<int>> ReadStates()
    {
        foreach (var feed in _feeds.Feeds)
        {
            var current = feed.State;
            foreach (var state in FeedStateNames.All)
            {
                yield return new(state == current ? 1 : 0, new("feed", feed.Name), new("state", state.ToApiName()));
            }
        }
    }

    private IEnumerable<Measurement<int>> ReadPublishers()
    {
        foreach (var feed in _feeds.Feeds)
        {
            if (!_sources.TryGetSupervisor(feed.Name, out _))
            {
                yield return new(_feeds.HasPublisher(feed.Name) ? 1 : 0, new KeyValuePair<string, object?>("feed", feed.Name));
            }
        }
    }

    private IEnumerable<Measurement<int>> ReadOrigins()
    {
        foreach (var feed in _feeds.Feeds)
        {
            var origin = !_sources.TryGetSupervisor(feed.Name, out _) ? "publisher" : (_catalog.Find(feed.Name)?.Origin ?? SourceOrigin.Flag).ToApiName();
            yield return new(1, new("feed", feed.Name), new("origin", origin));
        }
    }

    private IEnumerable<Measurement<long>> PerView(Func<LazyFeed, long> read)
    {
        foreach (var feed in _feeds.Feeds)
        {
            foreach (var view in _views.ViewsOf(feed.Name))
            {
                yield return new(read(view), new("feed", feed.Name), new("view", view.PartName));
            }
        }
    }

    private IEnumerable<Measurement<long>> PerOutput(Func<OutputTally, long> read)
    {
        // Scrapes prune what the viewers of removed feeds left, so the series stay as bounded as the feeds.
        _viewers.ForgetGone(name => _feeds.TryGet(name, out _));
        foreach (var tally in _viewers.Tallies)
        {
            yield return new(read(tally), new("feed", tally.Feed), new("protocol", tally.Protocol));
        }
    }

    private static IEnumerable<Measurement<int>> ReadDestinationStates(DestinationRegistry destinations)
    {
        foreach (var status in destinations.Status)
        {
            foreach (var state in Enum.GetValues<DestinationState>())
            {
                yield return new(state == status.State ? 1 : 0, new("destination", status.Id), new("state", DestinationStateName(state)));
            }
        }
    }

    private static IEnumerable<Measurement<long>> PerDestination(DestinationRegistry destinations, Func<DestinationStatus, long> read)
    {
        foreach (var status in destinations.Status)
        {
            yield return new(read(status), new KeyValuePair<string, object?>("destination", status.Id));
        }
    }

    private static string DestinationStateName(DestinationState state) => state.ToString().ToLowerInvariant();
}
