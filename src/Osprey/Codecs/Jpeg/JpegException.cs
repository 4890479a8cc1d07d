namespace Osprey.Codecs.Jpeg;

/// <summary>libjpeg-turbo refused to encode (or failed in a way that is not about the input's bytes).</summary>
public sealed class JpegException : Exception
{
    /// <summary>Creates an exception with a default message.</summary>
    public JpegException()
        : base("libjpeg-turbo failed.")
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/>.</summary>
    public JpegException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with <paramref name="message"/> caused by <paramref name="innerException"/>.</summary>
    public JpegException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
