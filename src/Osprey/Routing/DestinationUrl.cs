namespace Osprey.Routing;

/// <summary>The checks vw's reconws makes before dialling: not empty, <c>ws</c> or <c>wss</c>, no user information.</summary>
internal static class DestinationUrl
{
    /// <summary>The URL to dial, or false with the reason in plain words.</summary>
    public static bool TryParse(string? destination, out Uri uri, out string error)
    {
        uri = null!;
        if (string.IsNullOrWhiteSpace(destination))
        {
            error = "the destination URL is empty";
            return false;
        }

        if (!Uri.TryCreate(destination.Trim(), UriKind.Absolute, out var parsed))
        {
            error = $"the destination '{destination}' is not an absolute URL";
            return false;
        }

        if (parsed.Scheme is not ("ws" or "wss"))
        {
            error = $"the destination URL must start with ws:// or wss://, not {parsed.Scheme}://";
            return false;
        }

        // Credentials in the URL would be sent in clear in logs and the API; vw refuses them too.
        if (parsed.UserInfo.Length > 0)
        {
            error = "the destination URL must not carry a user name or password";
            return false;
        }

        uri = parsed;
        error = "";
        return true;
    }
}
