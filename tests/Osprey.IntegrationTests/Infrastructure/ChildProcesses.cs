namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>Finds a process's children through /proc (Linux), to check what osprey started and what it left.</summary>
public static partial class ChildProcesses
{
    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/> (9 = SIGKILL, 15 = SIGTERM).</summary>
    public static int Signal(int pid, int signal) => Kill(pid, signal);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    public static IReadOnlyList<int> Of(int parent, string command)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                // pid (comm) state ppid ...: comm may contain spaces, so read after the last ')'.
                var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..stat.LastIndexOf(')')];
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1]) == parent && name == command)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // It exited while we looked.
            }
        }

        return children;
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
