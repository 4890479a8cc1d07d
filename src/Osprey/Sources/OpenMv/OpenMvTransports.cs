using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Osprey.Sources.OpenMv;

/// <summary>
/// Moves protocol bytes to and from a camera. The transport moves bytes and never decides protocol: framing,
/// CRCs and retries are the session's.
/// </summary>
/// <remarks>Owned by one session run, which disposes it; used from that run's thread only.</remarks>
internal interface IOpenMvTransport : IDisposable
{
    /// <summary>What and where, for logs and the API.</summary>
    string Description { get; }

    /// <summary>Sends all of <paramref name="data"/>; throws <see cref="IOException"/> when the link is gone.</summary>
    void Send(ReadOnlySpan<byte> data);

    /// <summary>
    /// Receives what is there into <paramref name="buffer"/>, waiting up to <paramref name="timeoutMilliseconds"/>;
    /// 0 on timeout. Throws <see cref="IOException"/> when the link is gone (device unplugged).
    /// </summary>
    int Receive(Span<byte> buffer, int timeoutMilliseconds);
}

/// <summary>
/// A serial device (USB CDC or UART) opened through termios: raw 8N1, the given line rate, DTR raised.
/// </summary>
/// <remarks>
/// <para>Why not System.IO.Ports: the package is not in the build's NuGet mirror, and on Linux it needs its own
/// native shim (libSystem.IO.Ports.Native) per runtime; five libc calls do the same and stay trim- and AOT-clean.</para>
/// <para>The descriptor is non-blocking and read after poll(2), so receives honour their timeout and an unplugged
/// device shows as POLLHUP/POLLERR or EIO instead of a read that never returns.</para>
/// </remarks>
internal sealed class SerialTransport : IOpenMvTransport
{
    private readonly Interop.Libc.SafeFileDescriptor _fd;

    private SerialTransport(Interop.Libc.SafeFileDescriptor fd, string description, bool dtr)
    {
        _fd = fd;
        Description = description;
        DtrRaised = dtr;
    }

    public string Description { get; }

    /// <summary>False when the device refused TIOCMBIS (a pty, a UART without modem lines): harmless there.</summary>
    public bool DtrRaised { get; }

    public static SerialTransport Open(string path, int baudRate)
    {
        var speed = Interop.Libc.BaudConstant(baudRate);
        if (speed == 0)
        {
            throw new ArgumentException($"baud {baudRate} is not a termios rate", nameof(baudRate));
        }

        // O_NOCTTY: a camera must never become Osprey's controlling terminal. O_NONBLOCK: open does not wait
        // for carrier, and reads go through poll.
        var fd = Interop.Libc.Open(path, Interop.Libc.O_RDWR | Interop.Libc.O_NOCTTY | Interop.Libc.O_NONBLOCK | Interop.Libc.O_CLOEXEC);
        if (fd.IsInvalid)
        {
            var errno = Marshal.GetLastPInvokeError();
            fd.Dispose();
            throw new IOException(errno is Interop.Libc.Errors.ENOENT or Interop.Libc.Errors.ENODEV or Interop.Libc.Errors.ENXIO
                ? $"cannot open {path}: no such device (is the camera plugged in? `ls /dev/ttyACM*` lists USB cameras)"
                : $"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        try
        {
            if (Interop.Libc.tcgetattr(fd, out var termios) != 0)
            {
                throw LastError($"{path} is not a serial device (tcgetattr)");
            }

            Interop.Libc.cfmakeraw(ref termios);
            termios.c_cflag |= Interop.Libc.CLOCAL | Interop.Libc.CREAD;
            unsafe
            {
                termios.c_cc[Interop.Libc.VMIN] = 0;
                termios.c_cc[Interop.Libc.VTIME] = 0;
            }

            if (Interop.Libc.cfsetispeed(ref termios, speed) != 0 || Interop.Libc.cfsetospeed(ref termios, speed) != 0 ||
                Interop.Libc.tcsetattr(fd, Interop.Libc.TCSANOW, termios) != 0)
            {
                throw LastError($"cannot set {path} to {baudRate} baud raw");
            }

            // The camera's USB CDC transport speaks the protocol only with DTR asserted (and 921600 baud).
            var dtr = Interop.Libc.TIOCM_DTR;
            var dtrRaised = Interop.Libc.ioctl_int(fd, Interop.Libc.TIOCMBIS, ref dtr) == 0;
            // Whatever a previous owner left in the queues is not ours.
            _ = Interop.Libc.tcflush(fd, Interop.Libc.TCIOFLUSH);
            return new SerialTransport(fd, $"{path} at {baudRate} baud", dtrRaised);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    public void Send(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            var written = Interop.Libc.Write(_fd, data);
            if (written > 0)
            {
                data = data[(int)written..];
                continue;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (written < 0 && errno == Interop.Libc.EINTR)
            {
                continue;
            }

            if (written < 0 && errno != Interop.Libc.EAGAIN)
            {
                throw new IOException($"{Description}: write failed: {Marshal.GetPInvokeErrorMessage(errno)}");
            }

            // The output queue is full: wait until it drains a little, but not for ever (a wedged device).
            var events = Interop.Libc.PollOne(_fd, Interop.Libc.POLLOUT, 1000);
            if (events == 0)
            {
                throw new IOException($"{Description}: the device stopped taking bytes");
            }

            ThrowIfGone(events);
        }
    }

    public int Receive(Span<byte> buffer, int timeoutMilliseconds)
    {
        var events = Interop.Libc.PollOne(_fd, Interop.Libc.POLLIN, timeoutMilliseconds);
        if (events == 0)
        {
            return 0;
        }

        if (events < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Interop.Libc.EINTR ? 0 : throw new IOException($"{Description}: poll failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        if ((events & Interop.Libc.POLLIN) == 0)
        {
            ThrowIfGone(events);
        }

        var read = Interop.Libc.Read(_fd, buffer);
        if (read > 0)
        {
            return (int)read;
        }

        if (read == 0)
        {
            throw new IOException($"{Description}: the device went away (end of file)");
        }

        var error = Marshal.GetLastPInvokeError();
        return error is Interop.Libc.EAGAIN or Interop.Libc.EINTR
            ? 0
            : throw new IOException($"{Description}: the device went away ({Marshal.GetPInvokeErrorMessage(error)})");
    }

    public void Dispose() => _fd.Dispose();

    private void ThrowIfGone(int events)
    {
        if ((events & (Interop.Libc.POLLHUP | Interop.Libc.POLLERR | Interop.Libc.POLLNVAL)) != 0)
        {
            throw new IOException($"{Description}: the device went away (hang-up)");
        }
    }

    private static IOException LastError(string what) =>
        new($"{what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
}

/// <summary>The protocol's network transport: datagrams to and from the camera's UDP port.</summary>
internal sealed class UdpTransport : IOpenMvTransport
{
    private readonly Socket _socket;

    private UdpTransport(Socket socket, string description)
    {
        _socket = socket;
        Description = description;
    }

    public string Description { get; }

    public static UdpTransport Open(string host, int port)
    {
        var addresses = Dns.GetHostAddresses(host);
        if (addresses.Length == 0)
        {
            throw new IOException($"{host} has no address");
        }

        var address = addresses[0];
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Connected: sends go to the camera, and datagrams from anyone else are filtered by the kernel.
            socket.Connect(new IPEndPoint(address, port));
            socket.ReceiveBufferSize = 1 << 20;
            return new UdpTransport(socket, $"udp://{address}:{port}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Send(ReadOnlySpan<byte> data)
    {
        try
        {
            _socket.Send(data);
        }
        catch (SocketException ex)
        {
            throw new IOException($"{Description}: {ex.Message}", ex);
        }
    }

    public int Receive(Span<byte> buffer, int timeoutMilliseconds)
    {
        try
        {
            if (!_socket.Poll(TimeSpan.FromMilliseconds(timeoutMilliseconds), SelectMode.SelectRead))
            {
                return 0;
            }

            return _socket.Receive(buffer);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // ICMP port unreachable: nothing listens at the camera's port (yet); same as silence.
            return 0;
        }
        catch (SocketException ex)
        {
            throw new IOException($"{Description}: {ex.Message}", ex);
        }
    }

    public void Dispose() => _socket.Dispose();
}
