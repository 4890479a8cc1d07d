using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Osprey.Routing;

/// <summary>
/// Opens one connection for a destination rule: checks the URL, connects (TLS for <c>wss://</c>, keep-alive
/// pings), and authorises with the rule's token when it has one. What it returns is connected and authorised.
/// </summary>
/// <remarks>Stateless between dials; one per client.</remarks>
internal sealed class DestinationDialer(TimeProvider time, DestinationSettings settings)
{
    private DestinationTargetPolicy Policy => settings.TargetPolicy;

    private const int MaxAuthorisationReplyBytes = 64 * 1024;

    /// <summary>
    /// Dials <paramref name="rule"/>'s destination. Throws only for a stop or a failure to connect (the socket is
    /// disposed then); a refusal the operator can fix is returned as <see cref="DialResult.Failure"/>.
    /// </summary>
    public async Task<DialResult> DialAsync(DestinationRule rule, CancellationToken stop)
    {
        // An invalid URL is the operator's to fix, and may be fixed by replacing the rule: retry, do not throw.
        if (!DestinationUrl.TryParse(rule.Destination, out var uri, out var urlError))
        {
            return DialResult.Failed(urlError);
        }

        if (Policy.CheckRule(rule) is { } notAllowed)
        {
            return DialResult.Failed(notAllowed);
        }

        var socket = new ClientWebSocket();
        // Disposed here unless it is handed to the caller connected and authorised.
        ClientWebSocket? unclaimed = socket;
        try
        {
            // A relay that vanished without closing (power cut, NAT timeout) is noticed by its missing pongs instead
            // of by TCP giving up minutes later.
            socket.Options.KeepAliveInterval = DestinationRegistry.KeepAliveInterval;
            socket.Options.KeepAliveTimeout = DestinationRegistry.KeepAliveInterval;
            // Our own handler so that the addresses actually dialled are the ones checked: resolving once to check
            // and letting the socket resolve again would let DNS answer differently the second time.
            using var handler = new SocketsHttpHandler
            {
                ConnectCallback = (context, token) => ConnectCheckedAsync(context.DnsEndPoint, token),
                UseProxy = false,
            };
            // Why the relay's certificate was refused, in our words, for lastError (the handshake's exception says less).
            string? certificateRefused = null;
            handler.SslOptions.RemoteCertificateValidationCallback = settings.CertificateValidation ?? ((_, certificate, chain, errors) =>
            {
                certificateRefused = settings.Trust.Check(rule, certificate, chain, errors);
                return certificateRefused is null;
            });

            using var invoker = new HttpMessageInvoker(handler, disposeHandler: false);

            using (var timeout = new CancellationTokenSource(DestinationRegistry.ConnectTimeout, time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token))
            {
                try
                {
                    await socket.ConnectAsync(uri, invoker, linked.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    return DialResult.Failed($"no answer from the relay within {DestinationRegistry.ConnectTimeout.TotalSeconds:0} s");
                }
                catch (Exception ex) when (certificateRefused is not null && ex is WebSocketException or HttpRequestException or IOException)
                {
                    return DialResult.Failed($"the TLS handshake failed: {certificateRefused}");
                }
            }

            if (rule.Token.Length > 0 && await AuthoriseAsync(socket, rule.Token, stop) is { } refused)
            {
                return DialResult.Failed(refused);
            }

            unclaimed = null;
            return new DialResult(socket, null);
        }
        finally
        {
            unclaimed?.Dispose();
        }
    }

    /// <summary>Resolves the host and connects to the first of its addresses the policy allows; every address is checked.</summary>
    private async ValueTask<Stream> ConnectCheckedAsync(DnsEndPoint endPoint, CancellationToken token)
    {
        var addresses = IPAddress.TryParse(endPoint.Host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(endPoint.Host, token);
        if (!Policy.IsAllowedHost(endPoint.Host))
        {
            foreach (var address in addresses)
            {
                if (Policy.CheckAddress(address) is { } notAllowed)
                {
                    // One denied address refuses the name: a host that resolves to an allowed and a private address is
                    // how rebinding gets in.
                    throw new DestinationNotAllowedException($"{endPoint.Host} resolves to a denied address: {notAllowed}");
                }
            }
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), token);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>vw's DialAuth: the token as the first text message, then one text reply saying authorised.</summary>
    /// <returns>Null when authorised, otherwise why not.</returns>
    private async Task<string?> AuthoriseAsync(ClientWebSocket socket, string token, CancellationToken stop)
    {
        using var timeout = new CancellationTokenSource(DestinationRegistry.AuthorisationTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        var buffer = new byte[MaxAuthorisationReplyBytes];
        (WebSocketMessageType Type, int Length) reply;
        try
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(token), WebSocketMessageType.Text, endOfMessage: true, linked.Token);
            reply = await WebSocketMessages.ReceiveWholeAsync(socket, buffer, linked.Token);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return $"the relay did not answer the token within {DestinationRegistry.AuthorisationTimeout.TotalSeconds:0} s";
        }

        if (reply.Type == WebSocketMessageType.Close)
        {
            return $"the relay closed the connection instead of answering the token{WebSocketMessages.DescribeClose(socket)}";
        }

        if (reply.Type != WebSocketMessageType.Text)
        {
            return "the relay answered the token with a binary message, not text";
        }

        if (reply.Length < 0)
        {
            return "the relay's answer to the token is too long";
        }

        return CheckAuthorisation(buffer.AsSpan(0, reply.Length));
    }

    /// <summary>Crossbar's AuthMessage: <c>{"topic":…,"token":…,"authorised":true,"reason":"ok"}</c>.</summary>
    internal static string? CheckAuthorisation(ReadOnlySpan<byte> json)
    {
        bool? authorised = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return "the relay's answer to the token is not a JSON object";
            }

            // Go's encoding/json, which crossbar and vw use, matches field names case-insensitively.
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (string.Equals(property.Name, "authorised", StringComparison.OrdinalIgnoreCase))
                {
                    authorised = property.Value.ValueKind == JsonValueKind.True;
                }
            }
        }
        catch (JsonException)
        {
            return "the relay's answer to the token is not JSON";
        }

        // Crossbar's reason is the relay's own text: not repeated to API users (lastError never carries the peer's bytes).
        return authorised == true ? null : "the relay refused the token";
    }
}

/// <summary>A dial's outcome: a connected, authorised socket the caller now owns, or why there is none.</summary>
internal readonly record struct DialResult(ClientWebSocket? Socket, string? Failure)
{
    public static DialResult Failed(string reason) => new(null, reason);
}
