namespace Osprey.Sources.V4L2;

/// <summary>
/// Opens V4L2 devices: the real one (<see cref="LinuxV4L2Driver"/>) or a test double that behaves as a driver
/// does. The boundary is the file descriptor: everything above it (negotiation, the capture loop, buffer
/// ownership) is the same code in production and in tests.
/// </summary>
internal interface IV4L2Driver
{
    /// <summary>True when the device node exists (it may still fail to open).</summary>
    bool Exists(string path);

    /// <summary>Opens the device read-write and non-blocking; throws <see cref="V4L2Exception"/> with the errno.</summary>
    IV4L2Device Open(string path);
}

/// <summary>One open device node: ioctl, poll and mmap on its descriptor. Dispose closes it.</summary>
/// <remarks>
/// Calls return errno values instead of throwing so that the capture loop decides what each means (EAGAIN: no
/// frame yet; EINTR: try again; ENODEV: unplugged). ioctl and poll may be called from several threads (the
/// capture loop and the controls API), as on a real descriptor.
/// </remarks>
internal interface IV4L2Device : IDisposable
{
    /// <summary>The device node's path.</summary>
    string Path { get; }

    /// <summary>ioctl(fd, request, &amp;argument): 0, or the errno it failed with.</summary>
    int Ioctl<T>(uint request, ref T argument)
        where T : unmanaged;

    /// <summary>poll for POLLIN | POLLPRI: the count of ready descriptors (0 on timeout), or minus the errno.</summary>
    int Poll(int timeoutMilliseconds, out short revents);

    /// <summary>mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset); 0 and the errno on failure.</summary>
    nint Map(uint length, uint offset, out int errno);

    /// <summary>munmap; valid after the descriptor is closed (a mapping outlives its descriptor).</summary>
    void Unmap(nint address, uint length);
}
