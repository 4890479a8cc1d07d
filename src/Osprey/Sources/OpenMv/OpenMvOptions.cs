using System.Globalization;
using Osprey.Protocols.OpenMv;

namespace Osprey.Sources.OpenMv;

/// <summary>How Osprey reaches an OpenMV camera.</summary>
public enum OpenMvLinkKind
{
    /// <summary>A serial device: USB CDC (<c>/dev/ttyACM0</c>) or a UART.</summary>
    Serial,

    /// <summary>The protocol's network transport over UDP.</summary>
    Udp,
}

/// <summary>
/// Options of an OpenMV source, from its URI: <c>openmv:///dev/ttyACM0?baud=921600</c> or
/// <c>openmv+udp://host:5555</c>. Query: <c>baud</c>, <c>payload</c> (max payload asked for), <c>ack</c> and
/// <c>events</c> (1/0), <c>timeout</c> (ms per request), <c>poll</c> (ms between LOCK attempts without events),
/// <c>channel</c> (the channel to read frames from: the firmware's <c>stream</c> by default, or a channel a script
/// registers, such as the <c>frame</c> channel of OpenMV's streaming-frames guide).
/// </summary>
public sealed record OpenMvOptions
{
    /// <summary>Serial or UDP.</summary>
    public OpenMvLinkKind Kind { get; init; }

    /// <summary>The device path (serial).</summary>
    public string Path { get; init; } = "/dev/ttyACM0";

    /// <summary>The camera's host name or address (UDP).</summary>
    public string Host { get; init; } = "";

    /// <summary>The camera's port (UDP), 5555 by default.</summary>
    public int Port { get; init; } = OpenMvProtocol.DefaultUdpPort;

    /// <summary>Line rate; 921600 is the USB CDC transport's magic rate (any other rate means the REPL).</summary>
    public int BaudRate { get; init; } = OpenMvProtocol.MagicBaudRate;

    /// <summary>The largest payload Osprey asks for; the device's own limit may lower it.</summary>
    public int MaxPayload { get; init; } = OpenMvProtocol.MaxPayload;

    /// <summary>Ask the device to request ACKs (stop-and-wait); off by default over UDP, as OpenMV's examples do.</summary>
    public bool Acks { get; init; } = true;

    /// <summary>Use frame-ready events when the device has them.</summary>
    public bool Events { get; init; } = true;

    /// <summary>How long one request waits for its reply before it is sent again.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Pause between LOCK attempts while no frame is ready and events are off.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// The channel frames are read from. The firmware's <c>stream</c> channel is locked, read and unlocked (a
    /// frame-buffer header before the image); any other name is a channel a script registered, read as OpenMV's
    /// streaming-frames guide does: POLL (or its event), SIZE, one READ of the whole image, no lock.
    /// </summary>
    public string Channel { get; init; } = OpenMvProtocol.StreamChannelName;

    /// <summary>True when frames come from the firmware's stream channel rather than a script's channel.</summary>
    public bool IsStreamChannel => Channel == OpenMvProtocol.StreamChannelName;

    /// <summary>The canonical URI.</summary>
    public string ToUri()
    {
        var uri = Kind == OpenMvLinkKind.Serial
            ? FormattableString.Invariant($"openmv://{Path}?baud={BaudRate}&payload={MaxPayload}&ack={(Acks ? 1 : 0)}&events={(Events ? 1 : 0)}")
            : FormattableString.Invariant($"openmv+udp://{Host}:{Port}?payload={MaxPayload}&ack={(Acks ? 1 : 0)}&events={(Events ? 1 : 0)}");
        return IsStreamChannel ? uri : uri + "&channel=" + Channel;
    }

    /// <summary>Parses <c>openmv:///dev/ttyACM0?baud=N</c> or <c>openmv+udp://host:port</c>; throws <see cref="FormatException"/>.</summary>
    public static OpenMvOptions Parse(string uri)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(uri);
        var query = SourceOptions.Parse(uri);
        var head = query.Body;
        OpenMvOptions options;
        if (head.StartsWith("openmv+udp://", StringComparison.OrdinalIgnoreCase))
        {
            var authority = head["openmv+udp://".Length..].TrimEnd('/');
            var colon = authority.LastIndexOf(':');
            var host = colon < 0 ? authority : authority[..colon];
            var port = OpenMvProtocol.DefaultUdpPort;
            if (colon >= 0 && (!int.TryParse(authority[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
            {
                throw new FormatException($"Source '{uri}': '{authority[(colon + 1)..]}' is not a port.");
            }

            if (host.Length == 0)
            {
                throw new FormatException($"Source '{uri}' names no host; expected openmv+udp://HOST:5555.");
            }

            // UDP: ACKs off and a payload under the Ethernet MTU, as OpenMV's network_transport.py example.
            options = new OpenMvOptions { Kind = OpenMvLinkKind.Udp, Host = host.Trim('[', ']'), Port = port, Acks = false, MaxPayload = 1400 };
        }
        else if (head.StartsWith("openmv://", StringComparison.OrdinalIgnoreCase))
        {
            var path = head["openmv://".Length..];
            if (!path.StartsWith('/') || path.Length < 2)
            {
                throw new FormatException($"Source '{uri}' names no device; expected openmv:///dev/ttyACM0 (three slashes).");
            }

            options = new OpenMvOptions { Kind = OpenMvLinkKind.Serial, Path = path };
        }
        else
        {
            throw new FormatException($"Source '{uri}': expected openmv:///dev/ttyACM0 or openmv+udp://host:5555.");
        }

        query.RejectUnknown("baud", "payload", "ack", "events", "timeout", "poll", "channel");
        var channel = query.GetString("channel", OpenMvProtocol.StreamChannelName);
        if (!IsChannelName(channel))
        {
            throw query.Error($"channel '{channel}' is not a channel name (1 to 13 letters, digits, '_' or '-'; a channel list entry holds 14 bytes with its terminator).");
        }

        options = options with
        {
            BaudRate = query.GetInt("baud", options.BaudRate, 50, 4_000_000),
            MaxPayload = query.GetInt("payload", options.MaxPayload, OpenMvProtocol.MinPayload, OpenMvProtocol.MaxPayload),
            Acks = query.GetInt("ack", options.Acks ? 1 : 0, 0, 1) == 1,
            Events = query.GetInt("events", options.Events ? 1 : 0, 0, 1) == 1,
            RequestTimeout = TimeSpan.FromMilliseconds(query.GetInt("timeout", (int)options.RequestTimeout.TotalMilliseconds, 10, 60_000)),
            PollInterval = TimeSpan.FromMilliseconds(query.GetInt("poll", (int)options.PollInterval.TotalMilliseconds, 1, 10_000)),
            Channel = channel,
        };

        if (options.Kind == OpenMvLinkKind.Serial && Interop.Libc.BaudConstant(options.BaudRate) == 0)
        {
            throw new FormatException($"Source '{uri}': baud {options.BaudRate} is not a rate Linux's termios knows (e.g. 115200, 921600).");
        }

        return options;
    }

    private static bool IsChannelName(string name) =>
        name.Length is > 0 and <= 13 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
