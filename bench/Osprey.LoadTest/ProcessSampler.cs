using System.Buffers.Text;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Osprey.LoadTest;

/// <summary>Reads a process's CPU time and resident memory from Linux <c>/proc</c>.</summary>
/// <remarks>Reads go into one preallocated buffer so that sampling every 100 ms does not itself churn the GC of the tool.</remarks>
internal sealed partial class ProcessSampler
{
    private const int SysconfClockTicks = 2; // _SC_CLK_TCK on Linux (glibc and musl).
    private const int FallbackClockTicks = 100; // USER_HZ on every mainstream Linux build.

    private static readonly Lazy<int> s_clockTicks = new(ReadClockTicks);

    private readonly string _statPath;
    private readonly string _statusPath;
    private readonly byte[] _buffer = new byte[8192];

    /// <summary>Creates a sampler for <paramref name="pid"/>; null samples the current process.</summary>
    public ProcessSampler(int? pid)
    {
        var dir = pid is int p ? $"/proc/{p}" : "/proc/self";
        _statPath = dir + "/stat";
        _statusPath = dir + "/status";
    }

    /// <summary>Kernel clock ticks per second, the unit of utime and stime in /proc/PID/stat.</summary>
    public static int ClockTicksPerSecond => s_clockTicks.Value;

    /// <summary>True when /proc/PID/stat of <paramref name="pid"/> can be read.</summary>
    public static bool Exists(int pid) => new ProcessSampler(pid).TryReadCpuSeconds(out _);

    /// <summary>Reads utime + stime of the process, in seconds.</summary>
    public bool TryReadCpuSeconds(out double seconds)
    {
        seconds = 0;
        var length = ReadFile(_statPath);
        if (length <= 0)
        {
            return false;
        }

        // The command name (field 2) is in parentheses and may itself hold spaces or ')', so fields are counted
        // from the last ')': after it come state (field 3) ... utime (field 14) and stime (field 15).
        var text = _buffer.AsSpan(0, length);
        var close = text.LastIndexOf((byte)')');
        if (close < 0)
        {
            return false;
        }

        var rest = text[(close + 1)..];
        long utime = 0, stime = 0;
        var field = 2;
        while (field < 15 && !rest.IsEmpty)
        {
            rest = rest.TrimStart((byte)' ');
            var end = rest.IndexOf((byte)' ');
            var token = end < 0 ? rest : rest[..end];
            field++;
            if (field == 14 && !Utf8Parser.TryParse(token, out utime, out _))
            {
                return false;
            }

            if (field == 15 && !Utf8Parser.TryParse(token, out stime, out _))
            {
                return false;
            }

            rest = end < 0 ? default : rest[end..];
        }

        if (field < 15)
        {
            return false;
        }

        seconds = (utime + stime) / (double)ClockTicksPerSecond;
        return true;
    }

    /// <summary>Reads VmRSS (current resident set) and VmHWM (peak resident set over the process's life), in kB.</summary>
    public bool TryReadMemoryKb(out long rssKb, out long highWaterKb)
    {
        rssKb = 0;
        highWaterKb = 0;
        var length = ReadFile(_statusPath);
        if (length <= 0)
        {
            return false;
        }

        var text = _buffer.AsSpan(0, length);
        return TryReadStatusField(text, "VmRSS:"u8, out rssKb) & TryReadStatusField(text, "VmHWM:"u8, out highWaterKb);
    }

    /// <summary>Reads the number of threads (Threads: in /proc/PID/status).</summary>
    public bool TryReadThreads(out long threads)
    {
        threads = 0;
        var length = ReadFile(_statusPath);
        return length > 0 && TryReadStatusField(_buffer.AsSpan(0, length), "Threads:"u8, out threads);
    }

    /// <summary>Counts the open file descriptors of <paramref name="pid"/> (entries of /proc/PID/fd); -1 when they cannot be listed.</summary>
    public static int CountOpenFileDescriptors(int pid)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static bool TryReadStatusField(ReadOnlySpan<byte> text, ReadOnlySpan<byte> name, out long kb)
    {
        kb = 0;
        var at = text.IndexOf(name);
        if (at < 0)
        {
            return false;
        }

        var value = text[(at + name.Length)..].TrimStart(" \t"u8);
        return Utf8Parser.TryParse(value, out kb, out _);
    }

    private int ReadFile(string path)
    {
        try
        {
            // /proc files report size 0, so read until EOF rather than trusting the length.
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var total = 0;
            for (var i = 0; i < 16 && total < _buffer.Length; i++)
            {
                var n = RandomAccess.Read(handle, _buffer.AsSpan(total), total);
                if (n <= 0)
                {
                    break;
                }

                total += n;
            }

            return total;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static int ReadClockTicks()
    {
        if (!OperatingSystem.IsLinux())
        {
            return FallbackClockTicks;
        }

        try
        {
            var ticks = sysconf(SysconfClockTicks);
            return ticks is > 0 and <= 100_000 ? (int)ticks : FallbackClockTicks;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return FallbackClockTicks;
        }
    }

    [LibraryImport("libc")]
    private static partial nint sysconf(int name);
}
