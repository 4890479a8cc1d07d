using Osprey.Feeds;

namespace Osprey.Server.Endpoints;

/// <summary>The HTTP status of each refusal, the same on every route that claims a feed name.</summary>
internal static class Refusals
{
    /// <summary>404 for a name that cannot exist, 409 for one taken or shadowing another's URL, 503 while stopping.</summary>
    public static int StatusOf(ClaimRefusal refusal) => refusal switch
    {
        ClaimRefusal.InvalidName => StatusCodes.Status404NotFound,
        ClaimRefusal.Shadowing or ClaimRefusal.Taken => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    /// <summary>Why a silent publisher was let go, for logs.</summary>
    public static string Silent(bool received, FeedRegistry registry) => received
        ? $"sent nothing for {registry.PublisherIdleTimeout.TotalSeconds:0.#} s (idle timeout)"
        : $"sent no bytes within {registry.PublisherFirstBytesTimeout.TotalSeconds:0.#} s of connecting (first-bytes timeout)";
}
