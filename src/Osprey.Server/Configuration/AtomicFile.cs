using System.Text;

namespace Osprey.Server.Configuration;

/// <summary>Writes a file so that a reader never sees half of it: a temporary file beside it, then a rename over it.</summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/>, keeping the old file's permissions.</summary>
    public static async Task WriteAsync(string path, string text, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp");
        await File.WriteAllTextAsync(temporary, text, new UTF8Encoding(false), cancellationToken);
        if (File.Exists(full) && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, File.GetUnixFileMode(full));
        }

        File.Move(temporary, full, overwrite: true);
    }
}
