namespace Osprey.Protocols.OpenMv;

/// <summary>Sizes and fixed values of OpenMV protocol V2 (openmv/openmv <c>protocol/omv_protocol.h</c>, 1.0.2).</summary>
public static class OpenMvProtocol
{
    /// <summary>The sync word, 0xD5AA little-endian: bytes <c>AA D5</c> on the wire.</summary>
    public const ushort Sync = 0xD5AA;

    /// <summary>Header bytes: sync, seq, channel, flags, opcode, length, CRC-16.</summary>
    public const int HeaderSize = 10;

    /// <summary>Bytes of the payload CRC-32, present only when the payload is not empty.</summary>
    public const int PayloadCrcSize = 4;

    /// <summary>The device's default packet buffer (<c>OMV_PROTOCOL_MAX_BUFFER_SIZE</c>).</summary>
    public const int MaxBufferSize = 4096;

    /// <summary>The largest payload: 4096 - 10 - 4.</summary>
    public const int MaxPayload = MaxBufferSize - HeaderSize - PayloadCrcSize;

    /// <summary>The smallest max payload SET_CAPS accepts: 64 - 10 - 4.</summary>
    public const int MinPayload = 64 - HeaderSize - PayloadCrcSize;

    /// <summary>Bytes of the GET_CAPS reply and the SET_CAPS request.</summary>
    public const int CapsSize = 16;

    /// <summary>Bytes of one CHANNEL_LIST entry: id, flags, 14-byte name.</summary>
    public const int ChannelEntrySize = 16;

    /// <summary>The magic line rate: the USB CDC transport speaks the protocol only at this baud with DTR raised.</summary>
    public const int MagicBaudRate = 921600;

    /// <summary>The network transport's port in the OpenMV examples.</summary>
    public const int DefaultUdpPort = 5555;

    /// <summary>The event value meaning "data ready" (NOTIFY), sent with no payload.</summary>
    public const ushort EventNotify = 0xFFFF;

    /// <summary>System event (opcode SYS_EVENT on channel 0): a dynamic channel was registered.</summary>
    public const ushort EventChannelRegistered = 0;

    /// <summary>System event: a dynamic channel was unregistered.</summary>
    public const ushort EventChannelUnregistered = 1;

    /// <summary>System event: the camera soft-rebooted (a script started or stopped): its protocol state is new.</summary>
    public const ushort EventSoftReboot = 2;

    /// <summary>The name of the firmware's stream channel.</summary>
    public const string StreamChannelName = "stream";

    /// <summary>The stream channel's IOCTL turning its buffer on (1) or off (0) (omv_protocol_channel_stream.c).</summary>
    public const uint StreamIoctlStreamControl = 0;

    /// <summary>The standard stream channel's id.</summary>
    public const byte StreamChannel = 3;

    /// <summary>Bytes on the wire of a packet with <paramref name="payloadLength"/> payload bytes.</summary>
    public static int PacketSize(int payloadLength) => HeaderSize + (payloadLength > 0 ? payloadLength + PayloadCrcSize : 0);
}

/// <summary>Packet flags (byte 4).</summary>
[Flags]
public enum OpenMvFlags : byte
{
    /// <summary>No flag: a request or an unacknowledged reply.</summary>
    None = 0,

    /// <summary>A success status, or an acknowledgement of a packet that asked for one.</summary>
    Ack = 1 << 0,

    /// <summary>A failure status, with a u16 <see cref="OpenMvStatus"/> payload.</summary>
    Nak = 1 << 1,

    /// <summary>A retransmission (the receiver may have seen it already).</summary>
    Rtx = 1 << 2,

    /// <summary>The sender waits for an ACK of this packet.</summary>
    AckRequired = 1 << 3,

    /// <summary>More fragments of the same payload follow.</summary>
    Fragment = 1 << 4,

    /// <summary>An event: never acknowledged, never advances the sequence.</summary>
    Event = 1 << 5,

    /// <summary>Packets that are never acknowledged (<c>NO_ACK</c>).</summary>
    NoAck = Ack | Nak | Event,
}

/// <summary>Opcodes (byte 5). Protocol and system opcodes (up to 0x14) go to channel 0.</summary>
public enum OpenMvOpcode : byte
{
    /// <summary>Resets the device's protocol state (seq 0, default caps, channels unlocked).</summary>
    ProtoSync = 0x00,

    /// <summary>Reads the 16-byte capabilities.</summary>
    ProtoGetCaps = 0x01,

    /// <summary>Sets the capabilities; ACKed first, then applied.</summary>
    ProtoSetCaps = 0x02,

    /// <summary>Eight u32 counters.</summary>
    ProtoStats = 0x03,

    /// <summary>Protocol, bootloader and firmware versions.</summary>
    ProtoVersion = 0x04,

    /// <summary>Reset the device (no reply).</summary>
    SysReset = 0x10,

    /// <summary>Reboot into the bootloader (no reply).</summary>
    SysBoot = 0x11,

    /// <summary>76 bytes of system information.</summary>
    SysInfo = 0x12,

    /// <summary>A system event.</summary>
    SysEvent = 0x13,

    /// <summary>Memory regions.</summary>
    SysMemory = 0x14,

    /// <summary>16-byte entries, one per channel.</summary>
    ChannelList = 0x20,

    /// <summary>A u32 bitmask of channels with data.</summary>
    ChannelPoll = 0x21,

    /// <summary>Latches a channel's buffer (BUSY when no frame is ready).</summary>
    ChannelLock = 0x22,

    /// <summary>Releases the latch.</summary>
    ChannelUnlock = 0x23,

    /// <summary>1 to 4 u32 describing the data.</summary>
    ChannelShape = 0x24,

    /// <summary>The data's size, u32.</summary>
    ChannelSize = 0x25,

    /// <summary><c>{u32 offset, u32 length}</c>; the reply is the data.</summary>
    ChannelRead = 0x26,

    /// <summary><c>{u32 offset, u32 length, data}</c>.</summary>
    ChannelWrite = 0x27,

    /// <summary><c>{u32 request, args}</c>.</summary>
    ChannelIoctl = 0x28,

    /// <summary>A channel event (frame ready on the stream channel).</summary>
    ChannelEvent = 0x29,
}

/// <summary>The u16 payload of a NAK.</summary>
public enum OpenMvStatus : ushort
{
    /// <summary>Success.</summary>
    Success = 0,

    /// <summary>Generic failure.</summary>
    Failed = 1,

    /// <summary>Bad opcode, channel or argument.</summary>
    Invalid = 2,

    /// <summary>Timed out.</summary>
    Timeout = 3,

    /// <summary>Not now (LOCK with no frame ready, or within 10 ms of the last lock).</summary>
    Busy = 4,

    /// <summary>Payload CRC mismatch.</summary>
    Checksum = 5,

    /// <summary>Sequence number mismatch.</summary>
    Sequence = 6,

    /// <summary>Length above the max payload.</summary>
    Overflow = 7,

    /// <summary>Bad fragment.</summary>
    Fragment = 8,

    /// <summary>Unknown.</summary>
    Unknown = 9,
}

/// <summary>The <c>flags</c> word of the capabilities.</summary>
[Flags]
public enum OpenMvCapabilities : uint
{
    /// <summary>Nothing enabled.</summary>
    None = 0,

    /// <summary>CRCs are checked (they are always sent).</summary>
    Crc = 1 << 0,

    /// <summary>Sequence numbers are checked.</summary>
    Sequence = 1 << 1,

    /// <summary>Device data packets ask for ACKs.</summary>
    Ack = 1 << 2,

    /// <summary>The device sends events.</summary>
    Events = 1 << 3,
}

/// <summary>Channel flags in CHANNEL_LIST entries.</summary>
[Flags]
public enum OpenMvChannelFlags : byte
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>Readable.</summary>
    Read = 1,

    /// <summary>Writable.</summary>
    Write = 2,

    /// <summary>Executes scripts.</summary>
    Exec = 4,

    /// <summary>Supports LOCK/UNLOCK.</summary>
    Lock = 8,

    /// <summary>A stream.</summary>
    Stream = 16,

    /// <summary>Registered at run time.</summary>
    Dynamic = 32,

    /// <summary>A transport.</summary>
    Physical = 64,
}
