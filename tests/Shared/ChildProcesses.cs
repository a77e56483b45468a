using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SockWatch.Tests;

/// <summary>Processes a test starts; whatever is still running when the test ends is killed and reaped.</summary>
internal sealed partial class ChildProcesses : IDisposable
{
    public const int SIGTERM = 15;

    private readonly List<Process> _processes = [];

    public Process Start(string exe, IEnumerable<string> args, bool redirectStdin = false, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardInput = redirectStdin, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        var p = Process.Start(psi)!;
        _processes.Add(p);
        return p;
    }

    /// <summary>Sends a signal (SIGTERM, as systemd stops a service); 0 when it was delivered.</summary>
    public static int Signal(Process p, int signal) => Kill(p.Id, signal);

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited)
            {
                p.Kill();
                p.WaitForExit();
            }

            p.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
