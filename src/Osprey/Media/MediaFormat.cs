namespace Osprey.Media;

/// <summary>The kind of bytes a <see cref="Frame"/> carries.</summary>
public enum MediaFormat
{
    /// <summary>Nothing known yet (a source that has not started).</summary>
    Unknown = 0,

    /// <summary>Packed YUV 4:2:2, bytes Y0 U Y1 V per pixel pair (V4L2 <c>YUYV</c>).</summary>
    Yuyv,

    /// <summary>Planar Y then interleaved UV at half resolution (V4L2 <c>NV12</c>).</summary>
    Nv12,

    /// <summary>One baseline or progressive JPEG image.</summary>
    Jpeg,

    /// <summary>One H.264 access unit in Annex B form.</summary>
    H264,

    /// <summary>A chunk of an MPEG transport stream.</summary>
    MpegTs,

    /// <summary>One fragmented-MP4 media segment (moof + mdat) of an H.264 stream; the init segment is the feed's header.</summary>
    Fmp4,

    /// <summary>One media segment in BerryMSE's exact layout (one slice NAL per segment).</summary>
    BerryMse,

    /// <summary>The RTP packets of one H.264 access unit (RFC 6184), each led by its length: WebRTC's shared packets.</summary>
    RtpH264,
}

/// <summary>Lower-case names used in URLs and the REST API.</summary>
public static class MediaFormatNames
{
    /// <summary>The API name of <paramref name="format"/>, e.g. <c>yuyv</c>.</summary>
    public static string ToApiName(this MediaFormat format) => format switch
    {
        MediaFormat.Yuyv => "yuyv",
        MediaFormat.Nv12 => "nv12",
        MediaFormat.Jpeg => "jpeg",
        MediaFormat.H264 => "h264",
        MediaFormat.MpegTs => "mpegts",
        MediaFormat.Fmp4 => "fmp4",
        MediaFormat.BerryMse => "berrymse",
        MediaFormat.RtpH264 => "rtp-h264",
        _ => "unknown",
    };
}
