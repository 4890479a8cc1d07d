using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Osprey.Protocols.OpenMv;

namespace Osprey.IntegrationTests.OpenMv;

/// <summary>Faults the emulated camera injects; may be changed while it runs.</summary>
public sealed class OpenMvFaults
{
    /// <summary>Probability that a packet the device sends has one byte flipped.</summary>
    public double CorruptRate { get; set; }

    /// <summary>Probability that a packet the device sends is lost.</summary>
    public double DropRate { get; set; }

    /// <summary>Probability that a host ACK the device receives is lost (the device then retransmits with RTX).</summary>
    public double DropAckRate { get; set; }

    /// <summary>Probability that a reply is sent late (by <see cref="DelayMilliseconds"/>).</summary>
    public double DelayRate { get; set; }

    /// <summary>The delay of a delayed reply.</summary>
    public int DelayMilliseconds { get; set; } = 30;

    /// <summary>Probability that a packet is held back so that the next one overtakes it.</summary>
    public double ReorderRate { get; set; }

    /// <summary>The device reads and sends nothing while set.</summary>
    public bool Silent { get; set; }
}

/// <summary>
/// A faithful OpenMV protocol V2 device (firmware 5.0.0, protocol 1.0.2) serving the stream channel from JPEG
/// frames, on a serial device file (one end of a socat pty pair) or a UDP port, with fault injection.
/// </summary>
/// <remarks>
/// Single-threaded like the firmware: it captures a frame only while the stream channel is unlocked, blocks in
/// WAIT_ACK after each data packet when ACKs are on (500 ms doubling, 3 retries, then a protocol reset), answers
/// LOCK with BUSY when no frame is ready or within the lock interval, zeroes the frame on UNLOCK, and sends a
/// CHANNEL_EVENT NOTIFY on channel 3 after each capture (openmv/openmv protocol/omv_protocol*.c).
/// </remarks>
public sealed partial class OpenMvDeviceEmulator : IDisposable
{
    private const int HeaderOffset = 32;
    private readonly IReadOnlyList<byte[]> _jpegs;
    private readonly Func<IDeviceLink> _open;
    private readonly Random _random;
    private readonly OpenMvPacketDecoder _decoder = new(ushort.MaxValue);
    private readonly ArrayBufferWriter<byte> _tx = new(8192);
    private readonly List<(long Due, byte[] Packet)> _held = [];
    private readonly Thread _thread;
    private volatile bool _stopping;
    private IDeviceLink? _link;
    private byte _seq;
    private OpenMvCapabilities _caps;
    private int _maxPayload;
    private bool _locked;
    private long _lastLock;
    private byte[] _frame = [];
    private bool _frameReady;
    private bool _streamEnabled;
    private int _nextJpeg;
    private long _nextCapture;

    private OpenMvDeviceEmulator(IReadOnlyList<byte[]> jpegs, Func<IDeviceLink> open, int seed)
    {
        _jpegs = jpegs;
        _open = open;
        _random = new Random(seed);
        Reset();
        _thread = new Thread(Run) { IsBackground = true, Name = "openmv-emulator" };
    }

    public OpenMvFaults Faults { get; } = new();

    /// <summary>Captures per second; 0 captures as soon as the previous frame was read.</summary>
    public double Fps { get; set; } = 30;

    /// <summary>Device-side max payload (GET_CAPS reports it; SET_CAPS may lower it).</summary>
    public int DeviceMaxPayload { get; set; } = OpenMvProtocol.MaxPayload;

    /// <summary>WAIT_ACK's first timeout (the firmware's 500 ms).</summary>
    public int AckTimeoutMilliseconds { get; set; } = 500;

    /// <summary>LOCK answers BUSY within this long of the last lock (<c>lock_intval_ms</c>, 10).</summary>
    public int LockIntervalMilliseconds { get; set; } = 10;

    public long FramesCaptured;
    public long FramesServed;
    public long Retransmits;
    public long PacketsCorrupted;
    public long PacketsDropped;
    public long AcksDropped;
    public long ProtocolResets;
    public long Opens;
    public long StreamEnables;
    public long ReadRequests;

    /// <summary>
    /// The stream buffer is on from power-up (false: the firmware's behaviour, the host must send the stream
    /// channel's IOCTL STREAM_CTRL(1) before the camera yields a frame; LOCK answers BUSY until then).
    /// </summary>
    public bool StreamEnabledAtBoot { get; set; }

    /// <summary>The JPEG indexes served whole (read to the last byte under one lock), in order.</summary>
    public List<int> Served { get; } = [];

    public static OpenMvDeviceEmulator OnSerial(string path, IReadOnlyList<byte[]> jpegs, int seed = 1)
    {
        var emulator = new OpenMvDeviceEmulator(jpegs, () => new SerialDeviceLink(path), seed);
        emulator._thread.Start();
        return emulator;
    }

    public static OpenMvDeviceEmulator OnUdp(int port, IReadOnlyList<byte[]> jpegs, int seed = 1)
    {
        var emulator = new OpenMvDeviceEmulator(jpegs, () => new UdpDeviceLink(port), seed);
        emulator._thread.Start();
        return emulator;
    }

    public void Dispose()
    {
        _stopping = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        _link?.Dispose();
    }

    private void Reset()
    {
        _seq = 0;
        _caps = OpenMvCapabilities.Crc | OpenMvCapabilities.Sequence | OpenMvCapabilities.Ack | OpenMvCapabilities.Events;
        _maxPayload = DeviceMaxPayloadOrDefault();
        _locked = false;
    }

    private int DeviceMaxPayloadOrDefault() => DeviceMaxPayload == 0 ? OpenMvProtocol.MaxPayload : DeviceMaxPayload;

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                _link ??= _open();
                Interlocked.Increment(ref Opens);
                _streamEnabled = StreamEnabledAtBoot; // every open is a power-up: a re-plugged camera starts disabled
                _decoder.Reset();
                Serve();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SocketException)
            {
                // Unplugged (socat stopped): wait for the device file to come back.
            }

            _link?.Dispose();
            _link = null;
            Thread.Sleep(50);
        }
    }

    private void Serve()
    {
        while (!_stopping)
        {
            FlushHeld(force: false);
            var now = Stopwatch.GetTimestamp();
            if (_streamEnabled && !_locked && !_frameReady && now >= _nextCapture)
            {
                Capture();
            }

            if (!TryReceivePacket(20, out var header, out var payload, out var corrupt))
            {
                continue;
            }

            if (corrupt)
            {
                SendStatus(header.Channel, header.Opcode, OpenMvStatus.Checksum);
                continue;
            }

            Process(header, payload);
        }
    }

    private void Capture()
    {
        var jpeg = _jpegs[_nextJpeg % _jpegs.Count];
        _frame = new byte[HeaderOffset + jpeg.Length];
        new OpenMvFrameHeader(320, 240, OpenMvFrameHeader.Jpeg, (uint)jpeg.Length, HeaderOffset).WriteTo(_frame, (float)Fps);
        BinaryPrimitives.WriteInt32LittleEndian(_frame.AsSpan(24), _nextJpeg); // the capture's index, in the header's padding
        jpeg.CopyTo(_frame, HeaderOffset);
        _nextJpeg++;
        _frameReady = true;
        Interlocked.Increment(ref FramesCaptured);
        _nextCapture = Stopwatch.GetTimestamp() + (Fps > 0 ? (long)(Stopwatch.Frequency / Fps) : 0);
        if ((_caps & OpenMvCapabilities.Events) != 0)
        {
            _tx.Clear();
            OpenMvPacketHeader.Encode(_tx, _seq, OpenMvProtocol.StreamChannel, OpenMvFlags.Event, OpenMvOpcode.ChannelEvent, default);
            Transmit(_tx.WrittenSpan);
        }
    }

    private void Process(OpenMvPacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.IsStatus)
        {
            return; // A late ACK or NAK outside WAIT_ACK.
        }

        if (header.Opcode != OpenMvOpcode.ProtoSync && (_caps & OpenMvCapabilities.Sequence) != 0 && header.Sequence != _seq)
        {
            SendStatus(header.Channel, header.Opcode, OpenMvStatus.Sequence);
            return;
        }

        if ((byte)header.Opcode <= 0x14 && header.Channel != 0)
        {
            SendStatus(header.Channel, header.Opcode, OpenMvStatus.Invalid);
            return;
        }

        Span<byte> reply = stackalloc byte[48];
        reply.Clear();
        switch (header.Opcode)
        {
            case OpenMvOpcode.ProtoSync:
                Reset();
                SendStatus(0, header.Opcode, OpenMvStatus.Success, sequence: 0);
                _seq = 0;
                break;
            case OpenMvOpcode.ProtoGetCaps:
                BinaryPrimitives.WriteUInt32LittleEndian(reply, (uint)_caps);
                BinaryPrimitives.WriteUInt16LittleEndian(reply[4..], (ushort)DeviceMaxPayloadOrDefault());
                SendData(0, header.Opcode, reply[..16]);
                break;
            case OpenMvOpcode.ProtoSetCaps:
                var max = payload.Length == 16 ? BinaryPrimitives.ReadUInt16LittleEndian(payload[4..]) : 0;
                if (max < OpenMvProtocol.MinPayload || max > OpenMvProtocol.MaxPayload)
                {
                    SendStatus(0, header.Opcode, OpenMvStatus.Invalid);
                    break;
                }

                // The firmware ACKs first, then applies.
                SendStatus(0, header.Opcode, OpenMvStatus.Success);
                _caps = (OpenMvCapabilities)BinaryPrimitives.ReadUInt32LittleEndian(payload);
                _maxPayload = max;
                break;
            case OpenMvOpcode.ProtoVersion:
                reply[0] = 1;
                reply[1] = 0;
                reply[2] = 2;
                reply[6] = 5;
                SendData(0, header.Opcode, reply[..16]);
                break;
            case OpenMvOpcode.ChannelList:
                WriteChannel(reply, 1, OpenMvChannelFlags.Write | OpenMvChannelFlags.Exec, "stdin"u8);
                WriteChannel(reply[16..], 2, OpenMvChannelFlags.Read, "stdout"u8);
                WriteChannel(reply[32..], 3, OpenMvChannelFlags.Read | OpenMvChannelFlags.Lock | OpenMvChannelFlags.Stream, "stream"u8);
                SendData(0, header.Opcode, reply[..48]);
                break;
            case OpenMvOpcode.ChannelLock when header.Channel == 3:
                var now = Stopwatch.GetTimestamp();
                if (!_frameReady || _locked || Stopwatch.GetElapsedTime(_lastLock, now).TotalMilliseconds < LockIntervalMilliseconds)
                {
                    SendStatus(3, header.Opcode, OpenMvStatus.Busy);
                    break;
                }

                _locked = true;
                _lastLock = now;
                SendStatus(3, header.Opcode, OpenMvStatus.Success);
                break;
            case OpenMvOpcode.ChannelUnlock when header.Channel == 3:
                _locked = false;
                _frameReady = false; // UNLOCK zeroes the header: SIZE is 0 until the next capture.
                SendStatus(3, header.Opcode, OpenMvStatus.Success);
                break;
            case OpenMvOpcode.ChannelSize when header.Channel == 3:
                BinaryPrimitives.WriteUInt32LittleEndian(reply, _frameReady ? (uint)_frame.Length : 0);
                SendData(3, header.Opcode, reply[..4]);
                break;
            case OpenMvOpcode.ChannelRead when header.Channel == 3 && payload.Length == 8:
                Interlocked.Increment(ref ReadRequests);
                var offset = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                var length = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
                if (!_frameReady || (long)offset + length > _frame.Length)
                {
                    SendStatus(3, header.Opcode, OpenMvStatus.Invalid);
                    break;
                }

                if (SendData(3, header.Opcode, _frame.AsSpan((int)offset, (int)length)) && offset + length == _frame.Length && _locked)
                {
                    Interlocked.Increment(ref FramesServed);
                    lock (Served)
                    {
                        Served.Add(BinaryPrimitives.ReadInt32LittleEndian(_frame.AsSpan(24)));
                    }
                }

                break;
            case OpenMvOpcode.ChannelIoctl when header.Channel == 3 && payload.Length >= 4:
                // omv_protocol_channel_stream.c: 0 STREAM_CTRL u32, 1 RAW_CTRL u32, 2 RAW_CFG (w, h), 3 SOURCE u32.
                var request = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                if (request == 0 && payload.Length == 8)
                {
                    _streamEnabled = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]) != 0;
                    if (_streamEnabled)
                    {
                        Interlocked.Increment(ref StreamEnables);
                    }

                    SendStatus(3, header.Opcode, OpenMvStatus.Success);
                }
                else
                {
                    SendStatus(3, header.Opcode, OpenMvStatus.Invalid);
                }

                break;
            default:
                SendStatus(header.Channel, header.Opcode, OpenMvStatus.Invalid);
                break;
        }
    }

    private static void WriteChannel(Span<byte> entry, byte id, OpenMvChannelFlags flags, ReadOnlySpan<byte> name)
    {
        entry[0] = id;
        entry[1] = (byte)flags;
        name.CopyTo(entry[2..]);
    }

    private void SendStatus(byte channel, OpenMvOpcode opcode, OpenMvStatus status, byte? sequence = null)
    {
        _tx.Clear();
        if (status == OpenMvStatus.Success)
        {
            OpenMvPacketHeader.Encode(_tx, sequence ?? _seq, channel, OpenMvFlags.Ack, opcode, default);
        }
        else
        {
            Span<byte> code = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(code, (ushort)status);
            OpenMvPacketHeader.Encode(_tx, sequence ?? _seq, channel, OpenMvFlags.Nak, opcode, code);
        }

        Transmit(_tx.WrittenSpan);
        _seq++;
    }

    /// <summary>Sends a data reply, fragmented at the max payload, each packet waiting for its ACK when ACKs are on.</summary>
    private bool SendData(byte channel, OpenMvOpcode opcode, ReadOnlySpan<byte> data)
    {
        var acks = (_caps & OpenMvCapabilities.Ack) != 0;
        do
        {
            var take = Math.Min(data.Length, _maxPayload);
            var flags = (acks ? OpenMvFlags.AckRequired : 0) | (take < data.Length ? OpenMvFlags.Fragment : 0);
            if (!SendWaitingForAck(channel, opcode, flags, data[..take]))
            {
                return false;
            }

            data = data[take..];
        }
        while (data.Length > 0);
        return true;
    }

    private bool SendWaitingForAck(byte channel, OpenMvOpcode opcode, OpenMvFlags flags, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[OpenMvProtocol.PacketSize(payload.Length)];
        OpenMvPacketHeader.Encode(packet, _seq, channel, flags, opcode, payload);
        if (Faults.DelayRate > 0 && _random.NextDouble() < Faults.DelayRate)
        {
            Thread.Sleep(Faults.DelayMilliseconds);
        }

        Transmit(packet);
        if ((flags & OpenMvFlags.AckRequired) == 0)
        {
            _seq++;
            return true;
        }

        var timeout = AckTimeoutMilliseconds;
        for (var attempt = 0; attempt <= 3; attempt++)
        {
            var deadline = Stopwatch.GetTimestamp() + (timeout * Stopwatch.Frequency / 1000);
            var nak = false;
            while (!_stopping && !nak)
            {
                var left = (int)((deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
                if (left <= 0)
                {
                    break;
                }

                if (!TryReceivePacket(Math.Min(left, 20), out var header, out var received, out var corrupt) || corrupt)
                {
                    continue;
                }

                if (header.Length == 0 && (header.Flags & OpenMvFlags.Ack) != 0 && header.Opcode == opcode && header.Sequence == _seq)
                {
                    if (Faults.DropAckRate > 0 && _random.NextDouble() < Faults.DropAckRate)
                    {
                        Interlocked.Increment(ref AcksDropped);
                        continue;
                    }

                    _seq++;
                    return true;
                }

                nak = (header.Flags & OpenMvFlags.Nak) != 0 && header.Sequence == _seq && header.Opcode == opcode;
                // Anything else is dropped while the device waits for its ACK (the firmware blocks here).
            }

            if (_stopping || attempt == 3)
            {
                break;
            }

            if (!nak)
            {
                timeout *= 2;
            }

            // Retransmit with RTX and the CRC recomputed.
            OpenMvPacketHeader.Encode(packet, _seq, channel, flags | OpenMvFlags.Rtx, opcode, payload);
            Interlocked.Increment(ref Retransmits);
            Transmit(packet);
        }

        Interlocked.Increment(ref ProtocolResets);
        Reset();
        return false;
    }

    private void Transmit(ReadOnlySpan<byte> packet)
    {
        if (Faults.Silent)
        {
            return;
        }

        if (Faults.DropRate > 0 && _random.NextDouble() < Faults.DropRate)
        {
            Interlocked.Increment(ref PacketsDropped);
            return;
        }

        var bytes = packet.ToArray();
        if (Faults.CorruptRate > 0 && _random.NextDouble() < Faults.CorruptRate)
        {
            bytes[_random.Next(bytes.Length)] ^= (byte)(1 << _random.Next(8));
            Interlocked.Increment(ref PacketsCorrupted);
        }

        if (Faults.ReorderRate > 0 && _random.NextDouble() < Faults.ReorderRate)
        {
            _held.Add((Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 50), bytes));
            return;
        }

        _link!.Send(bytes);
        FlushHeld(force: true);
    }

    private void FlushHeld(bool force)
    {
        for (var i = 0; i < _held.Count; i++)
        {
            if (force || Stopwatch.GetTimestamp() >= _held[i].Due)
            {
                _link!.Send(_held[i].Packet);
                _held.RemoveAt(i--);
            }
        }
    }

    private bool TryReceivePacket(int timeoutMilliseconds, out OpenMvPacketHeader header, out ReadOnlySpan<byte> payload, out bool corrupt)
    {
        var deadline = Stopwatch.GetTimestamp() + (timeoutMilliseconds * Stopwatch.Frequency / 1000);
        while (true)
        {
            var result = _decoder.TryDecode(out header, out payload);
            if (result != OpenMvDecodeResult.NeedMoreData)
            {
                corrupt = result == OpenMvDecodeResult.CorruptPayload;
                if (Faults.Silent)
                {
                    continue;
                }

                return true;
            }

            var left = (int)((deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
            if (left <= 0 || _stopping)
            {
                corrupt = false;
                return false;
            }

            var memory = _decoder.GetMemory();
            _decoder.Advance(_link!.Receive(memory.Span, left));
        }
    }

    /// <summary>The device's end of the link.</summary>
    private interface IDeviceLink : IDisposable
    {
        void Send(ReadOnlySpan<byte> data);

        int Receive(Span<byte> buffer, int timeoutMilliseconds);
    }

    /// <summary>The device end of a socat pty pair: raw already (socat's raw,echo=0), read after poll.</summary>
    private sealed partial class SerialDeviceLink : IDeviceLink
    {
        private readonly SafeFileHandle _handle;

        public SerialDeviceLink(string path)
        {
            if (!File.Exists(path))
            {
                throw new IOException($"{path} is not there");
            }

            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        }

        public void Send(ReadOnlySpan<byte> data)
        {
            while (data.Length > 0)
            {
                var written = Write(_handle, data, (nuint)data.Length);
                if (written <= 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (written < 0 && errno is 4 or 11)
                    {
                        Thread.Sleep(1);
                        continue;
                    }

                    throw new IOException($"write: errno {errno}");
                }

                data = data[(int)written..];
            }
        }

        public int Receive(Span<byte> buffer, int timeoutMilliseconds)
        {
            var entry = new PollFd { Fd = (int)_handle.DangerousGetHandle(), Events = 1 };
            var ready = Poll(ref entry, 1, timeoutMilliseconds);
            if (ready <= 0)
            {
                return 0;
            }

            if ((entry.Revents & 1) == 0)
            {
                throw new IOException("hang-up");
            }

            var read = Read(_handle, buffer, (nuint)buffer.Length);
            return read > 0 ? (int)read : throw new IOException("end of file or read error");
        }

        public void Dispose() => _handle.Dispose();

        [StructLayout(LayoutKind.Sequential)]
        private struct PollFd
        {
            public int Fd;
            public short Events;
            public short Revents;
        }

        [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
        private static partial int Poll(ref PollFd fds, nuint count, int timeout);

        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
        private static partial nint Read(SafeHandle fd, Span<byte> buffer, nuint count);

        [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
        private static partial nint Write(SafeHandle fd, ReadOnlySpan<byte> buffer, nuint count);
    }

    /// <summary>The device's UDP port: replies go to whoever sent the last datagram (the host).</summary>
    private sealed class UdpDeviceLink : IDeviceLink
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private EndPoint? _peer;

        public UdpDeviceLink(int port)
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        }

        public void Send(ReadOnlySpan<byte> data)
        {
            if (_peer is not null)
            {
                _socket.SendTo(data, SocketFlags.None, _peer);
            }
        }

        public int Receive(Span<byte> buffer, int timeoutMilliseconds)
        {
            if (!_socket.Poll(TimeSpan.FromMilliseconds(timeoutMilliseconds), SelectMode.SelectRead))
            {
                return 0;
            }

            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            var read = _socket.ReceiveFrom(buffer, SocketFlags.None, ref from);
            _peer = from;
            return read;
        }

        public void Dispose() => _socket.Dispose();
    }
}
