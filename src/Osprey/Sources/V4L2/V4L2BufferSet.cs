using System.Collections.Concurrent;
using Osprey.Media;
using static Osprey.Interop.V4L2;

namespace Osprey.Sources.V4L2;

/// <summary>One driver buffer: its mapping and the frame that wraps it without a copy.</summary>
internal sealed class MappedBuffer
{
    public required int Index { get; init; }

    public required uint Length { get; init; }

    public nint Address { get; set; }

    public Frame Frame { get; set; } = null!;

    /// <summary>True while readers hold the frame: the buffer is then neither queued nor unmapped.</summary>
    public bool Held { get; set; }
}

/// <summary>
/// The mmap buffers of one capture run. Owns the mappings: a buffer goes back to the driver (QBUF, by the
/// capture thread) or is unmapped (after the run) only once the last reader of its frame has released it.
/// </summary>
/// <remarks>
/// Threads: the capture thread queues, dequeues and closes; <see cref="OnReleased"/> runs on whichever thread
/// gives back a frame's last reference and only records the index (or unmaps, after close) under the lock, so
/// QBUF is never issued from a viewer's thread or on a closed descriptor.
/// </remarks>
internal sealed class V4L2BufferSet
{
    private readonly IV4L2Device _device;
    private readonly MappedBuffer[] _buffers;
    private readonly ConcurrentQueue<int> _released = new();
    private readonly Lock _lock = new();
    private bool _closed;

    private V4L2BufferSet(IV4L2Device device, MappedBuffer[] buffers)
    {
        _device = device;
        _buffers = buffers;
    }

    /// <summary>Buffers the driver gave.</summary>
    public int Count => _buffers.Length;

    /// <summary>Buffers queued in the driver now (capture thread only).</summary>
    public int InDriver { get; private set; }

    public MappedBuffer this[int index] => _buffers[index];

    /// <summary>VIDIOC_REQBUFS, then VIDIOC_QUERYBUF and mmap of each buffer.</summary>
    public static V4L2BufferSet Create(IV4L2Device device, int count)
    {
        var request = new v4l2_requestbuffers { count = (uint)count, type = V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = V4L2_MEMORY_MMAP };
        V4L2Queries.Check(device.Ioctl(VIDIOC_REQBUFS, ref request), device, "VIDIOC_REQBUFS (mmap buffers)");
        if (request.count < 2)
        {
            throw new V4L2Exception($"{device.Path}: the driver gave {request.count} mmap buffers; capture needs at least 2.");
        }

        var buffers = new MappedBuffer[request.count];
        var set = new V4L2BufferSet(device, buffers);
        try
        {
            for (var i = 0; i < buffers.Length; i++)
            {
                var query = new v4l2_buffer { index = (uint)i, type = V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = V4L2_MEMORY_MMAP };
                V4L2Queries.Check(device.Ioctl(VIDIOC_QUERYBUF, ref query), device, "VIDIOC_QUERYBUF");
                var address = device.Map(query.length, query.m.offset, out var errno);
                if (address == 0)
                {
                    throw new V4L2Exception($"{device.Path}: mmap of buffer {i} ({query.length} bytes)", errno);
                }

                var buffer = new MappedBuffer { Index = i, Length = query.length, Address = address };
                // One frame object and one callback per buffer for the whole run: nothing is allocated per frame.
                buffer.Frame = Frame.CreateExternal(new NativeMemoryManager(address, (int)query.length), _ => set.OnReleased(buffer));
                buffers[i] = buffer;
            }
        }
        catch
        {
            set.Close();
            throw;
        }

        return set;
    }

    /// <summary>VIDIOC_QBUF: hands the buffer to the driver to fill.</summary>
    public void Queue(MappedBuffer buffer)
    {
        var queued = new v4l2_buffer { index = (uint)buffer.Index, type = V4L2_BUF_TYPE_VIDEO_CAPTURE, memory = V4L2_MEMORY_MMAP };
        V4L2Queries.Check(_device.Ioctl(VIDIOC_QBUF, ref queued), _device, "VIDIOC_QBUF");
        InDriver++;
    }

    /// <summary>The driver handed a buffer back (VIDIOC_DQBUF succeeded).</summary>
    public void Dequeued() => InDriver--;

    /// <summary>Queues again every buffer whose frame readers have released since the last call.</summary>
    public void QueueReleased()
    {
        while (_released.TryDequeue(out var index))
        {
            Queue(_buffers[index]);
        }
    }

    /// <summary>Marks a buffer as lent to readers through its frame.</summary>
    public void Lend(MappedBuffer buffer)
    {
        lock (_lock)
        {
            buffer.Held = true;
        }
    }

    private void OnReleased(MappedBuffer buffer)
    {
        lock (_lock)
        {
            buffer.Held = false;
            if (!_closed)
            {
                _released.Enqueue(buffer.Index);
                return;
            }

            // The run is over: the last reader of this buffer unmaps it.
            Unmap(buffer);
        }
    }

    /// <summary>Ends the run: unmaps every buffer nobody holds; held ones are unmapped on their last release.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            foreach (var buffer in _buffers)
            {
                if (buffer is not null && !buffer.Held)
                {
                    Unmap(buffer);
                }
            }
        }
    }

    private void Unmap(MappedBuffer buffer)
    {
        if (buffer.Address != 0)
        {
            _device.Unmap(buffer.Address, buffer.Length);
            buffer.Address = 0;
        }
    }
}
