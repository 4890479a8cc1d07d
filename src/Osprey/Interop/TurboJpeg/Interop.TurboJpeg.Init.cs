using System.Runtime.InteropServices;

// Native type names kept verbatim (CS8981 warns about all-lower-case type names).
#pragma warning disable CS8981
using tjhandle = nint;
#pragma warning restore CS8981

namespace Osprey;

internal static partial class Interop
{
    internal static partial class TurboJpeg
    {
        /// <summary><c>tjhandle tjInitCompress(void)</c>; an invalid handle on failure (see tjGetErrorStr2(NULL)).</summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static partial SafeTurboJpegHandle tjInitCompress();

        /// <summary><c>tjhandle tjInitDecompress(void)</c>; an invalid handle on failure (see tjGetErrorStr2(NULL)).</summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static partial SafeTurboJpegHandle tjInitDecompress();

        /// <summary><c>int tjDestroy(tjhandle handle)</c>; raw handle because only <see cref="SafeTurboJpegHandle"/> calls it.</summary>
        [LibraryImport(Libraries.TurboJpeg)]
        internal static partial int tjDestroy(tjhandle handle);
    }
}
