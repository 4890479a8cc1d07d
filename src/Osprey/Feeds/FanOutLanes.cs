namespace Osprey.Feeds;

/// <summary>
/// The fan-out threads: a few dedicated threads (one per core, at most <see cref="MaxLanes"/>) that wake the
/// readers of a published frame in one pass each, running every reader's continuation at once on the lane
/// thread instead of queueing one thread-pool work item per reader per frame.
/// </summary>
/// <remarks>
/// <para>Only readers that asked for it (<see cref="SignalledReader.SignalOnFanOutThread"/>) are woken here:
/// viewers whose per-frame work is a non-blocking send straight to their socket. A send the kernel takes at once
/// completes on the lane; one that would block returns pending and finishes asynchronously, so the lane goes on
/// to the next reader and a stalled viewer never delays the others. Everything else (transforms, encoders,
/// destinations, viewers over TLS) is woken on the thread pool as before.</para>
/// <para>A feed is queued on a lane at most once until the lane has run it (<see cref="Feed"/> keeps a bit per
/// lane), so a lane's queue holds at most one entry per feed and a burst of frames costs one pass: latest-mode
/// readers take the newest frame, ordered readers drain their queue.</para>
/// </remarks>
internal static class FanOutLanes
{
    /// <summary>The most lanes (one bit each in a feed's pending mask).</summary>
    public const int MaxLanes = 16;

    private static readonly Lane[] s_lanes = CreateLanes();
    private static int s_next = -1;
    private static long s_faults;

    /// <summary>How many lanes there are: the cores, or <c>OSPREY_FANOUT_THREADS</c> (1-16) when set.</summary>
    public static int Count => s_lanes.Length;

    /// <summary>Continuations that threw on a lane (should stay 0: an async consumer keeps its exceptions).</summary>
    public static long Faults => Interlocked.Read(ref s_faults);

    /// <summary>Counts a continuation that threw on a lane.</summary>
    public static void CountFault() => Interlocked.Increment(ref s_faults);

    /// <summary>The lane for a new reader, round robin.</summary>
    public static int NextLane() => (int)((uint)Interlocked.Increment(ref s_next) % (uint)s_lanes.Length);

    /// <summary>Has lane <paramref name="lane"/> run <paramref name="feed"/>'s readers of that lane.</summary>
    public static void Schedule(Feed feed, int lane) => s_lanes[lane].Schedule(feed);

    private static Lane[] CreateLanes()
    {
        var count = Environment.ProcessorCount;
        if (int.TryParse(Environment.GetEnvironmentVariable("OSPREY_FANOUT_THREADS"), out var configured) && configured > 0)
        {
            count = configured;
        }

        var lanes = new Lane[Math.Clamp(count, 1, MaxLanes)];
        for (var i = 0; i < lanes.Length; i++)
        {
            lanes[i] = new Lane(i);
        }

        return lanes;
    }

    private sealed class Lane
    {
        private static readonly TimeSpan s_idleCheck = TimeSpan.FromSeconds(30);

        private readonly object _gate = new();
        private readonly Queue<Feed> _queue = new();
        private readonly int _index;
        private bool _waiting;

        public Lane(int index)
        {
            _index = index;
            // A dedicated thread: it sleeps in the kernel between frames rather than spinning as a pool worker
            // does, and a frame's readers cost it one wake-up.
            var thread = new Thread(Run) { IsBackground = true, Name = $"osprey-fanout-{index}" };
            thread.Start();
        }

        public void Schedule(Feed feed)
        {
            lock (_gate)
            {
                _queue.Enqueue(feed);
                if (_waiting)
                {
                    Monitor.Pulse(_gate);
                }
            }
        }

        private void Run()
        {
            while (true)
            {
                Feed feed;
                lock (_gate)
                {
                    while (_queue.Count == 0)
                    {
                        _waiting = true;
                        Monitor.Wait(_gate, s_idleCheck);
                        _waiting = false;
                    }

                    feed = _queue.Dequeue();
                }

                feed.RunFanOutLane(_index);
            }
        }
    }
}
