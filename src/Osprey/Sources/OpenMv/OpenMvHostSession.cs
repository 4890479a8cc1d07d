using System.Buffers;
using System.Buffers.Binary;
using Osprey.Codecs.Jpeg;
using Osprey.Feeds;
using Osprey.Media;
using Osprey.Protocols.OpenMv;

namespace Osprey.Sources.OpenMv;

/// <summary>
/// One connection to a camera: the handshake (SYNC, GET_CAPS, SET_CAPS, CHANNEL_LIST, STREAM_CTRL, PROTO_VERSION)
/// and the frame loop: on the stream channel wait for frame-ready, LOCK, SIZE, one READ of the whole frame (the
/// camera fragments it), UNLOCK; on a script's channel (<see cref="OpenMvOptions.Channel"/>) wait for its event or
/// POLL, SIZE, one READ.
/// </summary>
/// <remarks>
/// <para>Synchronous on purpose: the protocol is stop-and-wait, so one dedicated thread per camera blocking in
/// poll(2) costs less than async state machines per packet, and the order of bytes on the link is obvious.</para>
/// <para>Recovery: a request with no reply in time is sent again (same sequence: the device never saw it) up to 3
/// times; a checksum NAK sends it again at once. A duplicate (the device retransmitted because our ACK was lost)
/// is ACKed again and the reply still awaited: the firmware answers a request buffered meanwhile. A damaged
/// packet is not NAKed but left to the device's retransmission. Losing lockstep (NAK SEQUENCE, no reply after the
/// retries) and a SOFT_REBOOT event re-SYNC, which also unlocks the stream channel, so the frame being read is
/// dropped and the next one read whole under a new LOCK: a published frame is never stitched from two captures.
/// A script's channel latches its frame until the last byte is read, so a re-read after a re-SYNC is whole too.</para>
/// <para>Owned by one run of <see cref="OpenMvSource"/>; not thread-safe.</para>
/// </remarks>
internal sealed partial class OpenMvHostSession
{
    private const int Retries = 3;
    private const int MaxFrameBytes = 16 << 20;
    private static readonly TimeSpan s_eventWait = TimeSpan.FromMilliseconds(200);

    /// <summary>The firmware's <c>lock_intval_ms</c>: LOCK answers BUSY this soon after the last one.</summary>
    private static readonly TimeSpan s_lockInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>BUSY answers taken as "too soon" after a frame-ready event before waiting for the next event.</summary>
    private const int MaxBusyRetriesPerEvent = 50;

    private readonly IOpenMvTransport _transport;
    private readonly OpenMvOptions _options;
    private readonly OpenMvStats _stats;
    private readonly TimeProvider _time;
    private readonly OpenMvPacketDecoder _decoder = new();
    private readonly OpenMvHostLink _link = new();
    private readonly ArrayBufferWriter<byte> _tx = new(OpenMvProtocol.MaxBufferSize);
    private readonly ArrayBufferWriter<byte> _acks = new(64);
    private byte _frameChannel = OpenMvProtocol.StreamChannel;
    private bool _synced;
    private bool _frameReady;
    private bool _lockBusy;
    private bool _events;
    private int _maxPayload = OpenMvProtocol.MinPayload;
    private uint _counter;
    private byte[] _scratch = [];
    private (long HeaderCrc, long Garbage, long Rtx, long Duplicates, long Sequence, long Naks, long Events, long Acks) _reported;

    public OpenMvHostSession(IOpenMvTransport transport, OpenMvOptions options, OpenMvStats stats, TimeProvider time, uint firstCounter)
    {
        _transport = transport;
        _options = options;
        _stats = stats;
        _time = time;
        _counter = firstCounter;
    }

    /// <summary>The probe counter of the last frame published (it carries on across connections).</summary>
    public uint Counter => _counter;

    /// <summary>The negotiated max payload.</summary>
    public int MaxPayload => _maxPayload;

    /// <summary>SYNC, GET_CAPS, SET_CAPS, CHANNEL_LIST, PROTO_VERSION. Returns what the device said it is.</summary>
    public string Connect(CancellationToken cancellationToken)
    {
        Sync(cancellationToken);
        var caps = Transact(0, OpenMvOpcode.ProtoGetCaps, default, cancellationToken);
        if (caps.Kind != OpenMvReceiveKind.Data || _link.Reply.Length < 6)
        {
            throw new OpenMvLinkException($"GET_CAPS: unexpected {caps.Kind} ({_link.Reply.Length} bytes)");
        }

        var deviceFlags = (OpenMvCapabilities)BinaryPrimitives.ReadUInt32LittleEndian(_link.Reply);
        var deviceMax = BinaryPrimitives.ReadUInt16LittleEndian(_link.Reply[4..]);
        _events = _options.Events && (deviceFlags & OpenMvCapabilities.Events) != 0;
        _maxPayload = Math.Clamp(Math.Min((int)deviceMax, _options.MaxPayload), OpenMvProtocol.MinPayload, OpenMvProtocol.MaxPayload);
        SetCaps(cancellationToken);

        FindFrameChannel(cancellationToken);
        EnableStream(cancellationToken);
        var device = "OpenMV";
        var version = Transact(0, OpenMvOpcode.ProtoVersion, default, cancellationToken);
        if (version.Kind == OpenMvReceiveKind.Data && _link.Reply.Length >= 9)
        {
            var v = _link.Reply;
            device = FormattableString.Invariant($"OpenMV firmware {v[6]}.{v[7]}.{v[8]}, protocol {v[0]}.{v[1]}.{v[2]}");
        }

        _stats.SetDevice(device, _maxPayload);
        ReportCounters();
        return device;
    }

    /// <summary>Reads frames into <paramref name="feed"/> until cancelled; throws when the link is lost for good.</summary>
    public void Run(Feed feed, CancellationToken cancellationToken)
    {
        var failures = 0;
        var busyAfterEvent = 0;
        var resync = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var publishedBefore = _counter;
            try
            {
                if (resync)
                {
                    _stats.AddResync();
                    Sync(cancellationToken);
                    SetCaps(cancellationToken);
                    if (!_options.IsStreamChannel)
                    {
                        FindFrameChannel(cancellationToken); // a script that restarted may have registered it anew
                    }

                    EnableStream(cancellationToken);
                    resync = false;
                }

                if (_events && !_frameReady)
                {
                    WaitForFrameReady(cancellationToken);
                }

                var announced = _frameReady;
                _frameReady = false;
                _lockBusy = false;
                var got = TryReadFrame(feed, announced, cancellationToken);
                failures = 0;
                if (got)
                {
                    busyAfterEvent = 0;
                }
                else if (!_events)
                {
                    cancellationToken.WaitHandle.WaitOne(_options.PollInterval);
                }
                else if (announced && _lockBusy && ++busyAfterEvent <= MaxBusyRetriesPerEvent)
                {
                    // The camera said a frame is ready, but LOCK came within its minimum lock interval (10 ms):
                    // the event will not come again, so try again after that interval instead of waiting for it.
                    _frameReady = true;
                    cancellationToken.WaitHandle.WaitOne(s_lockInterval);
                }
                else
                {
                    busyAfterEvent = 0;
                }
            }
            catch (OpenMvLinkException)
            {
                // A frame published before the failure (UNLOCK refused after a whole READ) is progress, not a
                // failure in a row: only a link that yields nothing for Retries+1 tries is lost.
                failures = _counter != publishedBefore ? 1 : failures + 1;
                if (failures > Retries)
                {
                    throw;
                }

                resync = true;
            }
            finally
            {
                ReportCounters();
            }
        }
    }

    private void Sync(CancellationToken cancellationToken)
    {
        _synced = false; // a SOFT_REBOOT event seen now is the reason for this SYNC, not a new one
        for (var attempt = 0; attempt < Retries; attempt++)
        {
            _decoder.Reset();
            _tx.Clear();
            _link.WriteSync(_tx);
            _transport.Send(_tx.WrittenSpan);
            _stats.AddRequest(attempt > 0);
            var deadline = _time.GetTimestamp() + Ticks(_options.RequestTimeout);
            while (TryReceive(ref deadline, cancellationToken, out var received))
            {
                if (received.Kind == OpenMvReceiveKind.Ack)
                {
                    _frameReady = false;
                    _synced = true;
                    return;
                }
            }

            _stats.AddTimeout();
        }

        throw new OpenMvLinkException($"{_transport.Description}: no answer to SYNC (is it an OpenMV camera running protocol V2?)");
    }

    /// <summary>
    /// Turns the stream buffer on (the stream channel's IOCTL STREAM_CTRL(1), as openmv-python does): the firmware
    /// boots with it off and answers LOCK with BUSY for ever until a host asks. Sent after every (re)sync, because
    /// a camera that rebooted or was re-plugged is off again.
    /// </summary>
    private void EnableStream(CancellationToken cancellationToken)
    {
        if (!_options.IsStreamChannel)
        {
            return; // a script's channel serves what the script captures; the stream buffer is not involved
        }

        Span<byte> request = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(request, OpenMvProtocol.StreamIoctlStreamControl);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], 1);
        var reply = Transact(_frameChannel, OpenMvOpcode.ChannelIoctl, request, cancellationToken);
        if (reply.Kind != OpenMvReceiveKind.Ack)
        {
            // Older firmware without the ioctl streams anyway; say so rather than fail the link.
            _stats.SetStreamControl($"STREAM_CTRL refused ({reply.Kind}{(reply.Kind == OpenMvReceiveKind.Nak ? " " + reply.Status : "")})");
            return;
        }

        _stats.SetStreamControl("enabled");
    }

    private void SetCaps(CancellationToken cancellationToken)
    {
        Span<byte> caps = stackalloc byte[OpenMvProtocol.CapsSize];
        caps.Clear();
        var flags = OpenMvCapabilities.Crc | OpenMvCapabilities.Sequence
            | (_options.Acks ? OpenMvCapabilities.Ack : 0) | (_events ? OpenMvCapabilities.Events : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(caps, (uint)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(caps[4..], (ushort)_maxPayload);
        var reply = Transact(0, OpenMvOpcode.ProtoSetCaps, caps, cancellationToken);
        if (reply.Kind != OpenMvReceiveKind.Ack)
        {
            throw new OpenMvLinkException($"SET_CAPS max payload {_maxPayload}: {reply.Kind} {reply.Status}");
        }
    }

    /// <summary>Finds <see cref="OpenMvOptions.Channel"/> in CHANNEL_LIST; a script's channel that is missing fails the link.</summary>
    private void FindFrameChannel(CancellationToken cancellationToken)
    {
        var list = Transact(0, OpenMvOpcode.ChannelList, default, cancellationToken);
        var names = new List<string>();
        if (list.Kind == OpenMvReceiveKind.Data)
        {
            for (var entry = _link.Reply; entry.Length >= OpenMvProtocol.ChannelEntrySize; entry = entry[OpenMvProtocol.ChannelEntrySize..])
            {
                var name = entry.Slice(2, 14);
                var end = name.IndexOf((byte)0);
                var text = System.Text.Encoding.ASCII.GetString(name[..(end < 0 ? name.Length : end)]);
                names.Add(text);
                if (text == _options.Channel)
                {
                    _frameChannel = entry[0];
                    return;
                }
            }
        }

        if (!_options.IsStreamChannel)
        {
            throw new OpenMvLinkException($"the camera has no channel '{_options.Channel}' (it lists {(names.Count == 0 ? "none" : string.Join(", ", names))}); is its script running?");
        }
    }

    private bool TryReadFrame(Feed feed, bool announced, CancellationToken cancellationToken) =>
        _options.IsStreamChannel ? TryReadStreamFrame(feed, cancellationToken) : TryReadScriptFrame(feed, announced, cancellationToken);

    /// <summary>
    /// OpenMV's streaming-frames pattern for a script's channel: its frame is latched until the host reads the last
    /// byte, POLL says whether one is latched (skipped after the channel's event said so), SIZE gives its length.
    /// </summary>
    private bool TryReadScriptFrame(Feed feed, bool announced, CancellationToken cancellationToken)
    {
        var channel = _frameChannel;
        if (!announced)
        {
            var poll = Transact(0, OpenMvOpcode.ChannelPoll, default, cancellationToken);
            Expect(poll, OpenMvReceiveKind.Data, "POLL");
            var ready = _link.Reply.Length >= 4 && (BinaryPrimitives.ReadUInt32LittleEndian(_link.Reply) & (1u << channel)) != 0;
            if (!ready)
            {
                return false;
            }
        }

        var sizeReply = Transact(channel, OpenMvOpcode.ChannelSize, default, cancellationToken);
        Expect(sizeReply, OpenMvReceiveKind.Data, "SIZE");
        var total = _link.Reply.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(_link.Reply) : 0;
        if (total == 0)
        {
            return false;
        }

        if (total > MaxFrameBytes)
        {
            _stats.AddBadFrame();
            return false;
        }

        ReadWhole(channel, total, cancellationToken);
        Publish(feed, _scratch.AsSpan(0, (int)total));
        return true;
    }

    private bool TryReadStreamFrame(Feed feed, CancellationToken cancellationToken)
    {
        var channel = _frameChannel;
        var lockReply = Transact(channel, OpenMvOpcode.ChannelLock, default, cancellationToken);
        if (lockReply.Kind == OpenMvReceiveKind.Nak && lockReply.Status == OpenMvStatus.Busy)
        {
            _stats.AddBusy();
            _lockBusy = true;
            return false; // No frame yet (or within 10 ms of the last lock).
        }

        Expect(lockReply, OpenMvReceiveKind.Ack, "LOCK");
        var sizeReply = Transact(channel, OpenMvOpcode.ChannelSize, default, cancellationToken);
        Expect(sizeReply, OpenMvReceiveKind.Data, "SIZE");
        var total = _link.Reply.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(_link.Reply) : 0;
        if (total == 0)
        {
            Unlock(channel, cancellationToken);
            return false;
        }

        if (total < OpenMvFrameHeader.MinimumSize || total > MaxFrameBytes)
        {
            Unlock(channel, cancellationToken);
            _stats.AddBadFrame();
            return false;
        }

        // Everything under the one LOCK: the camera keeps this capture until UNLOCK, so the bytes are one frame.
        ReadWhole(channel, total, cancellationToken);
        try
        {
            Unlock(channel, cancellationToken);
        }
        finally
        {
            // The bytes are whole whatever UNLOCK answers: a failed UNLOCK costs a re-SYNC, not the frame.
            Publish(feed, _scratch.AsSpan(0, (int)total));
        }

        return true;
    }

    /// <summary>
    /// One READ for the whole frame into the scratch buffer, which the camera sends as fragments of the max payload
    /// (as openmv-python asks): on UART and UDP, polled every 10 ms by the firmware, each extra request costs a tick.
    /// </summary>
    private void ReadWhole(byte channel, uint total, CancellationToken cancellationToken)
    {
        if (_scratch.Length < total)
        {
            _scratch = GC.AllocateUninitializedArray<byte>((int)Math.Max(total, 64 * 1024));
        }

        Span<byte> request = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(request, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], total);
        var read = Transact(channel, OpenMvOpcode.ChannelRead, request, cancellationToken, (int)total);
        Expect(read, OpenMvReceiveKind.Data, "READ");
        if (_link.Reply.Length != total)
        {
            throw new OpenMvLinkException($"READ 0+{total}: got {_link.Reply.Length} bytes");
        }

        _link.Reply.CopyTo(_scratch);
    }

    private void Unlock(byte channel, CancellationToken cancellationToken) =>
        Expect(Transact(channel, OpenMvOpcode.ChannelUnlock, default, cancellationToken), OpenMvReceiveKind.Ack, "UNLOCK");

    private void Publish(Feed feed, ReadOnlySpan<byte> data)
    {
        var now = ProbeHeader.NowMicros(_time);
        if (data is [0xFF, 0xD8, ..])
        {
            PublishBareJpeg(feed, data, now);
            return;
        }

        if (!OpenMvFrameHeader.TryRead(data, out var header) || header.Offset + header.ImageBytes > data.Length)
        {
            _stats.AddBadFrame();
            return;
        }

        var image = data.Slice((int)header.Offset, (int)header.ImageBytes);
        var width = (int)header.Width;
        var height = (int)header.Height;
        Frame frame;
        MediaFormat format;
        if (header.IsJpeg)
        {
            if (JpegProbe.CopyToFrame(feed.Pool, image, _counter + 1, now, width, height) is not { } jpeg)
            {
                _stats.AddBadFrame();
                return;
            }

            ++_counter;
            format = MediaFormat.Jpeg;
            frame = jpeg;
        }
        else if (header.PixelFormat is OpenMvFrameHeader.Rgb565 or OpenMvFrameHeader.Grayscale)
        {
            format = MediaFormat.Yuyv;
            var length = OpenMvPixels.YuyvSize(width, height);
            frame = feed.Pool.Rent(length);
            var destination = frame.GetWritableSpan(length);
            if (header.PixelFormat == OpenMvFrameHeader.Rgb565)
            {
                OpenMvPixels.Rgb565ToYuyv(image, width, height, destination);
            }
            else
            {
                OpenMvPixels.GrayscaleToYuyv(image, width, height, destination);
            }

            width &= ~1;
            ++_counter;
        }
        else
        {
            _stats.AddBadFrame();
            return;
        }

        Deliver(feed, frame, format, width, height, now, data.Length);
    }

    /// <summary>A script's channel that serves the JPEG itself, with no frame-buffer header (OpenMV's guide).</summary>
    private void PublishBareJpeg(Feed feed, ReadOnlySpan<byte> jpeg, long now)
    {
        if (!JpegMarkers.TryReadSize(jpeg, out var width, out var height)
            || JpegProbe.CopyToFrame(feed.Pool, jpeg, _counter + 1, now, width, height) is not { } frame)
        {
            _stats.AddBadFrame();
            return;
        }

        ++_counter;
        Deliver(feed, frame, MediaFormat.Jpeg, width, height, now, jpeg.Length);
    }

    private void Deliver(Feed feed, Frame frame, MediaFormat format, int width, int height, long now, int bytesRead)
    {
        frame.StampCaptured(format, width, height, true, now);
        var info = feed.Info;
        if (info.Format != format || info.Width != width || info.Height != height)
        {
            feed.Info = info with { Format = format, Width = width, Height = height };
        }

        _stats.AddFrame(bytesRead);
        _stats.SetLink("streaming");
        feed.Publish(frame);
    }

    private void ReportCounters()
    {
        var now = (_decoder.HeaderCrcErrors, _decoder.GarbageBytes, _link.RetransmitsReceived, _link.Duplicates, _link.SequenceErrors, _link.Naks, _link.Events, _link.AcksSent);
        var last = _reported;
        _stats.AddDeltas(now.HeaderCrcErrors - last.HeaderCrc, now.GarbageBytes - last.Garbage, now.RetransmitsReceived - last.Rtx,
            now.Duplicates - last.Duplicates, now.SequenceErrors - last.Sequence, now.Naks - last.Naks, now.Events - last.Events, now.AcksSent - last.Acks);
        _reported = now;
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}
