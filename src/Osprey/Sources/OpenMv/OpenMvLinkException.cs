namespace Osprey.Sources.OpenMv;

/// <summary>The link lost lockstep or got no reply: the session re-SYNCs, and gives up after a few tries.</summary>
public sealed class OpenMvLinkException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OpenMvLinkException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public OpenMvLinkException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public OpenMvLinkException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
