using System.Net.Security;
using Microsoft.Extensions.Logging;
using Osprey.Feeds;

namespace Osprey.Routing;

/// <summary>
/// The destination rules and their outgoing clients (vw's rwc hub): one reconnecting WebSocket client per rule
/// id, pushing a stream's frames to a relay.
/// </summary>
/// <remarks>
/// <para>Ownership: the registry owns its clients. Replacing or removing a rule stops its client at once; the
/// client closes its connection (1000) and ends within <see cref="CloseTimeout"/> or so, whatever the relay does.
/// <see cref="DisposeAsync"/> stops every client and waits for them.</para>
/// <para>Thread safety: every member may be called from any thread at any time (REST requests arrive
/// concurrently); the rules are kept under one lock and read as snapshots. vw crashed on exactly this.</para>
/// <para>Memory: a client holds a bounded queue of frame references while connected
/// (<see cref="QueueCapacity"/>) and none while disconnected; a slow relay costs counted drops, never memory.</para>
/// </remarks>
public sealed class DestinationRegistry : IAsyncDisposable
{
    /// <summary>The stream name of rules that carry vw's WS/JSON control API instead of media.</summary>
    public const string ControlStream = "api";

    /// <summary>A connection that stayed open this long resets the backoff to its first delay.</summary>
    public static readonly TimeSpan StoodAfter = TimeSpan.FromSeconds(5);

    /// <summary>How long a dial may take before it counts as failed.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long the relay has to answer the token.</summary>
    public static readonly TimeSpan AuthorisationTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often a stream that does not exist (or ended) is looked up again while connected.</summary>
    public static readonly TimeSpan ResolveInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a stopping client waits for its last send and the close handshake before aborting.</summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>Ping interval, and how long a pong may take before the connection counts as dead.</summary>
    public static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(15);

    private readonly Func<string, Feed?> _resolveFeed;
    private readonly Func<string, string?>? _handleControl;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DestinationClient> _clients = new(StringComparer.Ordinal);
    private readonly HashSet<DestinationClient> _live = [];
    private Task? _disposal;
    private long _refused;

    /// <summary>The default of <see cref="MaxDestinations"/>: each rule is a connection dialled again and again.</summary>
    public const int DefaultMaxDestinations = 32;

    /// <summary>The most destination rules clients may make; a new id past it is refused (<see cref="RuleRefusal.Limit"/>).</summary>
    public int MaxDestinations
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = DefaultMaxDestinations;

    /// <summary>Rules refused (over the limit, or a target that is not allowed).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Creates an empty registry.</summary>
    /// <param name="resolveFeed">
    /// The feed to push for a stream name now, or null when there is none yet. A client asks again when it gets
    /// null or its feed ends (<see cref="Feed.IsCompleted"/>), so a stream may be deleted and made again.
    /// </param>
    /// <param name="handleControl">
    /// For rules whose stream is <see cref="ControlStream"/>: each text message from the relay is passed in and a
    /// non-null result is sent back as text (vw's WS/JSON API). Null: such rules only connect.
    /// </param>
    /// <param name="loggers">Where connects and disconnects are logged.</param>
    /// <param name="time">The clock for backoff and timeouts; the system clock when null.</param>
    public DestinationRegistry(Func<string, Feed?> resolveFeed, Func<string, string?>? handleControl, ILoggerFactory loggers, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(resolveFeed);
        ArgumentNullException.ThrowIfNull(loggers);
        _resolveFeed = resolveFeed;
        _handleControl = handleControl;
        _logger = loggers.CreateLogger("Osprey.Routing.Destinations");
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The most frames queued for a connected client before it skips to the next key frame.</summary>
    public int QueueCapacity
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 2);
            field = value;
        }
    } = 90;

    /// <summary>The most bytes of frames queued for a connected client before it skips to the next key frame.</summary>
    public long QueueBytes
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = 8L * 1024 * 1024;

    /// <summary>
    /// A relay that takes nothing of a send for this long (it stopped reading, its network is gone) is disconnected and
    /// dialled again (counted in <see cref="DestinationStatus.SendTimeouts"/>); zero: never.
    /// </summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How <c>wss://</c> relays' certificates are checked (extra CAs, pins); the system's CAs by default.</summary>
    public RelayTrust Trust { get; init; } = RelayTrust.System;

    /// <summary>Replaces the check of a <c>wss://</c> relay's certificate altogether (tests with a self-signed one).</summary>
    internal RemoteCertificateValidationCallback? CertificateValidation { get; init; }

    /// <summary>
    /// Which targets rules may have and clients may dial (checked when a client adds a rule and at every dial, on
    /// every address the host resolves to). <see cref="DestinationTargetPolicy.Unrestricted"/> unless given: the
    /// server always gives its deny-by-default policy.
    /// </summary>
    public DestinationTargetPolicy TargetPolicy { get; init; } = DestinationTargetPolicy.Unrestricted;

    /// <summary>A snapshot of the rules, by id.</summary>
    public IReadOnlyDictionary<string, DestinationRule> Rules
    {
        get
        {
            lock (_lock)
            {
                return _clients.ToDictionary(pair => pair.Key, pair => pair.Value.Rule, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>What each rule's client is doing, ordered by id.</summary>
    public IReadOnlyList<DestinationStatus> Status
    {
        get
        {
            DestinationClient[] clients;
            lock (_lock)
            {
                clients = [.. _clients.Values];
            }

            return [.. clients.Select(client => client.GetStatus()).OrderBy(status => status.Id, StringComparer.Ordinal)];
        }
    }

    /// <summary>Clients whose tasks have not finished, stopping ones included (for leak checks).</summary>
    public int ActiveClients
    {
        get
        {
            lock (_lock)
            {
                return _live.Count;
            }
        }
    }

    /// <summary>
    /// Adds <paramref name="rule"/>, or replaces the rule with the same id: the old client is torn down and the
    /// new one dials. Never throws for a bad URL: that shows as the client's <see cref="DestinationStatus.LastError"/>.
    /// </summary>
    /// <returns>The rule as stored (missing strings become empty, as vw's zero values).</returns>
    public DestinationRule Set(DestinationRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        // JSON binding can leave nulls in a record declared non-null; vw stored Go's zero value, "".
        var stored = new DestinationRule(rule.Id ?? "", rule.Stream ?? "", rule.Destination ?? "", rule.Token ?? "") { Pin = RelayTrust.NormalizePin(rule.Pin) };
        var settings = new DestinationSettings(QueueCapacity, QueueBytes, SendTimeout, Trust, CertificateValidation, TargetPolicy);
        var client = new DestinationClient(stored, _resolveFeed, _handleControl, _logger, _time, settings, OnFinished);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposal is not null, this);
            if (_clients.TryGetValue(stored.Id, out var old))
            {
                old.Stop();
            }

            _clients[stored.Id] = client;
            _live.Add(client);
            client.Start();
        }

        return stored;
    }

    /// <summary>
    /// <see cref="Set"/> for rules that come from clients: a new id past <see cref="MaxDestinations"/> is refused
    /// instead of dialled.
    /// </summary>
    /// <returns><see cref="RuleRefusal.None"/> with the rule as stored, or why it was not, in plain words.</returns>
    public RuleRefusal TrySet(DestinationRule rule, out DestinationRule stored, out string? error)
    {
        ArgumentNullException.ThrowIfNull(rule);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposal is not null, this);
            if (!_clients.ContainsKey(rule.Id ?? "") && _clients.Count >= MaxDestinations)
            {
                Interlocked.Increment(ref _refused);
                stored = rule;
                error = $"This server has {MaxDestinations} destinations already (--max-destinations); delete one or re-POST an existing id.";
                return RuleRefusal.Limit;
            }

            if (rule.Pin is { Length: > 0 } pin && RelayTrust.NormalizePin(pin) is null)
            {
                Interlocked.Increment(ref _refused);
                stored = rule;
                error = $"The pin '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed).";
                return RuleRefusal.Invalid;
            }

            if (TargetPolicy.CheckRule(rule with { Token = rule.Token ?? "" }) is { } notAllowed)
            {
                Interlocked.Increment(ref _refused);
                stored = rule;
                error = $"Refused: {notAllowed}.";
                return RuleRefusal.NotAllowed;
            }

            // Set enters the same (re-entrant) lock: the count check and the add are one step.
            stored = Set(rule);
        }

        error = null;
        return RuleRefusal.None;
    }

    /// <summary>The rule with id <paramref name="id"/>, if there is one.</summary>
    public bool TryGet(string id, out DestinationRule rule)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_lock)
        {
            if (_clients.TryGetValue(id, out var client))
            {
                rule = client.Rule;
                return true;
            }
        }

        rule = null!;
        return false;
    }

    /// <summary>Removes the rule with id <paramref name="id"/> and stops its client; false when there was none.</summary>
    public bool Remove(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_lock)
        {
            if (!_clients.Remove(id, out var client))
            {
                return false;
            }

            client.Stop();
            return true;
        }
    }

    /// <summary>Removes every rule and stops every client; returns how many there were.</summary>
    public int RemoveAll()
    {
        lock (_lock)
        {
            var count = _clients.Count;
            foreach (var client in _clients.Values)
            {
                client.Stop();
            }

            _clients.Clear();
            return count;
        }
    }

    /// <summary>Stops every client and waits until each has closed its connection and ended.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposal is null)
            {
                foreach (var client in _clients.Values)
                {
                    client.Stop();
                }

                _clients.Clear();
                _disposal = Task.WhenAll([.. _live.Select(client => client.Completion)]);
            }

            return new ValueTask(_disposal);
        }
    }

    private void OnFinished(DestinationClient client)
    {
        lock (_lock)
        {
            _live.Remove(client);
        }
    }
}
