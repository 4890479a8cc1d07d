using System.Net.WebSockets;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>A real WebSocket client that keeps each message whole with its type (text headers, binary segments).</summary>
public sealed class MessageClient : IDisposable
{
    private readonly ClientWebSocket _socket = new();

    public static async Task<MessageClient> ConnectAsync(Uri uri)
    {
        var client = new MessageClient();
        await client._socket.ConnectAsync(uri, CancellationToken.None);
        return client;
    }

    public async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"server closed: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }

    public void Dispose() => _socket.Dispose();
}
