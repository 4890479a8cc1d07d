using System.Runtime.InteropServices;

namespace Osprey.Codecs.Jpeg;

/// <summary>Whether libjpeg-turbo's TurboJPEG library (<c>libturbojpeg.so.0</c>) can be used on this machine.</summary>
public static class TurboJpegLibrary
{
    /// <summary>The Debian package that provides <c>libturbojpeg.so.0</c>.</summary>
    public const string DebianPackage = "libturbojpeg0";

    /// <summary>Every function the codecs call: an older or partial library is reported as missing, not met mid-stream.</summary>
    private static readonly string[] s_requiredExports =
    [
        "tjInitCompress", "tjInitDecompress", "tjDestroy", "tjBufSize", "tjCompressFromYUVPlanes",
        "tjDecompressHeader3", "tjDecompressToYUVPlanes", "tjGetErrorStr2", "tjGetErrorCode",
    ];

    private static readonly string? s_loadError = Probe();

    /// <summary>
    /// True when <c>libturbojpeg.so.0</c> loads and has the TurboJPEG 2.x functions; otherwise
    /// <paramref name="error"/> says what to install. The answer is worked out once per process.
    /// </summary>
    public static bool IsAvailable(out string? error)
    {
        error = s_loadError;
        return error is null;
    }

    /// <summary>Throws <see cref="DllNotFoundException"/> with the install hint when the library is unusable.</summary>
    internal static void EnsureAvailable()
    {
        if (s_loadError is not null)
        {
            throw new DllNotFoundException(s_loadError);
        }
    }

    private static string? Probe()
    {
        // The same name the LibraryImport declarations use, so this answers for them: dlopen finds the soname
        // through the loader cache, as the runtime does for a name that already carries ".so".
        if (!NativeLibrary.TryLoad(Interop.Libraries.TurboJpeg, out var library))
        {
            return $"libjpeg-turbo is missing: install the Debian package {DebianPackage} (apt-get install {DebianPackage}).";
        }

        try
        {
            foreach (var name in s_requiredExports)
            {
                if (!NativeLibrary.TryGetExport(library, name, out _))
                {
                    return $"{Interop.Libraries.TurboJpeg} lacks {name}: libjpeg-turbo 2.0 or later is needed " +
                        $"(Debian package {DebianPackage}).";
                }
            }

            return null;
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }
}
