using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SockWatch.Tests;

/// <summary>
/// A private network namespace made with `ip netns add`, and a way to run code inside it: a
/// dedicated thread that enters it with setns (which changes only the calling thread), so
/// sockets, netlink sockets and /proc/thread-self/net opened there belong to the namespace.
/// </summary>
internal sealed partial class TestNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private static int _counter;

    public TestNamespace()
    {
        Name = $"swtest-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        Ip("netns", "add", Name);
        Ip("-n", Name, "link", "set", "lo", "up");
    }

    public string Name { get; }

    public static void Ip(params string[] args) => Run(Conditions.FindExecutable("ip") ?? "ip", args);

    public static string Run(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        }

        return stdout;
    }

    /// <summary>Runs <paramref name="action"/> on a new thread inside the namespace and waits for it.</summary>
    public T Inside<T>(Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(Path.Combine("/run/netns", Name));
                if (SetNs((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException("setns failed: errno " + Marshal.GetLastPInvokeError());
                }

                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new AggregateException("inside " + Name, failure);
        }

        return result;
    }

    public void Dispose()
    {
        try
        {
            Ip("netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
