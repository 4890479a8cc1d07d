using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// A real HTTP client of <c>/mjpeg/{feed}</c> that parses <c>multipart/x-mixed-replace</c> strictly: boundary
/// from the Content-Type, part headers, Content-Length, exactly that many bytes, then CRLF and the next boundary.
/// </summary>
public sealed class MjpegClient : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private HttpResponseMessage? _response;
    private Stream? _body;
    private byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private string _boundary = "";

    public MediaTypeHeaderValue? ContentType => _response?.Content.Headers.ContentType;

    public HttpResponseMessage Response => _response!;

    public static async Task<MjpegClient> ConnectAsync(Uri uri, CancellationToken cancellationToken = default)
    {
        var client = new MjpegClient();
        client._response = await client._http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        client._response.EnsureSuccessStatusCode();
        var boundary = client.ContentType?.Parameters.FirstOrDefault(p => p.Name == "boundary")?.Value
            ?? throw new InvalidOperationException("no boundary in the Content-Type");
        client._boundary = "--" + boundary.Trim('"');
        client._body = await client._response.Content.ReadAsStreamAsync(cancellationToken);
        return client;
    }

    /// <summary>Reads the next part: its headers and its JPEG.</summary>
    public async Task<(Dictionary<string, string> Headers, byte[] Jpeg)> ReadPartAsync(CancellationToken cancellationToken)
    {
        // Skip the CRLF that ends the previous part, then expect the boundary line.
        var line = await ReadLineAsync(cancellationToken);
        if (line.Length == 0)
        {
            line = await ReadLineAsync(cancellationToken);
        }

        if (line != _boundary)
        {
            throw new InvalidDataException($"expected the boundary '{_boundary}', got '{line}'");
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while ((line = await ReadLineAsync(cancellationToken)).Length > 0)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var length = int.Parse(headers["Content-Length"], CultureInfo.InvariantCulture);
        var jpeg = new byte[length];
        var filled = 0;
        while (filled < length)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new EndOfStreamException();
            }

            var take = Math.Min(length - filled, _end - _start);
            Array.Copy(_buffer, _start, jpeg, filled, take);
            _start += take;
            filled += take;
        }

        return (headers, jpeg);
    }

    public void Dispose()
    {
        _body?.Dispose();
        _response?.Dispose();
        _http.Dispose();
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var index = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, index - _start).TrimEnd('\r');
                _start = index + 1;
                return line;
            }

            if (_end - _start > 8192)
            {
                throw new InvalidDataException("a header line longer than 8 KiB");
            }

            if (!await FillAsync(cancellationToken))
            {
                throw new EndOfStreamException();
            }
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        var read = await _body!.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += read;
        return read > 0;
    }
}
