namespace Osprey.Server.Endpoints;

/// <summary>Plain-text answers, for the endpoints whose clients (vw's, crossbar's) read text, not JSON.</summary>
internal static class PlainText
{
    /// <summary>
    /// Writes <paramref name="message"/> and a newline with <paramref name="status"/>; with
    /// <paramref name="close"/> the connection is closed after it (a refused upload's body is not read).
    /// </summary>
    public static async Task WriteAsync(HttpContext context, int status, string message, bool close = false)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (close)
        {
            context.Response.Headers.Connection = "close";
        }

        await context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }
}
