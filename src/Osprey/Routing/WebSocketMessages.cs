using System.Net.WebSockets;

namespace Osprey.Routing;

/// <summary>Whole-message reads and close descriptions, shared by a destination's authorisation and its session.</summary>
internal static class WebSocketMessages
{
    /// <summary>Reads one whole message into <paramref name="buffer"/>; a length of -1 means it did not fit (its bytes were discarded).</summary>
    public static async ValueTask<(WebSocketMessageType Type, int Length)> ReceiveWholeAsync(WebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        var overflow = false;
        while (true)
        {
            var target = overflow ? buffer.AsMemory() : buffer.AsMemory(filled);
            var result = await socket.ReceiveAsync(target, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, 0);
            }

            if (!overflow)
            {
                filled += result.Count;
                overflow = filled == buffer.Length && !result.EndOfMessage;
            }

            if (result.EndOfMessage)
            {
                return (result.MessageType, overflow ? -1 : filled);
            }
        }
    }

    /// <summary>The peer's close status and description as a suffix for a reason, or nothing when it sent none.</summary>
    /// <remarks>The code only: the description is the peer's text, and reasons reach API users.</remarks>
    public static string DescribeClose(WebSocket socket) => socket.CloseStatus is { } status ? $" ({(int)status})" : "";
}
