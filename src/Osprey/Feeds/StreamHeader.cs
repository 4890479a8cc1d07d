namespace Osprey.Feeds;

/// <summary>
/// What a container stream's viewers get before any frame: for fMP4, the MIME type with its codec string and the
/// init segment. A new version (new SPS/PPS) means viewers must be sent the new header before its frames.
/// </summary>
public sealed record StreamHeader(int Version, string MimeType, ReadOnlyMemory<byte> InitSegment, string? DecoderConfigJson = null);
