using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// A small HTTP server on 127.0.0.1 (HttpListener) that answers every request from a function and keeps what it
/// was sent: a JWKS or an authentication callback for the real server to call.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<string, string, (int Status, string Body)> _answer;
    private readonly Task _loop;
    private readonly List<string> _bodies = [];
    private readonly string _contentType;

    /// <summary>Listens on a free port; <paramref name="answer"/> gets the path and body, gives the status and body (of <paramref name="contentType"/>).</summary>
    public LoopbackHttpServer(Func<string, string, (int Status, string Body)> answer, string contentType = "application/json")
    {
        _answer = answer;
        _contentType = contentType;
        for (var attempt = 0; ; attempt++)
        {
            // A free port from the kernel; another process may take it before HttpListener does, so retry.
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                _listener.Start();
                BaseUri = new Uri($"http://127.0.0.1:{port}/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public Uri BaseUri { get; } = null!;

    /// <summary>The bodies of the requests received, in order.</summary>
    public IReadOnlyList<string> Bodies
    {
        get
        {
            lock (_bodies)
            {
                return [.. _bodies];
            }
        }
    }

    public int Requests
    {
        get
        {
            lock (_bodies)
            {
                return _bodies.Count;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            lock (_bodies)
            {
                _bodies.Add(body);
            }

            var (status, responseBody) = _answer(context.Request.Url?.AbsolutePath ?? "/", body);
            var bytes = Encoding.UTF8.GetBytes(responseBody);
            context.Response.StatusCode = status;
            context.Response.ContentType = _contentType;
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
