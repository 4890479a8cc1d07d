using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Osprey.Media;
using Osprey.Sources.V4L2;
using static Osprey.Interop.Libc;
using static Osprey.Interop.V4L2;

namespace Osprey.Tests.Sources.V4L2;

/// <summary>
/// A V4L2 driver at the file-descriptor boundary that behaves as vb2 does: buffers are filled only while queued,
/// handed out by DQBUF in order, EAGAIN when none is done, EINVAL for a buffer queued twice, ENODEV after an
/// unplug. Each frame carries a probe header, a body of one repeated byte and the counter again at its end, so a
/// frame rewritten under a reader (the uWSGI plugin's bug) or torn shows.
/// </summary>
internal sealed class FakeV4L2Driver : IV4L2Driver
{
    private readonly Lock _lock = new();
    private bool _plugged = true;
    private FakeDevice? _current;
    private uint _counter;

    public int Width { get; init; } = 64;

    public int Height { get; init; } = 16;

    /// <summary>Formats the fake camera offers; S_FMT of another gives the first (as drivers do).</summary>
    public uint[] Formats { get; init; } = [V4L2_PIX_FMT_YUYV];

    /// <summary>Time between frames.</summary>
    public int FramePeriodMilliseconds { get; init; } = 2;

    /// <summary>Every Nth poll is interrupted (EINTR); 0 never.</summary>
    public int EintrEvery { get; init; }

    /// <summary>Every Nth poll wakes with nothing to dequeue (the DQBUF then gets EAGAIN); 0 never.</summary>
    public int SpuriousWakeEvery { get; init; }

    /// <summary>True to stop producing frames (a stuck driver: poll times out).</summary>
    public bool Stalled { get; set; }

    public int Opens { get; private set; }

    public int QueueErrors { get; private set; }

    public int Brightness { get; private set; } = 128;

    public uint FramesProduced => Volatile.Read(ref _counter);

    public bool Exists(string path)
    {
        lock (_lock)
        {
            return _plugged;
        }
    }

    public IV4L2Device Open(string path)
    {
        lock (_lock)
        {
            if (!_plugged)
            {
                throw new V4L2Exception($"Cannot open {path}", Errors.ENOENT);
            }

            Opens++;
            _current = new FakeDevice(this, path);
            return _current;
        }
    }

    public void Unplug()
    {
        lock (_lock)
        {
            _plugged = false;
            _current?.MarkGone();
        }
    }

    public void Plug()
    {
        lock (_lock)
        {
            _plugged = true;
        }
    }

    /// <summary>Checks a frame's bytes: header counter, body and trailer agree. Returns the counter.</summary>
    public static uint AssertWhole(ReadOnlySpan<byte> frame)
    {
        Assert.True(ProbeHeader.TryRead(frame, out var header), "no probe header");
        var trailer = BitConverter.ToUInt32(frame[^4..]);
        Assert.Equal(header.Counter, trailer);
        var body = frame[ProbeHeader.Size..^4];
        Assert.True(body.IndexOfAnyExcept((byte)header.Counter) < 0, $"frame {header.Counter} is torn: its body holds bytes of another frame");
        return header.Counter;
    }

    private sealed class FakeDevice(FakeV4L2Driver driver, string path) : IV4L2Device
    {
        private readonly Lock _lock = new();
        private readonly Queue<int> _incoming = new();
        private readonly Queue<int> _done = new();
        private byte[][] _memory = [];
        private bool[] _queued = [];
        private uint _pixelFormat = driver.Formats[0];
        private bool _gone;
        private bool _closed;
        private int _polls;

        public string Path { get; } = path;

        public void MarkGone()
        {
            lock (_lock)
            {
                _gone = true;
            }
        }

        public int Ioctl<T>(uint request, ref T argument)
            where T : unmanaged
        {
            lock (_lock)
            {
                if (_closed)
                {
                    return Errors.EBADF;
                }

                if (_gone)
                {
                    return Errors.ENODEV;
                }

                return request switch
                {
                    VIDIOC_QUERYCAP => QueryCap(ref Unsafe.As<T, v4l2_capability>(ref argument)),
                    VIDIOC_G_FMT => GetFormat(ref Unsafe.As<T, v4l2_format>(ref argument)),
                    VIDIOC_S_FMT => SetFormat(ref Unsafe.As<T, v4l2_format>(ref argument)),
                    VIDIOC_G_PARM or VIDIOC_S_PARM => Parm(ref Unsafe.As<T, v4l2_streamparm>(ref argument)),
                    VIDIOC_ENUM_FMT => EnumFormat(ref Unsafe.As<T, v4l2_fmtdesc>(ref argument)),
                    VIDIOC_ENUM_FRAMESIZES => EnumSizes(ref Unsafe.As<T, v4l2_frmsizeenum>(ref argument)),
                    VIDIOC_ENUM_FRAMEINTERVALS => EnumIntervals(ref Unsafe.As<T, v4l2_frmivalenum>(ref argument)),
                    VIDIOC_REQBUFS => RequestBuffers(ref Unsafe.As<T, v4l2_requestbuffers>(ref argument)),
                    VIDIOC_QUERYBUF => QueryBuffer(ref Unsafe.As<T, v4l2_buffer>(ref argument)),
                    VIDIOC_QBUF => QueueBuffer(ref Unsafe.As<T, v4l2_buffer>(ref argument)),
                    VIDIOC_DQBUF => DequeueBuffer(ref Unsafe.As<T, v4l2_buffer>(ref argument)),
                    VIDIOC_STREAMON or VIDIOC_STREAMOFF => 0,
                    VIDIOC_QUERY_EXT_CTRL => QueryControl(ref Unsafe.As<T, v4l2_query_ext_ctrl>(ref argument)),
                    VIDIOC_G_CTRL => GetControl(ref Unsafe.As<T, v4l2_control>(ref argument)),
                    VIDIOC_S_CTRL => SetControl(ref Unsafe.As<T, v4l2_control>(ref argument)),
                    _ => Errors.ENOTTY,
                };
            }
        }

        public int Poll(int timeoutMilliseconds, out short revents)
        {
            revents = 0;
            int polls;
            lock (_lock)
            {
                polls = ++_polls;
                if (_gone)
                {
                    revents = POLLERR | POLLHUP;
                    return 1;
                }

                if (_done.Count > 0)
                {
                    revents = POLLIN;
                    return 1;
                }
            }

            if (driver.EintrEvery > 0 && polls % driver.EintrEvery == 0)
            {
                return -Errors.EINTR;
            }

            if (driver.SpuriousWakeEvery > 0 && polls % driver.SpuriousWakeEvery == 0)
            {
                revents = POLLIN;
                return 1;
            }

            Thread.Sleep(Math.Min(driver.FramePeriodMilliseconds, timeoutMilliseconds));
            lock (_lock)
            {
                if (_gone)
                {
                    revents = POLLERR | POLLHUP;
                    return 1;
                }

                if (driver.Stalled || _incoming.Count == 0)
                {
                    if (driver.Stalled)
                    {
                        Thread.Sleep(timeoutMilliseconds);
                    }

                    return 0;
                }

                // "Capture": the driver writes into the oldest queued buffer, and only into a queued one.
                var index = _incoming.Dequeue();
                var counter = Interlocked.Increment(ref driver._counter);
                var frame = _memory[index].AsSpan(0, FrameSize);
                new ProbeHeader(counter, ProbeHeader.NowMicros(), (ushort)driver.Width, (ushort)driver.Height, (uint)FrameSize).WriteTo(frame);
                frame[ProbeHeader.Size..^4].Fill((byte)counter);
                _done.Enqueue(index);
                revents = POLLIN;
                return 1;
            }
        }

        private int FrameSize => driver.Width * driver.Height * 2;

        public nint Map(uint length, uint offset, out int errno)
        {
            lock (_lock)
            {
                var index = (int)(offset / 0x10000);
                if (index >= _memory.Length || length > _memory[index].Length)
                {
                    errno = Errors.EINVAL;
                    return 0;
                }

                errno = 0;
                return Marshal.UnsafeAddrOfPinnedArrayElement(_memory[index], 0);
            }
        }

        public void Unmap(nint address, uint length)
        {
            // The pinned arrays stay alive with this object; a real munmap needs no descriptor either.
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _closed = true;
            }
        }

        private static unsafe int QueryCap(ref v4l2_capability cap)
        {
            var local = default(v4l2_capability); // a local: fixed buffers of a ref need no pinning there
            "fake"u8.CopyTo(new Span<byte>(local.driver, 16));
            "Fake Camera"u8.CopyTo(new Span<byte>(local.card, 32));
            local.capabilities = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_DEVICE_CAPS;
            local.device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
            cap = local;
            return 0;
        }

        private int GetFormat(ref v4l2_format format)
        {
            format.pix = new v4l2_pix_format
            {
                width = (uint)driver.Width,
                height = (uint)driver.Height,
                pixelformat = _pixelFormat,
                bytesperline = (uint)driver.Width * 2,
                sizeimage = (uint)FrameSize,
            };
            return 0;
        }

        private int SetFormat(ref v4l2_format format)
        {
            if (_memory.Length > 0)
            {
                return Errors.EBUSY;
            }

            _pixelFormat = Array.IndexOf(driver.Formats, format.pix.pixelformat) >= 0 ? format.pix.pixelformat : driver.Formats[0];
            return GetFormat(ref format); // the fake has one size: the driver "adjusts" to it
        }

        private static int Parm(ref v4l2_streamparm parm)
        {
            parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
            parm.capture.timeperframe = new v4l2_fract { numerator = 1, denominator = 30 };
            return 0;
        }

        private unsafe int EnumFormat(ref v4l2_fmtdesc desc)
        {
            if (desc.index >= driver.Formats.Length)
            {
                return Errors.EINVAL;
            }

            var local = desc;
            local.pixelformat = driver.Formats[desc.index];
            "Fake format"u8.CopyTo(new Span<byte>(local.description, 32));
            desc = local;
            return 0;
        }

        private unsafe int EnumSizes(ref v4l2_frmsizeenum size)
        {
            if (size.index > 0)
            {
                return Errors.EINVAL;
            }

            var local = size;
            local.type = V4L2_FRMSIZE_TYPE_DISCRETE;
            local.size[0] = (uint)driver.Width;
            local.size[1] = (uint)driver.Height;
            size = local;
            return 0;
        }

        private static int EnumIntervals(ref v4l2_frmivalenum interval)
        {
            if (interval.index > 1)
            {
                return Errors.EINVAL;
            }

            interval.type = V4L2_FRMIVAL_TYPE_DISCRETE;
            interval.discrete_or_min = new v4l2_fract { numerator = 1, denominator = interval.index == 0 ? 30u : 15u };
            return 0;
        }

        private int RequestBuffers(ref v4l2_requestbuffers request)
        {
            var count = (int)Math.Min(request.count, 8u);
            _memory = new byte[count][];
            _queued = new bool[count];
            for (var i = 0; i < count; i++)
            {
                _memory[i] = GC.AllocateArray<byte>(FrameSize, pinned: true);
            }

            request.count = (uint)count;
            return 0;
        }

        private int QueryBuffer(ref v4l2_buffer buffer)
        {
            if (buffer.index >= _memory.Length)
            {
                return Errors.EINVAL;
            }

            buffer.length = (uint)FrameSize;
            buffer.m.offset = buffer.index * 0x10000;
            return 0;
        }

        private int QueueBuffer(ref v4l2_buffer buffer)
        {
            if (buffer.index >= _memory.Length || _queued[buffer.index])
            {
                driver.QueueErrors++;
                return Errors.EINVAL;
            }

            _queued[buffer.index] = true;
            _incoming.Enqueue((int)buffer.index);
            return 0;
        }

        private int DequeueBuffer(ref v4l2_buffer buffer)
        {
            if (_done.Count == 0)
            {
                return Errors.EAGAIN;
            }

            var index = _done.Dequeue();
            _queued[index] = false;
            var micros = (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));
            buffer.index = (uint)index;
            buffer.bytesused = (uint)FrameSize;
            buffer.flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
            buffer.timestamp = new timeval { tv_sec = micros / 1_000_000, tv_usec = micros % 1_000_000 };
            buffer.length = (uint)FrameSize;
            return 0;
        }

        private unsafe int QueryControl(ref v4l2_query_ext_ctrl query)
        {
            var next = (query.id & V4L2_CTRL_FLAG_NEXT_CTRL) != 0;
            var id = query.id & ~V4L2_CTRL_FLAG_NEXT_CTRL;
            uint found = next ? (id < V4L2_CID_BRIGHTNESS ? V4L2_CID_BRIGHTNESS : id < V4L2_CID_CONTRAST ? V4L2_CID_CONTRAST : 0) : id;
            if (found is not (V4L2_CID_BRIGHTNESS or V4L2_CID_CONTRAST))
            {
                return Errors.EINVAL;
            }

            var local = new v4l2_query_ext_ctrl { id = found, type = V4L2_CTRL_TYPE_INTEGER, minimum = 0, maximum = 255, step = 1, default_value = 128 };
            (found == V4L2_CID_BRIGHTNESS ? "Brightness"u8 : "Contrast"u8).CopyTo(new Span<byte>(local.name, 32));
            if (found == V4L2_CID_CONTRAST)
            {
                local.flags = V4L2_CTRL_FLAG_READ_ONLY;
            }

            query = local;
            return 0;
        }

        private int GetControl(ref v4l2_control control)
        {
            control.value = control.id == V4L2_CID_BRIGHTNESS ? driver.Brightness : 32;
            return 0;
        }

        private int SetControl(ref v4l2_control control)
        {
            if (control.id != V4L2_CID_BRIGHTNESS)
            {
                return Errors.EACCES;
            }

            driver.Brightness = control.value;
            return 0;
        }
    }
}
