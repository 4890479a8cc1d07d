namespace Osprey.Sources.V4L2;

/// <summary>A V4L2 call failed; <see cref="Errno"/> says how (0 when the failure is not a system error).</summary>
public sealed class V4L2Exception : IOException
{
    /// <summary>Creates the exception for a failed call.</summary>
    public V4L2Exception(string message, int errno)
        : base(errno == 0 ? message : $"{message}: {Interop.Libc.Errors.Describe(errno)} (errno {errno})")
    {
        Errno = errno;
    }

    /// <summary>Creates the exception.</summary>
    public V4L2Exception()
    {
    }

    /// <summary>Creates the exception.</summary>
    public V4L2Exception(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public V4L2Exception(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The errno of the failed call, or 0.</summary>
    public int Errno { get; }

    /// <summary>True when the device went away (unplugged, or its driver unbound): ENODEV, ENXIO or ENOENT.</summary>
    public bool IsDeviceGone => Errno is Interop.Libc.Errors.ENODEV or Interop.Libc.Errors.ENXIO or Interop.Libc.Errors.ENOENT;
}
