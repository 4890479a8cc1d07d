using System.Runtime.InteropServices;
using static Osprey.Interop.Libc;

namespace Osprey.Sources.V4L2;

/// <summary>The real devices, through libc.</summary>
internal sealed class LinuxV4L2Driver : IV4L2Driver
{
    /// <summary>The one instance.</summary>
    public static LinuxV4L2Driver Instance { get; } = new();

    public bool Exists(string path) => File.Exists(path);

    public IV4L2Device Open(string path)
    {
        if (!Environment.Is64BitProcess)
        {
            // The struct layouts and request numbers are the 64-bit ones (see Interop.V4L2); 32-bit ARM differs.
            throw new PlatformNotSupportedException("Osprey's V4L2 capture needs a 64-bit process (x86-64 or arm64).");
        }

        SafeFileDescriptor fd;
        int errno;
        do
        {
            fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            errno = fd.IsInvalid ? Marshal.GetLastPInvokeError() : 0;
        }
        while (errno == Errors.EINTR);

        if (fd.IsInvalid)
        {
            fd.Dispose();
            throw new V4L2Exception($"Cannot open {path}", errno);
        }

        return new Device(path, fd);
    }

    private sealed class Device(string path, SafeFileDescriptor fd) : IV4L2Device
    {
        public string Path { get; } = path;

        public int Ioctl<T>(uint request, ref T argument)
            where T : unmanaged => IoctlRetrying(fd, request, ref argument);

        public unsafe int Poll(int timeoutMilliseconds, out short revents)
        {
            var added = false;
            try
            {
                // Hold the descriptor for the call so that a concurrent Dispose cannot close (and the kernel reuse) it.
                fd.DangerousAddRef(ref added);
                var entry = new pollfd { fd = (int)fd.DangerousGetHandle(), events = POLLIN | POLLPRI };
                var ready = poll(&entry, 1, timeoutMilliseconds);
                revents = entry.revents;
                return ready >= 0 ? ready : -Marshal.GetLastPInvokeError();
            }
            finally
            {
                if (added)
                {
                    fd.DangerousRelease();
                }
            }
        }

        public nint Map(uint length, uint offset, out int errno)
        {
            var address = mmap(0, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
            errno = address == MAP_FAILED ? Marshal.GetLastPInvokeError() : 0;
            return address == MAP_FAILED ? 0 : address;
        }

        public void Unmap(nint address, uint length) => munmap(address, length);

        public void Dispose() => fd.Dispose();
    }
}
