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

    /// <summary>
    /// Probability that a data packet the device sends has one byte of its payload flipped (the header stays
    /// good, so the host knows which packet it was, as with noise on a long USB or UART line).
    /// </summary>
    public double CorruptPayloadRate { get; set; }

    /// <summary>Probability that UNLOCK is answered NAK FAILED (the frame read under that lock is whole).</summary>
    public double UnlockFailRate { get; set; }

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
/// WAIT_ACK after each data packet when ACKs are on (500 ms doubling, 3 retries, then a protocol reset; a NAK
/// leaves the failed status set, so the retries go out at once and the device resets, as
/// <c>omv_protocol_send_packet</c> does), keeps a request that arrives while it waits for an ACK buffered and
/// answers it afterwards, answers LOCK with BUSY when no frame is ready or within the lock interval, zeroes the
/// frame on UNLOCK, and sends a CHANNEL_EVENT NOTIFY on channel 3 after each capture (openmv/openmv
/// protocol/omv_protocol*.c). Optionally a script's <c>frame</c> channel as OpenMV's streaming-frames guide
/// registers it, events sent with ACK_REQ, and soft reboots.
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
    private readonly Queue<(OpenMvPacketHeader Header, byte[] Payload, bool Corrupt)> _buffered = new();
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
    private byte[] _scriptFrame = [];
    private int _scriptFrameIndex;
    private bool _scriptFrameAvailable;
    private volatile bool _rebootArmed;
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
    public long NaksReceived;
    public long SequenceNaksSent;
    public long UnlockFailures;
    public long EventAcksReceived;
    public long SoftReboots;
    public long PollRequests;

    /// <summary>
    /// Sends CHANNEL_EVENTs with ACK_REQ and blocks until the host ACKs each, as a script's
    /// <c>send_event(..., wait_ack=True)</c> does.
    /// </summary>
    public bool EventsRequireAck { get; set; }

    /// <summary>
    /// A script registered the channel <c>frame</c> (id 4) of OpenMV's streaming-frames guide: a bare JPEG latched
    /// until the host reads its last byte, POLL bit 4 set while one is latched, SIZE its length, an event 0x01 on
    /// channel 4 when a new one is ready. The stream channel then yields nothing.
    /// </summary>
    public bool FrameChannel { get; set; }

    /// <summary>The channel id of <see cref="FrameChannel"/>.</summary>
    public const byte FrameChannelId = 4;

    /// <summary>OMV_PROTOCOL_EVENT_SOFT_REBOOT, the system event a soft reboot sends.</summary>
    private const ushort SoftRebootEvent = 2;

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
        _buffered.Clear();
    }

    /// <summary>
    /// The camera soft-reboots (a script started or stopped) right after it has served the next whole frame, when
    /// the host has no request outstanding: it sends the SOFT_REBOOT system event, then comes back with its
    /// protocol state new (sequence 0, default caps, the stream buffer off) and its frame channel's latch empty.
    /// </summary>
    public void SoftReboot() => _rebootArmed = true;

    private void RebootIfArmed()
    {
        if (_rebootArmed)
        {
            _rebootArmed = false;
            Reboot();
        }
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
            if (FrameChannel ? !_scriptFrameAvailable && now >= _nextCapture : _streamEnabled && !_locked && !_frameReady && now >= _nextCapture)
            {
                Capture();
            }

            OpenMvPacketHeader header;
            ReadOnlySpan<byte> payload;
            bool corrupt;
            if (_buffered.TryDequeue(out var buffered))
            {
                // A request that came in while the device waited for an ACK: still in its buffer, answered now.
                header = buffered.Header;
                payload = buffered.Payload;
                corrupt = buffered.Corrupt;
            }
            else if (!TryReceivePacket(20, out header, out payload, out corrupt))
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

    private void Reboot()
    {
        Interlocked.Increment(ref SoftReboots);
        if ((_caps & OpenMvCapabilities.Events) != 0)
        {
            Span<byte> value = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(value, SoftRebootEvent);
            _tx.Clear();
            OpenMvPacketHeader.Encode(_tx, _seq, 0, OpenMvFlags.Event, OpenMvOpcode.SysEvent, value);
            Transmit(_tx.WrittenSpan);
        }

        Reset();
        _decoder.Reset();
        _streamEnabled = StreamEnabledAtBoot;
        _frameReady = false;
        _scriptFrameAvailable = false;
    }

    private void Capture()
    {
        var jpeg = _jpegs[_nextJpeg % _jpegs.Count];
        if (FrameChannel)
        {
            CaptureForFrameChannel(jpeg);
            return;
        }

        _frame = new byte[HeaderOffset + jpeg.Length];
        new OpenMvFrameHeader(320, 240, OpenMvFrameHeader.Jpeg, (uint)jpeg.Length, HeaderOffset).WriteTo(_frame, (float)Fps);
        BinaryPrimitives.WriteInt32LittleEndian(_frame.AsSpan(24), _nextJpeg); // the capture's index, in the header's padding
        jpeg.CopyTo(_frame, HeaderOffset);
        _nextJpeg++;
        _frameReady = true;
        Interlocked.Increment(ref FramesCaptured);
        _nextCapture = Stopwatch.GetTimestamp() + (Fps > 0 ? (long)(Stopwatch.Frequency / Fps) : 0);
        SendEvent(OpenMvProtocol.StreamChannel, null);
    }

    /// <summary>The guide's capture loop: a new snapshot only once the host has read the last byte of the previous.</summary>
    private void CaptureForFrameChannel(byte[] jpeg)
    {
        _scriptFrame = jpeg;
        _scriptFrameIndex = _nextJpeg++;
        _scriptFrameAvailable = true;
        Interlocked.Increment(ref FramesCaptured);
        _nextCapture = Stopwatch.GetTimestamp() + (Fps > 0 ? (long)(Stopwatch.Frequency / Fps) : 0);
        SendEvent(FrameChannelId, 0x01); // ch.send_event(0x01): "frame ready", the guide's application-defined id
    }

    private void SendEvent(byte channel, ushort? value)
    {
        if ((_caps & OpenMvCapabilities.Events) == 0)
        {
            return;
        }

        Span<byte> payload = stackalloc byte[2];
        if (value is { } v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(payload, v);
        }

        var body = value is null ? default : payload;
        if (EventsRequireAck && (_caps & OpenMvCapabilities.Ack) != 0)
        {
            SendWaitingForAck(channel, OpenMvOpcode.ChannelEvent, OpenMvFlags.Event | OpenMvFlags.AckRequired, body, isEvent: true);
            return;
        }

        _tx.Clear();
        OpenMvPacketHeader.Encode(_tx, _seq, channel, OpenMvFlags.Event, OpenMvOpcode.ChannelEvent, body);
        Transmit(_tx.WrittenSpan);
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
                Span<byte> list = stackalloc byte[64];
                list.Clear();
                WriteChannel(list, 1, OpenMvChannelFlags.Write | OpenMvChannelFlags.Exec, "stdin"u8);
                WriteChannel(list[16..], 2, OpenMvChannelFlags.Read, "stdout"u8);
                WriteChannel(list[32..], 3, OpenMvChannelFlags.Read | OpenMvChannelFlags.Lock | OpenMvChannelFlags.Stream, "stream"u8);
                if (FrameChannel)
                {
                    WriteChannel(list[48..], FrameChannelId, OpenMvChannelFlags.Read | OpenMvChannelFlags.Dynamic, "frame"u8);
                }

                SendData(0, header.Opcode, list[..(FrameChannel ? 64 : 48)]);
                break;
            case OpenMvOpcode.ChannelPoll:
                Interlocked.Increment(ref PollRequests);
                var bits = (_frameReady ? 1u << 3 : 0) | (FrameChannel && _scriptFrameAvailable ? 1u << FrameChannelId : 0);
                BinaryPrimitives.WriteUInt32LittleEndian(reply, bits);
                SendData(0, header.Opcode, reply[..4]);
                break;
            case OpenMvOpcode.ChannelSize when FrameChannel && header.Channel == FrameChannelId:
                // The guide's size(): the cached JPEG's length, whether or not it was read already.
                BinaryPrimitives.WriteUInt32LittleEndian(reply, (uint)_scriptFrame.Length);
                SendData(FrameChannelId, header.Opcode, reply[..4]);
                break;
            case OpenMvOpcode.ChannelRead when FrameChannel && header.Channel == FrameChannelId && payload.Length == 8:
                Interlocked.Increment(ref ReadRequests);
                var from = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                var count = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
                if ((long)from + count > _scriptFrame.Length)
                {
                    SendStatus(FrameChannelId, header.Opcode, OpenMvStatus.Invalid);
                    break;
                }

                var served = _scriptFrame;
                var servedIndex = _scriptFrameIndex;
                if (from + count == served.Length)
                {
                    _scriptFrameAvailable = false; // readp saw the last byte: the capture loop may refresh
                }

                if (SendData(FrameChannelId, header.Opcode, served.AsSpan((int)from, (int)count)) && from == 0 && count == served.Length)
                {
                    Interlocked.Increment(ref FramesServed);
                    lock (Served)
                    {
                        Served.Add(servedIndex);
                    }

                    RebootIfArmed();
                }

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
            case OpenMvOpcode.ChannelUnlock when header.Channel == 3 && Faults.UnlockFailRate > 0 && _random.NextDouble() < Faults.UnlockFailRate:
                Interlocked.Increment(ref UnlockFailures);
                SendStatus(3, header.Opcode, OpenMvStatus.Failed);
                break;
            case OpenMvOpcode.ChannelUnlock when header.Channel == 3:
                _locked = false;
                _frameReady = false; // UNLOCK zeroes the header: SIZE is 0 until the next capture.
                SendStatus(3, header.Opcode, OpenMvStatus.Success);
                RebootIfArmed();
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
        if (status == OpenMvStatus.Sequence)
        {
            Interlocked.Increment(ref SequenceNaksSent);
        }

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

    private bool SendWaitingForAck(byte channel, OpenMvOpcode opcode, OpenMvFlags flags, ReadOnlySpan<byte> payload, bool isEvent = false)
    {
        var packet = new byte[OpenMvProtocol.PacketSize(payload.Length)];
        OpenMvPacketHeader.Encode(packet, _seq, channel, flags, opcode, payload);
        if (Faults.DelayRate > 0 && _random.NextDouble() < Faults.DelayRate)
        {
            Thread.Sleep(Faults.DelayMilliseconds);
        }

        Transmit(packet, isData: !isEvent && payload.Length > 0);
        if ((flags & OpenMvFlags.AckRequired) == 0)
        {
            _seq++;
            return true;
        }

        // omv_protocol_send_packet: the timeout doubles on every retry, and a NAK's failed status is never cleared,
        // so after one NAK every remaining retry goes out at once and the device resets.
        var timeout = AckTimeoutMilliseconds;
        var failed = false;
        for (var attempt = 0; attempt <= 3; attempt++)
        {
            var deadline = Stopwatch.GetTimestamp() + ((failed ? 0 : timeout) * Stopwatch.Frequency / 1000);
            while (!_stopping && !failed)
            {
                var left = (int)((deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
                if (left <= 0)
                {
                    break;
                }

                if (!TryReceivePacket(Math.Min(left, 20), out var header, out var received, out var corrupt))
                {
                    continue;
                }

                if (!corrupt && header.Opcode == OpenMvOpcode.ProtoSync && !header.IsStatus)
                {
                    // A SYNC ends the wait (omv_protocol_task's WAIT_ACK state): reset and ACK it.
                    Reset();
                    SendStatus(0, OpenMvOpcode.ProtoSync, OpenMvStatus.Success, sequence: 0);
                    _seq = 0;
                    return false;
                }

                var matches = !corrupt && header.IsStatus && header.Opcode == opcode && header.Sequence == _seq;
                if (matches && (header.Flags & OpenMvFlags.Ack) != 0)
                {
                    if (Faults.DropAckRate > 0 && _random.NextDouble() < Faults.DropAckRate)
                    {
                        Interlocked.Increment(ref AcksDropped);
                        continue;
                    }

                    if (isEvent)
                    {
                        Interlocked.Increment(ref EventAcksReceived);
                    }
                    else
                    {
                        _seq++;
                    }

                    return true;
                }

                if (matches)
                {
                    Interlocked.Increment(ref NaksReceived);
                    failed = true;
                }
                else if (!header.IsStatus && _buffered.Count < 16)
                {
                    // The firmware scans its buffer for the ACK and leaves everything else in it: a request the
                    // host sent meanwhile is answered once the wait is over.
                    _buffered.Enqueue((header, received.ToArray(), corrupt));
                }
            }

            if (_stopping || attempt == 3)
            {
                break;
            }

            timeout *= 2;

            // Retransmit with RTX and the CRC recomputed.
            OpenMvPacketHeader.Encode(packet, _seq, channel, flags | OpenMvFlags.Rtx, opcode, payload);
            Interlocked.Increment(ref Retransmits);
            Transmit(packet, isData: !isEvent && payload.Length > 0);
        }

        Interlocked.Increment(ref ProtocolResets);
        Reset();
        return false;
    }

    private void Transmit(ReadOnlySpan<byte> packet, bool isData = false)
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
        else if (isData && Faults.CorruptPayloadRate > 0 && _random.NextDouble() < Faults.CorruptPayloadRate)
        {
            var payloadBytes = bytes.Length - OpenMvProtocol.HeaderSize - OpenMvProtocol.PayloadCrcSize;
            bytes[OpenMvProtocol.HeaderSize + _random.Next(payloadBytes)] ^= (byte)(1 << _random.Next(8));
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
