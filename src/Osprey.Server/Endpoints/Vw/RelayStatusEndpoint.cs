using System.Text.Json;
using Osprey.Feeds;
using Osprey.Relay;
using Osprey.Routing;
using Osprey.Server.Outputs;
using Osprey.Server.Security;

namespace Osprey.Server.Endpoints.Vw;

/// <summary>
/// <c>GET /api/relay</c>: the live state of streams, destinations, publishers and relay topics, for the page and
/// for operators (vw had no way to see whether a destination was connected).
/// </summary>
internal static class RelayStatusEndpoint
{
    public static void MapRelayStatusEndpoint(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<FeedRegistry>();
        var streams = app.Services.GetRequiredService<StreamRegistry>();
        var destinations = app.Services.GetRequiredService<DestinationRegistry>();
        var hub = app.Services.GetRequiredService<RelayHub>();
        var viewers = app.Services.GetRequiredService<ViewerAdmission>();
        app.MapGet("/api/relay", async context =>
        {
            var body = VwJson.Serialize(w => Write(w, registry, streams, destinations, hub, viewers));
            context.Response.ContentType = "application/json";
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.Body.WriteAsync(body);
        }).Requires(OspreyAction.Api);
    }

    private static void Write(Utf8JsonWriter w, FeedRegistry registry, StreamRegistry streams, DestinationRegistry destinations, RelayHub hub, ViewerAdmission viewers)
    {
        w.WriteStartObject();
        w.WriteStartArray("streams");
        foreach (var stream in streams.Streams)
        {
            w.WriteStartObject();
            w.WriteString("name", stream.Name);
            w.WritePropertyName("feeds");
            VwJson.WriteStringArrayOrNull(w, stream.FeedNames);
            w.WriteNumber("viewers", stream.Output.ReaderCount);
            w.WriteNumber("frames", stream.Output.Frames);
            w.WriteNumber("bytes", stream.Output.Bytes);
            w.WriteNumber("skippedInputFrames", stream.SkippedInputFrames);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("destinations");
        foreach (var status in destinations.Status)
        {
            w.WriteStartObject();
            w.WriteString("id", status.Id);
            w.WriteString("stream", status.Stream);
            w.WriteString("destination", status.Destination);
            w.WriteString("state", status.State.ToString().ToLowerInvariant());
            w.WriteNumber("bytesSent", status.BytesSent);
            w.WriteNumber("messagesSent", status.MessagesSent);
            w.WriteNumber("drops", status.Drops);
            w.WriteNumber("reconnects", status.Reconnects);
            w.WriteNumber("sendTimeouts", status.SendTimeouts);
            if (status.LastError is null)
            {
                w.WriteNull("lastError");
            }
            else
            {
                w.WriteString("lastError", status.LastError);
            }

            if (status.RetryInSeconds is { } retry)
            {
                w.WriteNumber("retryInSeconds", Math.Round(retry, 1));
            }
            else
            {
                w.WriteNull("retryInSeconds");
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("publishers");
        foreach (var feed in registry.Feeds)
        {
            if (registry.TryGetPublisher(feed.Name, out var claim))
            {
                w.WriteStartObject();
                w.WriteString("feed", feed.Name);
                w.WriteString("publisher", claim.Publisher);
                w.WriteNumber("bytes", feed.Bytes);
                w.WriteEndObject();
            }
        }

        w.WriteEndArray();
        w.WriteStartObject("topics");
        foreach (var (topic, clients) in hub.Topics)
        {
            w.WriteNumber(topic, clients);
        }

        w.WriteEndObject();
        w.WriteNumber("topicMessages", hub.Messages);
        w.WriteNumber("topicDrops", hub.Drops);
        w.WriteNumber("topicClientsDropped", hub.ClientsDropped);
        // For leak checks (vw leaked goroutines per added stream): tasks that should match the rules.
        w.WriteNumber("streamInputTasks", streams.ActivePumps);
        w.WriteNumber("destinationClients", destinations.ActiveClients);
        // Every bound on what clients can make, how much of it is in use, and how often it refused.
        w.WriteStartObject("limits");
        WriteLimit(w, "feeds", registry.MaxPublisherFeeds, registry.PublisherFeeds, registry.RefusedFeeds);
        w.WriteNumber("removed", registry.RemovedFeeds);
        w.WriteNumber("ttlSeconds", registry.PublisherFeedTtl == Timeout.InfiniteTimeSpan ? 0 : registry.PublisherFeedTtl.TotalSeconds);
        w.WriteEndObject();
        w.WriteStartObject("publishers");
        w.WriteNumber("timedOut", registry.TimedOutPublishers);
        w.WriteNumber("takenOver", registry.TakenOverPublishers);
        w.WriteNumber("refused", registry.RefusedPublishers);
        w.WriteBoolean("takeover", registry.PublisherTakeover);
        w.WriteEndObject();
        WriteLimit(w, "streams", streams.MaxStreams, streams.Streams.Count, streams.Refused);
        w.WriteEndObject();
        WriteLimit(w, "destinations", destinations.MaxDestinations, destinations.Rules.Count, destinations.Refused);
        w.WriteEndObject();
        WriteLimit(w, "topics", hub.MaxTopics, hub.Topics.Count, hub.Refused);
        w.WriteNumber("maxClientsPerTopic", hub.MaxClientsPerTopic);
        w.WriteEndObject();
        WriteLimit(w, "viewers", viewers.MaxTotal, viewers.Viewers, viewers.Refused);
        w.WriteNumber("maxPerFeed", viewers.MaxPerFeed);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Opens <c>"name": {"max":…,"now":…,"refused":…</c>; the caller may add fields and closes it.</summary>
    private static void WriteLimit(Utf8JsonWriter w, string name, int max, int now, long refused)
    {
        w.WriteStartObject(name);
        w.WriteNumber("max", max);
        w.WriteNumber("now", now);
        w.WriteNumber("refused", refused);
    }
}
