using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Osprey.Tests.Routing;

/// <summary>What the relay does with a WebSocket request.</summary>
internal enum RelayMode
{
    /// <summary>Accept and record every message.</summary>
    Accept,

    /// <summary>Answer 503 instead of upgrading.</summary>
    Reject,

    /// <summary>Upgrade, then close (1000) at once.</summary>
    CloseAtOnce,

    /// <summary>Upgrade, then never read again.</summary>
    Stall,

    /// <summary>Upgrade, take the first message as a token, and never answer it.</summary>
    IgnoreToken,
}

/// <summary>One message a relay received.</summary>
internal sealed record RelayMessage(int Connection, string Path, WebSocketMessageType Type, byte[] Data)
{
    /// <summary>The frame index the tests write in a frame's first 8 bytes.</summary>
    public long Index => BinaryPrimitives.ReadInt64LittleEndian(Data);

    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// A relay for destinations to push to: Kestrel on 127.0.0.1 with WebSockets, recording what arrives, with
/// crossbar's token check when <see cref="ExpectedToken"/> is set.
/// </summary>
internal sealed class TestRelay : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<int, WebSocket> _open = new();
    private int _connections;
    private volatile RelayMode _mode;
    private bool _secure;

    private TestRelay(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public RelayMode Mode
    {
        get => _mode;
        set => _mode = value;
    }

    /// <summary>When set, the first message must be this token as text; crossbar's AuthMessage answers it.</summary>
    public string? ExpectedToken { get; set; }

    /// <summary>Upgrades accepted.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Connections open now.</summary>
    public int OpenConnections => _open.Count;

    public ConcurrentQueue<RelayMessage> Messages { get; } = new();

    /// <summary>Tokens received as first messages.</summary>
    public ConcurrentQueue<string> Tokens { get; } = new();

    /// <summary>Close statuses the destinations sent.</summary>
    public ConcurrentQueue<(WebSocketCloseStatus? Status, string? Description)> Closes { get; } = new();

    public string Url(string path = "/in/video0") => $"{(_secure ? "wss" : "ws")}://127.0.0.1:{Port}{path}";

    /// <summary>Starts a relay on 127.0.0.1, over TLS (<c>wss://</c>) when given a certificate.</summary>
    public static async Task<TestRelay> StartAsync(int port = 0, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        }));
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(1));
        var app = builder.Build();
        var relay = new TestRelay(app) { _secure = certificate is not null };
        app.UseWebSockets();
        app.Run(relay.HandleAsync);
        // A relay going away drops its connections at once, as a crashed or restarted crossbar would.
        app.Lifetime.ApplicationStopping.Register(relay.AbortConnections);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        relay.Port = new Uri(address).Port;
        return relay;
    }

    /// <summary>Data messages (binary) received, in order.</summary>
    public List<RelayMessage> Binary() => [.. Messages.Where(m => m.Type == WebSocketMessageType.Binary)];

    /// <summary>Sends <paramref name="text"/> to every open connection.</summary>
    public async Task SendToAllAsync(string text, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        foreach (var socket in _open.Values)
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(text), type, endOfMessage: true, CancellationToken.None);
        }
    }

    /// <summary>Closes every open connection from the relay's side with 1001 (going away).</summary>
    public async Task CloseConnectionsAsync()
    {
        foreach (var socket in _open.Values)
        {
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "relay going away", CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
        }
    }

    public void AbortConnections()
    {
        foreach (var socket in _open.Values)
        {
            socket.Abort();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var mode = Mode;
        if (mode == RelayMode.Reject)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var id = Interlocked.Increment(ref _connections);
        var path = context.Request.Path.Value ?? "";
        var aborted = context.RequestAborted;
        _open[id] = socket;
        try
        {
            if (mode == RelayMode.CloseAtOnce)
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "go away", aborted);
                return;
            }

            if (mode == RelayMode.IgnoreToken)
            {
                var (_, token) = await ReceiveAsync(socket, new byte[4096], aborted);
                Tokens.Enqueue(Encoding.UTF8.GetString(token));
                await Task.Delay(Timeout.Infinite, aborted);
                return;
            }

            if (ExpectedToken is { } expected && !await AuthoriseAsync(socket, expected, path, aborted))
            {
                return;
            }

            if (mode == RelayMode.Stall)
            {
                await Task.Delay(Timeout.Infinite, aborted);
                return;
            }

            var buffer = new byte[64 * 1024];
            while (true)
            {
                var (type, data) = await ReceiveAsync(socket, buffer, aborted);
                if (type == WebSocketMessageType.Close)
                {
                    Closes.Enqueue((socket.CloseStatus, socket.CloseStatusDescription));
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", aborted);
                    }

                    return;
                }

                Messages.Enqueue(new RelayMessage(id, path, type, data));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The destination went away or the relay is stopping.
        }
        finally
        {
            _open.TryRemove(id, out _);
        }
    }

    /// <summary>A self-signed certificate for 127.0.0.1.</summary>
    public static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Kestrel needs the private key in a form it can use for TLS: round-trip through PKCS#12.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null);
    }

    /// <summary>crossbar: the first message is the token; answer with an AuthMessage, and close after a refusal.</summary>
    private async Task<bool> AuthoriseAsync(WebSocket socket, string expected, string path, CancellationToken aborted)
    {
        var (type, data) = await ReceiveAsync(socket, new byte[4096], aborted);
        var token = type == WebSocketMessageType.Text ? Encoding.UTF8.GetString(data) : "";
        Tokens.Enqueue(token);
        var authorised = token == expected;
        var reason = authorised ? "ok" : "token expired";
        var reply = $$"""{"topic":"{{path}}","token":"{{token}}","authorised":{{(authorised ? "true" : "false")}},"reason":"{{reason}}"}""";
        await socket.SendAsync(Encoding.UTF8.GetBytes(reply), WebSocketMessageType.Text, endOfMessage: true, aborted);
        if (!authorised)
        {
            await Task.Delay(50, aborted);
            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "unauthorised", aborted);
        }

        return authorised;
    }

    private static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(WebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, []);
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }
}
