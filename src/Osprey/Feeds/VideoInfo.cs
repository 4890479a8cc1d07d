using Osprey.Media;

namespace Osprey.Feeds;

/// <summary>What a feed carries: format, picture size and nominal frame rate.</summary>
public readonly record struct VideoInfo(MediaFormat Format, int Width, int Height, double Fps);
