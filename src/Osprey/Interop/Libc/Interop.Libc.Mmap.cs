using System.Runtime.InteropServices;

// C type names kept verbatim, so the declarations read as the prototypes.
#pragma warning disable CS8981
using off_t = long;
using size_t = nuint;
#pragma warning restore CS8981

namespace Osprey;

internal static partial class Interop
{
    internal static partial class Libc
    {
        // sys/mman.h, the same on x86-64, arm64 and 32-bit ARM.
        internal const int PROT_READ = 0x1;
        internal const int PROT_WRITE = 0x2;
        internal const int MAP_SHARED = 0x01;

        /// <summary>(void *)-1, what mmap returns on failure.</summary>
        internal static readonly nint MAP_FAILED = -1;

        /// <summary>
        /// <c>void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)</c>. off_t is 64 bits
        /// on LP64; glibc on 32-bit ARM would need <c>mmap64</c> for a 64-bit offset (V4L2 offsets fit in 32 bits).
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
        internal static partial nint mmap(nint addr, size_t length, int prot, int flags, SafeFileDescriptor fd, off_t offset);

        /// <summary><c>int munmap(void *addr, size_t length)</c>.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
        internal static partial int munmap(nint addr, size_t length);
    }
}
