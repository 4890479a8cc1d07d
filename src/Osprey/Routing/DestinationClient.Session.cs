using System.Net.WebSockets;
using System.Text;

namespace Osprey.Routing;

/// <summary>One connection's session: the push loop or the control channel beside a receive loop, then the close.</summary>
internal sealed partial class DestinationClient
{
    private const int DataReceiveBufferBytes = 4096;

    /// <summary>Control commands are small JSON objects; anything bigger is skipped rather than buffered.</summary>
    private const int MaxControlMessageBytes = 256 * 1024;

    /// <summary>Runs a connection until it ends or the client stops, then closes it; returns why it ended.</summary>
    private async Task<string> RunSessionAsync(ClientWebSocket socket, CancellationToken stop)
    {
        // Cancelled when the connection should end: the client stops, or the receive side saw it end.
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        // Armed when the session ends: a close that cannot be had politely in time (a send stuck on a relay that
        // stopped reading, a relay that never answers our close) aborts the socket instead of waiting on it.
        using var abort = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var abortSocket = abort.Token.UnsafeRegister(static state => ((WebSocket)state!).Abort(), socket);
        using var armAbort = session.Token.UnsafeRegister(
            static state => ((CancellationTokenSource)state!).CancelAfter(DestinationRegistry.CloseTimeout),
            abort);
        // Control replies (from the receive loop) and the close may otherwise overlap; frames never overlap either.
        using var sendLock = new SemaphoreSlim(1, 1);
        var receive = ReceiveLoopAsync(socket, session, sendLock, abort.Token);
        string? sendFailure = null;
        string? timedOut = null;
        string? received;
        try
        {
            if (IsControl)
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, session.Token);
            }
            else
            {
                await _push.PushAsync(socket, stop, session.Token, abort.Token);
            }
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested || abort.IsCancellationRequested)
        {
        }
        catch (DestinationSendTimeoutException ex)
        {
            // Our own decision: it, not the lost connection the receive loop then sees, is why the session ended.
            timedOut = ex.Message;
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or InvalidOperationException)
        {
            sendFailure = $"sending failed: {Describe(ex)}";
        }
        finally
        {
            await session.CancelAsync(); // which arms the abort
            await CloseAsync(socket, stop.IsCancellationRequested, sendLock, abort.Token);
            // Awaited here, whatever escaped above, so that the receive loop never outlives the session's sources.
            received = await receive;
        }

        return timedOut ?? received ?? sendFailure ?? "the connection ended";
    }

    private static async Task CloseAsync(ClientWebSocket socket, bool removed, SemaphoreSlim sendLock, CancellationToken abort)
    {
        try
        {
            await sendLock.WaitAsync(abort);
            try
            {
                // Open: we end it (1000, as vw's reconws on cancel). CloseReceived: the relay ended it; complete
                // the handshake. Anything else is already over.
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    var description = removed ? "destination removed" : "";
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, description, abort);
                }
            }
            finally
            {
                sendLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or InvalidOperationException)
        {
            // The socket is aborted or disposed next anyway.
        }
    }

    /// <summary>
    /// Always reads, so that pings, pongs and the relay's close are processed. Data rules ignore what the relay
    /// sends (counted); control rules answer text commands.
    /// </summary>
    /// <returns>Why the connection ended, or null when it ended because we closed or aborted it.</returns>
    private async Task<string?> ReceiveLoopAsync(ClientWebSocket socket, CancellationTokenSource session, SemaphoreSlim sendLock, CancellationToken abort)
    {
        var control = IsControl && _handleControl is not null;
        var buffer = new byte[control ? MaxControlMessageBytes : DataReceiveBufferBytes];
        try
        {
            while (true)
            {
                var (type, length) = await WebSocketMessages.ReceiveWholeAsync(socket, buffer, abort);
                if (type == WebSocketMessageType.Close)
                {
                    return session.IsCancellationRequested ? null : $"the relay closed the connection{WebSocketMessages.DescribeClose(socket)}";
                }

                Interlocked.Increment(ref _messagesReceived);
                if (!control || type != WebSocketMessageType.Text)
                {
                    continue;
                }

                if (length < 0)
                {
                    Log.ControlMessageTooLong(_logger, Rule.Id, MaxControlMessageBytes);
                    continue;
                }

                string? reply;
                try
                {
                    reply = _handleControl!(Encoding.UTF8.GetString(buffer, 0, length));
                }
                catch (Exception ex)
                {
                    Log.ControlFailed(_logger, Rule.Id, ex);
                    continue;
                }

                if (reply is not null)
                {
                    await SendControlReplyAsync(socket, reply, sendLock, abort);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            return session.IsCancellationRequested || abort.IsCancellationRequested
                ? null
                : $"the connection was lost: {Describe(ex)}";
        }
        finally
        {
            // The relay closed or the connection broke: end the push loop too.
            await session.CancelAsync();
        }
    }

    private async Task SendControlReplyAsync(ClientWebSocket socket, string reply, SemaphoreSlim sendLock, CancellationToken abort)
    {
        var bytes = Encoding.UTF8.GetBytes(reply);
        await sendLock.WaitAsync(abort);
        try
        {
            if (socket.State == WebSocketState.Open)
            {
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, abort);
                _counters.CountSent(bytes.Length);
            }
        }
        finally
        {
            sendLock.Release();
        }
    }
}
