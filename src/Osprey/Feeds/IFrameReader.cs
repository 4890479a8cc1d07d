using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>What an output needs of a reader, in either read mode (<see cref="FeedReader"/> for the latest frame,
/// <see cref="OrderedFeedReader"/> for every frame in order).</summary>
public interface IFrameReader : IDisposable
{
    /// <summary>Waits for a frame or a <see cref="Wake"/>; false once closed.</summary>
    ValueTask<bool> WaitAsync();

    /// <summary>Takes the next frame to send; the caller releases it.</summary>
    bool TryTake(out Frame frame);

    /// <summary>Has the feed wake this reader for frames from a fan-out thread (see <see cref="SignalledReader.SignalOnFanOutThread"/>).</summary>
    void SignalOnFanOutThread();

    /// <summary>Wakes a pending wait without a frame.</summary>
    void Wake();

    /// <summary>True once after each <see cref="Wake"/>.</summary>
    bool ConsumeWake();

    /// <summary>Stops the reader.</summary>
    void Close();

    /// <summary>Frames taken.</summary>
    long Frames { get; }

    /// <summary>Frames skipped (too slow).</summary>
    long Skipped { get; }
}
