namespace Osprey.Server.Security;

/// <summary>What a client may do on a path (MediaMTX's actions, named for Osprey's surfaces).</summary>
[Flags]
public enum OspreyAction
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Watch a feed or stream: viewer WebSockets, MJPEG, snapshots, <c>/out/</c>, the feed API's reads.</summary>
    Read = 1,

    /// <summary>Publish into a feed: <c>/ts/</c>, <c>/in/</c>, sending on a relay topic.</summary>
    Publish = 2,

    /// <summary>Change the server: vw's streams and destinations, <c>/ws/api</c>, restarts, controls, the relay status.</summary>
    Api = 4,

    /// <summary>Read <c>/metrics</c>.</summary>
    Metrics = 8,

    /// <summary>Every action.</summary>
    All = Read | Publish | Api | Metrics,
}

/// <summary>Parses and prints <see cref="OspreyAction"/> lists such as <c>read,publish</c>.</summary>
public static class OspreyActions
{
    /// <summary>Parses a comma-separated list of read, publish, api, metrics (or all); false on anything else.</summary>
    public static bool TryParse(string text, out OspreyAction actions)
    {
        actions = OspreyAction.None;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var action = part.ToLowerInvariant() switch
            {
                "read" => OspreyAction.Read,
                "publish" => OspreyAction.Publish,
                "api" => OspreyAction.Api,
                "metrics" => OspreyAction.Metrics,
                "all" => OspreyAction.All,
                _ => OspreyAction.None,
            };
            if (action == OspreyAction.None)
            {
                actions = OspreyAction.None;
                return false;
            }

            actions |= action;
        }

        return true;
    }

    /// <summary>The list in the order read, publish, api, metrics, e.g. <c>read,publish</c>.</summary>
    public static string Format(OspreyAction actions)
    {
        var names = new List<string>(4);
        if ((actions & OspreyAction.Read) != 0)
        {
            names.Add("read");
        }

        if ((actions & OspreyAction.Publish) != 0)
        {
            names.Add("publish");
        }

        if ((actions & OspreyAction.Api) != 0)
        {
            names.Add("api");
        }

        if ((actions & OspreyAction.Metrics) != 0)
        {
            names.Add("metrics");
        }

        return names.Count == 0 ? "none" : string.Join(',', names);
    }
}
