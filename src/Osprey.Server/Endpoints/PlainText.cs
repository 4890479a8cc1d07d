namespace Osprey.Server.Endpoints;

/// <summary>Plain-text answers, for the endpoints whose clients (vw's, crossbar's) read text, not JSON.</summary>
internal static class PlainText
{
    /// <summary>Writes <paramref name="message"/> and a newline with <paramref name="status"/>.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n");
    }
}
