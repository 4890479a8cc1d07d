namespace Osprey.Routing;

/// <summary>
/// A destination rule (vw's <c>/api/destinations</c>): push the bytes of stream <paramref name="Stream"/> to the
/// WebSocket URL <paramref name="Destination"/> (a relay's <c>ws://relay:8888/in/video0</c>), one outgoing client
/// per <paramref name="Id"/>.
/// </summary>
/// <param name="Id">The rule's name; setting a rule with the same id replaces it.</param>
/// <param name="Stream">The feed or stream pushed, or <see cref="DestinationRegistry.ControlStream"/> for the WS/JSON control API.</param>
/// <param name="Destination">A <c>ws://</c> or <c>wss://</c> URL without user information.</param>
/// <param name="Token">When not empty, sent as the first text message; the relay must answer that it is authorised.</param>
public sealed record DestinationRule(string Id, string Stream, string Destination, string Token)
{
    /// <summary>
    /// An Osprey extension: the SHA-256 of the one certificate this rule's <c>wss://</c> relay may present (instead of
    /// the server's <c>--destination-pin</c>s or a CA check); null or empty for none. See <see cref="RelayTrust"/>.
    /// </summary>
    public string? Pin { get; init; }
}

/// <summary>Where a destination's client is in its life.</summary>
public enum DestinationState
{
    /// <summary>Dialling for the first time.</summary>
    Connecting,

    /// <summary>Connected (and authorised when the rule has a token); frames are being pushed.</summary>
    Connected,

    /// <summary>After a failure or a lost connection: waiting out a backoff delay, or dialling again.</summary>
    Reconnecting,

    /// <summary>The rule was removed or replaced; the client has ended or is closing.</summary>
    Stopped,
}

/// <summary>What one destination's client is doing, for the API.</summary>
/// <param name="Id">The rule's id.</param>
/// <param name="Stream">The stream pushed.</param>
/// <param name="Destination">The URL dialled.</param>
/// <param name="State">Connecting, connected, reconnecting or stopped.</param>
/// <param name="BytesSent">Bytes of binary and control messages sent, over all connections.</param>
/// <param name="MessagesSent">Messages sent (frames, stream headers, control replies), over all connections.</param>
/// <param name="Drops">
/// Frames of the stream that were not sent: those a slow connection skipped (to resume at a key frame) and those
/// published while the relay was unreachable, counted from the first frame sent from each feed.
/// </param>
/// <param name="Reconnects">How many times the client dialled again after a failure or a lost connection.</param>
/// <param name="LastError">The last failure in plain words; null until something failed.</param>
/// <param name="RetryInSeconds">While waiting out a backoff delay, the seconds left; otherwise null.</param>
public sealed record DestinationStatus(
    string Id,
    string Stream,
    string Destination,
    DestinationState State,
    long BytesSent,
    long MessagesSent,
    long Drops,
    long Reconnects,
    string? LastError,
    double? RetryInSeconds)
{
    /// <summary>Messages received from the relay (ignored unless the rule carries the control API).</summary>
    public long MessagesReceived { get; init; }

    /// <summary>Connections dropped because the relay took nothing of a send for the send timeout.</summary>
    public long SendTimeouts { get; init; }
}
