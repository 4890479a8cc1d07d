using System.Buffers.Text;
using System.Net.Sockets;
using System.Text;

namespace Osprey.LoadTest;

/// <summary>
/// An MJPEG viewer: <c>GET /mjpeg/{feed}</c> over HTTP/1.1, then a <c>multipart/x-mixed-replace</c> body parsed
/// incrementally, with or without chunked transfer encoding.
/// </summary>
/// <remarks>
/// <para>
/// The fixed buffer holds three regions: <c>[_start, _bodyEnd)</c> is decoded body not yet consumed,
/// <c>[_bodyEnd, _end)</c> is received bytes not yet de-chunked (at most a partial chunk-size line), and the rest
/// is free. Every receive is de-chunked in place at once (<see cref="Received"/>): chunk data is already where it
/// belongs, and a chunk-size line is cut out by moving the few bytes received after it. So the multipart parser
/// sees only body bytes, and knows, through <see cref="_chunkRemaining"/>, how many of the next socket bytes are
/// still chunk data.
/// </para>
/// <para>
/// Per part the viewer reads the delimiter and headers (waiting for the blank line, since the server sends the
/// next part's first header right after a frame and <c>Content-Length</c> only when the frame is ready), then
/// the first 38 bytes of the JPEG (SOI, COM head, probe), then drops the middle and reads the last 2 bytes (EOI).
/// The middle goes to <see cref="PayloadDiscarder"/> straight from the socket (MSG_TRUNC) as long as the count
/// stays inside the current chunk; only chunk-size lines pass through the buffer.
/// </para>
/// </remarks>
internal sealed class MjpegViewer : Viewer
{
    private const int JpegHeadSize = 6 + ProbeSize;
    private const int EoiSize = 2;
    private const int MaxBoundaryLength = 200;
    private const int MaxChunkLine = 1024;

    // Receive sizes: the part head (delimiter line + headers) is ~100 bytes; a chunk-size line is a few.
    private const int PartHeadReadAhead = 256;
    private const int ProbeReadAhead = JpegHeadSize + 16;
    private const int ChunkLineReadAhead = 32;
    private const int TailReadAhead = EoiSize + PartHeadReadAhead;

    private byte[] _delimiter = []; // "--" + boundary
    private bool _chunked;
    private long _chunkRemaining; // chunk data bytes not yet received
    private bool _chunkCrlfPending; // the CRLF that ends a chunk's data is still to come
    private bool _bodyEnded; // the last (zero-size) chunk has been seen
    private bool _skippingJunk; // bytes that were not a delimiter have been dropped before this part head
    private int _start;
    private int _bodyEnd;
    private int _end;

    public MjpegViewer(int id, bool stalled, int latencyCapacity, int sizeCapacity, PayloadDiscarder discarder, MeasurementWindow window)
        : base(id, stalled, latencyCapacity, sizeCapacity, discarder, window)
    {
    }

    public override string? TransportDetail => Connected && !Stalled
        ? $"HTTP multipart/x-mixed-replace, boundary \"{Encoding.ASCII.GetString(_delimiter, 2, _delimiter.Length - 2)}\", {(_chunked ? "chunked" : "not chunked")}"
        : null;

    private int BodyBuffered => _bodyEnd - _start;

    protected override async Task<string?> HandshakeAsync(string hostHeader, string target, CancellationToken ct)
    {
        var request = Encoding.ASCII.GetBytes(
            $"GET {target} HTTP/1.1\r\nHost: {hostHeader}\r\nAccept: multipart/x-mixed-replace, image/jpeg\r\n" +
            "User-Agent: osprey-load\r\n\r\n");
        await SendAllAsync(request, ct);
        if (Stalled)
        {
            // A stalled viewer asks and then never reads, not even the response head.
            return null;
        }

        var headEnd = await ReceiveResponseHeadAsync(0, ct);
        if (headEnd < 0)
        {
            return headEnd == -1 ? "request: connection closed before the response head ended" : "request: response head larger than 4096 bytes";
        }

        var problem = CheckResponse(Encoding.ASCII.GetString(Buffer, 0, headEnd));
        if (problem is not null)
        {
            return "request: " + problem;
        }

        // Bytes after the head are body already: de-chunk them like any later receive.
        _start = _bodyEnd = headEnd;
        _end = BufferedAfterHead;
        Decode();
        return null;
    }

    protected override async Task ReadFramesAsync(Socket socket, CancellationToken ct)
    {
        // One method, awaiting only the socket's reusable ValueTasks (see RawWebSocketViewer): no allocation per frame.
        while (!ct.IsCancellationRequested)
        {
            // Delimiter line and part headers, up to the blank line.
            int headersStart, headersEnd;
            while ((headersEnd = FindPartHead(out headersStart)) < 0)
            {
                Received(await socket.ReceiveAsync(ReceiveSpace(PartHeadReadAhead), SocketFlags.None, ct));
            }

            var (partLength, isJpeg) = ConsumePartHead(headersStart, headersEnd);
            var probeOk = false;
            long bulk;
            if (isJpeg && partLength >= JpegHeadSize + EoiSize)
            {
                while (BodyBuffered < JpegHeadSize)
                {
                    Received(await socket.ReceiveAsync(ReceiveSpace(ProbeReadAhead), SocketFlags.None, ct));
                }

                probeOk = ReadJpegProbe(Buffer.AsSpan(_start, JpegHeadSize));
                _start += JpegHeadSize;
                bulk = ConsumeBody(partLength - JpegHeadSize - EoiSize);
            }
            else
            {
                // Not a JPEG, or too short to carry a probe: skip the whole part.
                UnexpectedMessages++;
                bulk = ConsumeBody(partLength);
            }

            while (bulk > 0)
            {
                if (_bodyEnd == _end && (!_chunked || _chunkRemaining > 0))
                {
                    // Nothing buffered: the next bytes on the socket are body, up to the end of the current chunk.
                    var dropped = Discarded(await Discarder.DiscardAsync(socket, _chunked ? Math.Min(bulk, _chunkRemaining) : bulk, ct));
                    bulk -= dropped;
                    if (_chunked)
                    {
                        _chunkRemaining -= dropped;
                    }
                }
                else
                {
                    // At a chunk boundary: receive the chunk-size line (and a little data after it) through the buffer.
                    Received(await socket.ReceiveAsync(ReceiveSpace(ChunkLineReadAhead), SocketFlags.None, ct));
                    bulk = ConsumeBody(bulk);
                }
            }

            if (!isJpeg || partLength < JpegHeadSize + EoiSize)
            {
                continue;
            }

            // Read ahead past EOI: the next delimiter and the advance header usually follow in the same segment.
            while (BodyBuffered < EoiSize)
            {
                Received(await socket.ReceiveAsync(ReceiveSpace(TailReadAhead), SocketFlags.None, ct));
            }

            var eoi = Buffer[_start] == 0xFF && Buffer[_start + 1] == 0xD9;
            _start += EoiSize;
            CompleteFrame(partLength, probeOk, intact: eoi && ProbeDeclaredSize == partLength);
        }
    }

    /// <summary>Checks the response head and picks up the boundary and the transfer coding; returns a problem or null.</summary>
    private string? CheckResponse(string head)
    {
        var (status, headers) = ParseHead(head);
        if (StatusCode(status) != "200")
        {
            return $"expected 200, got \"{status}\"";
        }

        string? contentType = null, transferEncoding = null, contentEncoding = null;
        foreach (var (name, value) in headers)
        {
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                contentType = value;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                transferEncoding = transferEncoding is null ? value : transferEncoding + ", " + value;
            }
            else if (name.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                contentEncoding = value;
            }
        }

        if (transferEncoding is not null && !transferEncoding.Equals("chunked", StringComparison.OrdinalIgnoreCase))
        {
            return $"unsupported Transfer-Encoding \"{transferEncoding}\"";
        }

        if (contentEncoding is not null && !contentEncoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return $"unsupported Content-Encoding \"{contentEncoding}\"";
        }

        var parameters = (contentType ?? "").Split(';');
        if (!parameters[0].Trim().Equals("multipart/x-mixed-replace", StringComparison.OrdinalIgnoreCase))
        {
            return $"Content-Type is \"{contentType}\", expected multipart/x-mixed-replace";
        }

        string? boundary = null;
        foreach (var parameter in parameters.AsSpan(1))
        {
            var eq = parameter.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && parameter[..eq].Trim().Equals("boundary", StringComparison.OrdinalIgnoreCase))
            {
                boundary = parameter[(eq + 1)..].Trim();
                if (boundary.Length >= 2 && boundary[0] == '"' && boundary[^1] == '"')
                {
                    boundary = boundary[1..^1];
                }
            }
        }

        if (string.IsNullOrEmpty(boundary) || boundary.Length > MaxBoundaryLength)
        {
            return $"Content-Type \"{contentType}\" has no usable boundary";
        }

        _delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        _chunked = transferEncoding is not null;
        return null;
    }

    /// <summary>
    /// Finds a complete part head in the decoded body: the delimiter, the rest of its line, headers and the blank
    /// line. Returns the index just past the blank line (and where the headers start), or -1 when more is needed.
    /// </summary>
    private int FindPartHead(out int headersStart)
    {
        headersStart = -1;
        var body = Buffer.AsSpan(_start, BodyBuffered);
        // Before the delimiter: the CRLF that ends the previous part (or a preamble before the first one).
        var at = body.IndexOf(_delimiter);
        if (at < 0)
        {
            // Normally only the CRLF ending the previous part is here. More means a part was longer than its
            // Content-Length said (or a preamble): drop what cannot start a delimiter and keep looking.
            var keep = _delimiter.Length - 1;
            if (body.Length > keep + 2)
            {
                _start += body.Length - keep;
                _skippingJunk = true;
            }

            return -1;
        }


        var afterDelimiter = at + _delimiter.Length;
        if (body.Length - afterDelimiter < 2)
        {
            return -1;
        }

        if (body[afterDelimiter] == (byte)'-' && body[afterDelimiter + 1] == (byte)'-')
        {
            throw new IOException("server ended the multipart stream (close delimiter)");
        }

        // The delimiter line's own CRLF counts, so "--b\r\n\r\n" (a part without headers) is found too.
        var blank = body[afterDelimiter..].IndexOf("\r\n\r\n"u8);
        if (blank < 0)
        {
            return -1;
        }

        if ((at > 2 || _skippingJunk) && TotalFrames > 0)
        {
            // Junk between parts (not a preamble before the first one).
            UnexpectedMessages++;
        }

        _skippingJunk = false;
        var lineEnd = body[afterDelimiter..].IndexOf("\r\n"u8);
        headersStart = _start + afterDelimiter + lineEnd + 2;
        return _start + afterDelimiter + blank + 4;
    }

    /// <summary>Parses the part headers in <c>[headersStart, headersEnd)</c> without allocating, and consumes the head.</summary>
    private (long Length, bool IsJpeg) ConsumePartHead(int headersStart, int headersEnd)
    {
        long length = -1;
        var isJpeg = false;
        var headers = Buffer.AsSpan(headersStart, Math.Max(0, headersEnd - 2 - headersStart));
        while (!headers.IsEmpty)
        {
            var lineEnd = headers.IndexOf("\r\n"u8);
            var line = lineEnd < 0 ? headers : headers[..lineEnd];
            headers = lineEnd < 0 ? [] : headers[(lineEnd + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim((byte)' ');
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out length, out var used) || used != value.Length || length is < 0 or > MaxPayloadBytes)
                {
                    throw new InvalidDataException("bad part Content-Length");
                }
            }
            else if (Ascii.EqualsIgnoreCase(name, "Content-Type"u8))
            {
                isJpeg = value.Length >= 10 && Ascii.EqualsIgnoreCase(value[..10], "image/jpeg"u8);
            }
        }

        if (length < 0)
        {
            // Without a length the part could only be delimited by scanning every byte for the boundary.
            throw new InvalidDataException("part without Content-Length");
        }

        _start = headersEnd;
        return (length, isJpeg);
    }

    /// <summary>Consumes up to <paramref name="count"/> decoded body bytes from the buffer; returns how many are still to drop.</summary>
    private long ConsumeBody(long count)
    {
        var buffered = (int)Math.Min(BodyBuffered, count);
        _start += buffered;
        return count - buffered;
    }

    /// <summary>Free space to receive at most <paramref name="want"/> raw bytes into, compacting the buffer when needed.</summary>
    private Memory<byte> ReceiveSpace(int want)
    {
        if (_bodyEnded)
        {
            throw new IOException("server ended the response body (last chunk)");
        }

        if (_start == _end)
        {
            _start = _bodyEnd = _end = 0;
        }
        else if (Buffer.Length - _end < want && _start > 0)
        {
            Buffer.AsSpan(_start, _end - _start).CopyTo(Buffer);
            _bodyEnd -= _start;
            _end -= _start;
            _start = 0;
        }

        if (_end == Buffer.Length)
        {
            throw new InvalidDataException($"no part head or chunk line within {BufferSize} bytes");
        }

        return Buffer.AsMemory(_end, Math.Min(want, Buffer.Length - _end));
    }

    private void Received(int received)
    {
        if (received <= 0)
        {
            throw new IOException("connection closed by server");
        }

        _end += received;
        Decode();
    }

    /// <summary>Moves newly received bytes into the decoded region, cutting chunk-size lines out in place.</summary>
    private void Decode()
    {
        if (!_chunked)
        {
            _bodyEnd = _end;
            return;
        }

        while (_bodyEnd < _end && !_bodyEnded)
        {
            if (_chunkRemaining > 0)
            {
                // Chunk data is already in place.
                var take = (int)Math.Min(_chunkRemaining, _end - _bodyEnd);
                _bodyEnd += take;
                _chunkRemaining -= take;
                continue;
            }

            var raw = Buffer.AsSpan(_bodyEnd, _end - _bodyEnd);
            var skip = 0;
            if (_chunkCrlfPending)
            {
                if (raw.Length < 2)
                {
                    return;
                }

                if (raw[0] != (byte)'\r' || raw[1] != (byte)'\n')
                {
                    throw new InvalidDataException("chunk data not followed by CRLF");
                }

                skip = 2;
            }

            var lf = raw[skip..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                if (raw.Length > MaxChunkLine)
                {
                    throw new InvalidDataException("chunk-size line too long");
                }

                return;
            }

            var size = ParseChunkSize(raw.Slice(skip, lf));
            var lineLength = skip + lf + 1;
            raw[lineLength..].CopyTo(raw);
            _end -= lineLength;
            _chunkCrlfPending = true;
            _chunkRemaining = size;
            if (size == 0)
            {
                // Last chunk: trailers and anything after them are not body.
                _bodyEnded = true;
                _end = _bodyEnd;
            }
        }
    }

    /// <summary>The hex size of a chunk-size line (without its LF), ignoring extensions after ';'.</summary>
    private static long ParseChunkSize(ReadOnlySpan<byte> line)
    {
        var semicolon = line.IndexOf((byte)';');
        var digits = (semicolon >= 0 ? line[..semicolon] : line).TrimEnd((byte)'\r').Trim((byte)' ');
        if (digits.IsEmpty || digits.Length > 15 || !Utf8Parser.TryParse(digits, out long size, out var used, 'X') || used != digits.Length)
        {
            throw new InvalidDataException("bad chunk-size line");
        }

        return size;
    }

    private static int Discarded(int dropped) => dropped > 0 ? dropped : throw new IOException("connection closed by server inside a part");
}
