namespace Osprey.Runtime;

/// <summary>
/// The last lines a child wrote to stderr, for error messages: a ring bounded in bytes, so an ffmpeg that prints
/// a warning per frame for days holds no more than <see cref="CapacityBytes"/>.
/// </summary>
/// <remarks>Thread-safe: the stderr pump adds while a failing run reads.</remarks>
public sealed class StderrTail
{
    /// <summary>The most the tail holds, counted as the strings' UTF-16 bytes.</summary>
    public const int CapacityBytes = 8 * 1024;

    /// <summary>Lines longer than this many characters are cut; one line never fills the tail.</summary>
    public const int MaxLineLength = 300;

    private readonly Lock _lock = new();
    private readonly Queue<string> _lines = new();
    private int _bytes;

    /// <summary>Bytes held now (never more than <see cref="CapacityBytes"/>).</summary>
    public int Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Lines held now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>Adds a line, dropping the oldest ones until it fits.</summary>
    public void Add(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.Length > MaxLineLength)
        {
            line = line[..MaxLineLength];
        }

        lock (_lock)
        {
            _lines.Enqueue(line);
            _bytes += line.Length * sizeof(char);
            while (_bytes > CapacityBytes)
            {
                _bytes -= _lines.Dequeue().Length * sizeof(char);
            }
        }
    }

    /// <summary>The last <paramref name="count"/> lines, oldest first, joined by " | "; empty when there are none.</summary>
    public string Last(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_lock)
        {
            return string.Join(" | ", _lines.Skip(Math.Max(0, _lines.Count - count)));
        }
    }
}
