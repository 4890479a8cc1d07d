namespace Osprey;

internal static partial class Interop
{
    /// <summary>libjpeg-turbo's TurboJPEG 2.x API (turbojpeg.h), names kept as in the header.</summary>
    internal static partial class TurboJpeg
    {
        // enum TJSAMP: chrominance subsampling.
        internal const int TJSAMP_444 = 0;
        internal const int TJSAMP_422 = 1;
        internal const int TJSAMP_420 = 2;
        internal const int TJSAMP_GRAY = 3;
        internal const int TJSAMP_440 = 4;
        internal const int TJSAMP_411 = 5;
        internal const int TJ_NUMSAMP = 6;

        // enum TJCS: the JPEG's colour space, as tjDecompressHeader3 reports it.
        internal const int TJCS_RGB = 0;
        internal const int TJCS_YCbCr = 1;
        internal const int TJCS_GRAY = 2;
        internal const int TJCS_CMYK = 3;
        internal const int TJCS_YCCK = 4;

        // Flags (#define TJFLAG_*).
        internal const int TJFLAG_NOREALLOC = 1024;
        internal const int TJFLAG_FASTDCT = 2048;
        internal const int TJFLAG_ACCURATEDCT = 4096;
        internal const int TJFLAG_STOPONWARNING = 8192;
        internal const int TJFLAG_PROGRESSIVE = 16384;
        internal const int TJFLAG_LIMITSCANS = 32768;

        // enum TJERR: what tjGetErrorCode says about the last failed call.
        internal const int TJERR_WARNING = 0;
        internal const int TJERR_FATAL = 1;

        /// <summary>static const int tjMCUWidth[TJ_NUMSAMP]: MCU width in pixels per subsampling.</summary>
        internal static ReadOnlySpan<byte> tjMCUWidth => [8, 16, 16, 8, 8, 32];

        /// <summary>static const int tjMCUHeight[TJ_NUMSAMP]: MCU height in pixels per subsampling.</summary>
        internal static ReadOnlySpan<byte> tjMCUHeight => [8, 8, 16, 8, 16, 8];
    }
}
