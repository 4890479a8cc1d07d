using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Osprey.Server.Outputs;

namespace Osprey.Tests.Server.Outputs;

/// <summary>The one send path of every output: head, body and tail in order, direct or through the stream, and no allocation per write.</summary>
[Trait("Needs", "Socket")]
public sealed class ConnectionWriterTests : IDisposable
{
    private readonly Socket _server;
    private readonly Socket _client;

    public ConnectionWriterTests()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _client.Connect(listener.LocalEndPoint!);
        _server = listener.Accept();
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
    }

    [Fact]
    public async Task ADirectWrite_SendsHeadBodyAndTailInOrder_StraightToTheSocket()
    {
        using var writer = ConnectionWriter.Create(ContextWith(_server), Stream.Null);
        Assert.True(writer.IsDirect);

        Assert.True(await writer.WriteAsync(new byte[] { 1, 2 }, new byte[] { 3, 4, 5 }, new byte[] { 6 }));
        Assert.True(await writer.WriteAsync(new byte[] { 7 }, default));

        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7 }, Receive(7));
    }

    [Fact]
    public async Task OverTls_WritesGoThroughTheStream()
    {
        var context = ContextWith(_server);
        context.Features.Set<ITlsConnectionFeature>(new TlsConnectionFeature());
        using var stream = new MemoryStream();
        using var writer = ConnectionWriter.Create(context, stream);
        Assert.False(writer.IsDirect);

        Assert.True(await writer.WriteAsync(new byte[] { 1, 2 }, new byte[] { 3 }, new byte[] { 4 }));

        Assert.Equal(new byte[] { 1, 2, 3, 4 }, stream.ToArray());
    }

    [Fact]
    public async Task DirectWrites_AllocateNothing()
    {
        using var writer = ConnectionWriter.Create(ContextWith(_server), Stream.Null);
        var head = new ArraySegment<byte>(new byte[10]);
        var body = new ReadOnlyMemory<byte>(GC.AllocateUninitializedArray<byte>(1024, pinned: true));
        var tail = new ArraySegment<byte>(new byte[4]);
        const int Writes = 10; // 10 KiB a round: the loopback socket's buffers take it at once, so every write completes synchronously
        var fewest = long.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Writes; i++)
            {
                // Completed at once, so the await neither suspends nor leaves this thread (whose allocations are counted).
                var write = writer.WriteAsync(head, body, tail);
                Assert.True(write.IsCompletedSuccessfully);
                Assert.True(await write);
            }

            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
            Receive(Writes * (head.Count + body.Length + tail.Count));
        }

        // The fewest of several warm rounds: a one-time runtime allocation must not fail it, one per write does.
        Assert.Equal(0, fewest);
    }

    private byte[] Receive(int count)
    {
        var received = new byte[count];
        for (var offset = 0; offset < count;)
        {
            offset += _client.Receive(received, offset, count - offset, SocketFlags.None);
        }

        return received;
    }

    private static DefaultHttpContext ContextWith(Socket socket)
    {
        var context = new DefaultHttpContext();
        context.Features.Set<IConnectionSocketFeature>(new SocketFeature(socket));
        return context;
    }

    private sealed class SocketFeature(Socket socket) : IConnectionSocketFeature
    {
        public Socket Socket { get; } = socket;
    }

    private sealed class TlsConnectionFeature : ITlsConnectionFeature
    {
        public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate { get; set; }

        public Task<System.Security.Cryptography.X509Certificates.X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) =>
            Task.FromResult(ClientCertificate);
    }
}
