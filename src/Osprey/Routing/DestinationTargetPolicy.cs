using System.Net;
using System.Net.Sockets;

namespace Osprey.Routing;

/// <summary>
/// Which hosts destinations may dial. Without it any client that may add a destination could make Osprey connect
/// to its loopback or its LAN (a port scanner through <c>lastError</c>). The server's policy denies loopback,
/// link-local, private, shared (CGNAT), multicast and unspecified addresses unless an <c>--allow-destination</c>
/// entry (a CIDR, an address or a host name) allows them; every address a name resolves to is checked at dial time.
/// </summary>
public sealed class DestinationTargetPolicy
{
    private static readonly IPNetwork[] s_denied =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.168.0.0/16"), IPNetwork.Parse("224.0.0.0/3"),
        IPNetwork.Parse("::/128"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"), IPNetwork.Parse("ff00::/8"),
    ];

    private readonly IPNetwork[] _allowedNetworks;
    private readonly HashSet<string> _allowedHosts;
    private readonly bool _unrestricted;

    private DestinationTargetPolicy(IPNetwork[] networks, HashSet<string> hosts, bool allowInsecureToken, bool unrestricted)
    {
        _allowedNetworks = networks;
        _allowedHosts = hosts;
        AllowInsecureToken = allowInsecureToken;
        _unrestricted = unrestricted;
    }

    /// <summary>Any host and tokens over ws:// (the engine's default, for embedding and tests; the server never uses it).</summary>
    public static DestinationTargetPolicy Unrestricted { get; } = new([], [], allowInsecureToken: true, unrestricted: true);

    /// <summary>True when a rule's token may go over plain <c>ws://</c> (<c>--allow-insecure-token</c>).</summary>
    public bool AllowInsecureToken { get; }

    /// <summary>The deny-by-default policy with <paramref name="allowed"/> entries (CIDR, address or host name) let through.</summary>
    /// <exception cref="FormatException">An entry is neither.</exception>
    public static DestinationTargetPolicy Create(IEnumerable<string> allowed, bool allowInsecureToken)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        var networks = new List<IPNetwork>();
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in allowed)
        {
            var text = entry.Trim().Trim('[', ']');
            if (IPNetwork.TryParse(text, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(text, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else if (Uri.CheckHostName(text) == UriHostNameType.Dns)
            {
                hosts.Add(text);
            }
            else
            {
                throw new FormatException($"--allow-destination '{entry}' is not a CIDR, an IP address or a host name.");
            }
        }

        return new DestinationTargetPolicy([.. networks], hosts, allowInsecureToken, unrestricted: false);
    }

    /// <summary>Why <paramref name="rule"/> may not be stored or dialled as far as its URL says (null: it may).</summary>
    public string? CheckRule(DestinationRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (!DestinationUrl.TryParse(rule.Destination, out var uri, out _))
        {
            return null; // an invalid URL is the client's LastError, as vw's
        }

        if (rule.Token.Length > 0 && uri.Scheme == "ws" && !AllowInsecureToken)
        {
            return "a destination's token is sent only over wss:// (start Osprey with --allow-insecure-token to send it over ws://)";
        }

        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) ? CheckAddress(address)
            : uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) && !IsAllowedHost(uri.Host) ? NotAllowed(uri.Host)
            : null;
    }

    /// <summary>True when <paramref name="host"/> is allowed by name, whatever it resolves to.</summary>
    public bool IsAllowedHost(string host) => _unrestricted || _allowedHosts.Contains(host);

    /// <summary>Why a connection to <paramref name="address"/> is not allowed, or null.</summary>
    public string? CheckAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (_unrestricted)
        {
            return null;
        }

        var plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return Array.Exists(_allowedNetworks, n => n.Contains(plain)) || !Array.Exists(s_denied, n => n.Contains(plain)) ? null : NotAllowed(plain.ToString());
    }

    private static string NotAllowed(string target) =>
        $"destination {target} is not allowed: loopback, link-local and private addresses need --allow-destination";
}

/// <summary>A dial refused by the <see cref="DestinationTargetPolicy"/>: its message is ours, never the peer's.</summary>
internal sealed class DestinationNotAllowedException(string message) : Exception(message);
