using System.Text;

namespace Osprey.Protocols.Rtsp;

/// <summary>One RTSP 1.0 request (RFC 2326 §6): its method, URI, CSeq, headers and body.</summary>
public sealed class RtspRequest
{
    internal RtspRequest(string method, string uri, IReadOnlyList<KeyValuePair<string, string>> headers, byte[] body)
    {
        Method = method;
        Uri = uri;
        Headers = headers;
        Body = body;
    }

    /// <summary>The method, as sent (RTSP methods are case-sensitive).</summary>
    public string Method { get; }

    /// <summary>The request URI (<c>rtsp://host:port/feed</c>, or <c>*</c>).</summary>
    public string Uri { get; }

    /// <summary>The headers, in order, names as sent.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The body (Content-Length bytes); empty without one.</summary>
    public byte[] Body { get; }

    /// <summary>The CSeq header, echoed in the response; null when missing.</summary>
    public string? CSeq => this["CSeq"];

    /// <summary>The first header named <paramref name="name"/> (case-insensitive), or null.</summary>
    public string? this[string name]
    {
        get
        {
            foreach (var (key, value) in Headers)
            {
                if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return value;
                }
            }

            return null;
        }
    }

    /// <summary>The feed path of <see cref="Uri"/>: its path without the leading slash and without a track control (<c>/trackID=0</c>), or null when the URI is no RTSP URL.</summary>
    public string? FeedPath(out string? control)
    {
        control = null;
        string path;
        if (Uri.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || Uri.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
        {
            var start = Uri.IndexOf("://", StringComparison.Ordinal) + 3;
            var slash = Uri.IndexOf('/', start);
            path = slash < 0 ? "" : Uri[(slash + 1)..];
        }
        else if (Uri.StartsWith('/'))
        {
            path = Uri[1..];
        }
        else
        {
            return null;
        }

        var query = path.IndexOfAny(['?', '#']);
        if (query >= 0)
        {
            path = path[..query];
        }

        path = path.TrimEnd('/');
        var last = path.LastIndexOf('/');
        var tail = last < 0 ? path : path[(last + 1)..];
        if (tail.StartsWith("trackID=", StringComparison.OrdinalIgnoreCase))
        {
            control = tail;
            path = last < 0 ? "" : path[..last];
        }

        return System.Uri.UnescapeDataString(path);
    }
}

/// <summary>What <see cref="RtspRequestParser.Parse"/> found at the start of the buffer.</summary>
public enum RtspParseStatus
{
    /// <summary>Not a whole request or interleaved frame yet: read more.</summary>
    NeedMore,

    /// <summary>A whole request.</summary>
    Request,

    /// <summary>An interleaved binary frame (<c>$</c>, channel, 16-bit length, data): the client's RTCP over TCP.</summary>
    Interleaved,

    /// <summary>Malformed or too large: answer <see cref="RtspParseResult.ErrorStatus"/> and close the connection.</summary>
    Error,
}

/// <summary>The result of one <see cref="RtspRequestParser.Parse"/>.</summary>
/// <param name="Status">What was found.</param>
/// <param name="Consumed">Bytes of the buffer that the request or frame took (0 for NeedMore and Error).</param>
/// <param name="Request">The request, for <see cref="RtspParseStatus.Request"/>.</param>
/// <param name="Channel">The interleaved frame's channel.</param>
/// <param name="ErrorStatus">The status code to answer an error with (400, 413, 431, 505).</param>
/// <param name="ErrorReason">Why, for the response's body and the log.</param>
public readonly record struct RtspParseResult(RtspParseStatus Status, int Consumed, RtspRequest? Request = null, int Channel = 0, int ErrorStatus = 0, string? ErrorReason = null);

/// <summary>
/// Reads RTSP 1.0 requests (RFC 2326 §6) and interleaved frames from the bytes a connection received, bounded:
/// a request head longer than <see cref="MaxHeadBytes"/>, more than <see cref="MaxHeaders"/> headers or a body
/// longer than <see cref="MaxBodyBytes"/> is an error, so that a client cannot make the server hold more than
/// that for it.
/// </summary>
/// <remarks>Pure: bytes in, a result out; the caller keeps the buffer and drops <see cref="RtspParseResult.Consumed"/> bytes.</remarks>
public static class RtspRequestParser
{
    /// <summary>The most bytes of a request line and its headers.</summary>
    public const int MaxHeadBytes = 8 * 1024;

    /// <summary>The most headers in one request.</summary>
    public const int MaxHeaders = 64;

    /// <summary>The most bytes of a request body (a client's SET_PARAMETER or ANNOUNCE; players send none).</summary>
    public const int MaxBodyBytes = 16 * 1024;

    /// <summary>Reads what starts <paramref name="buffer"/>.</summary>
    public static RtspParseResult Parse(ReadOnlySpan<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return new(RtspParseStatus.NeedMore, 0);
        }

        if (buffer[0] == (byte)'$')
        {
            if (buffer.Length < 4)
            {
                return new(RtspParseStatus.NeedMore, 0);
            }

            var length = (buffer[2] << 8) | buffer[3];
            return buffer.Length < 4 + length
                ? new(RtspParseStatus.NeedMore, 0)
                : new(RtspParseStatus.Interleaved, 4 + length, Channel: buffer[1]);
        }

        // Clients may send empty lines between requests (RFC 2326 §15 follows HTTP's robustness rule).
        var skipped = 0;
        while (skipped < buffer.Length && buffer[skipped] is (byte)'\r' or (byte)'\n')
        {
            skipped++;
        }

        if (skipped > 0)
        {
            var rest = Parse(buffer[skipped..]);
            return rest.Status is RtspParseStatus.Request or RtspParseStatus.Interleaved ? rest with { Consumed = rest.Consumed + skipped } : rest;
        }

        var end = buffer.IndexOf("\r\n\r\n"u8);
        var terminator = 4;
        var bare = buffer.IndexOf("\n\n"u8);
        if (bare >= 0 && (end < 0 || bare < end))
        {
            end = bare;
            terminator = 2;
        }

        if (end < 0)
        {
            return buffer.Length > MaxHeadBytes
                ? Error(431, $"the request head is longer than {MaxHeadBytes} bytes")
                : new(RtspParseStatus.NeedMore, 0);
        }

        if (end > MaxHeadBytes)
        {
            return Error(431, $"the request head is longer than {MaxHeadBytes} bytes");
        }

        var head = buffer[..end];
        foreach (var b in head)
        {
            // Control characters other than CR, LF and tab: binary garbage, not a request.
            if (b is < 0x20 and not (byte)'\r' and not (byte)'\n' and not (byte)'\t' || b == 0x7f)
            {
                return Error(400, "the request head holds control characters");
            }
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(head);
        }
        catch (DecoderFallbackException)
        {
            return Error(400, "the request head is not UTF-8");
        }

        var lines = text.Split('\n');
        var requestLine = lines[0].TrimEnd('\r');
        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || !IsToken(parts[0]))
        {
            return Error(400, "the request line is not METHOD URI RTSP/1.0");
        }

        if (!parts[2].StartsWith("RTSP/", StringComparison.Ordinal))
        {
            return Error(400, "the request line is not METHOD URI RTSP/1.0");
        }

        if (parts[2] != "RTSP/1.0")
        {
            return Error(505, $"{parts[2]} is not supported (RTSP/1.0 is)");
        }

        if (lines.Length - 1 > MaxHeaders)
        {
            return Error(431, $"more than {MaxHeaders} headers");
        }

        var headers = new List<KeyValuePair<string, string>>(lines.Length - 1);
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                return Error(400, "a header line is not Name: value");
            }

            headers.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }

        var bodyLength = 0;
        foreach (var (key, value) in headers)
        {
            if (key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out bodyLength))
                {
                    return Error(400, "Content-Length is not a number");
                }

                if (bodyLength > MaxBodyBytes)
                {
                    return Error(413, $"the body is longer than {MaxBodyBytes} bytes");
                }
            }
        }

        var total = end + terminator + bodyLength;
        if (buffer.Length < total)
        {
            return new(RtspParseStatus.NeedMore, 0);
        }

        var body = buffer.Slice(end + terminator, bodyLength).ToArray();
        return new(RtspParseStatus.Request, total, new RtspRequest(parts[0], parts[1], headers, body));
    }

    private static RtspParseResult Error(int status, string reason) => new(RtspParseStatus.Error, 0, ErrorStatus: status, ErrorReason: reason);

    private static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7f || "()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return value.Length > 0;
    }
}
