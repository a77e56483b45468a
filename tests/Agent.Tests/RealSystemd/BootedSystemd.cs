using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.RealSystemd;

/// <summary>A fact that needs root, Debian's systemd binary, unshare and nsenter.</summary>
internal sealed class RealSystemdFactAttribute : FactAttribute
{
    public RealSystemdFactAttribute() => Skip = BootedSystemd.SkipReason;
}

/// <summary>
/// Debian's systemd booted as PID 1 of private namespaces (boot-systemd.sh beside this file):
/// pid, mount, uts, net, ipc and cgroup namespaces, an overlay of / whose writes land on a
/// tmpfs. Booted once per test class; <see cref="Dispose"/> kills its PID 1 (which takes every
/// process of the PID namespace, and with the last of them the mount namespace and all its
/// mounts) and removes the cgroup it ran in, whatever the tests did.
/// </summary>
internal sealed partial class BootedSystemd : IDisposable
{
    private const int SIGKILL = 9;
    private static readonly string[] HostHierarchies = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"];
    private static int _counter;

    private readonly Process? _unshare;
    private readonly string _cgroup;

    public BootedSystemd()
    {
        _cgroup = $"sockwatch-test-systemd-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        if (SkipReason is not null)
        {
            return;
        }

        RemoveStaleCgroups();
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Repo.Root, "tests", "Agent.Tests", "RealSystemd", "boot-systemd.sh"));
        psi.ArgumentList.Add(_cgroup);
        _unshare = Process.Start(psi)!;
        _unshare.OutputDataReceived += (_, _) => { };
        _unshare.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (BootLog) { BootLog.Add(e.Data); } } };
        _unshare.BeginOutputReadLine();
        _unshare.BeginErrorReadLine();
        try
        {
            Pid = WaitForInit();
            var running = Run(TimeSpan.FromSeconds(90), "systemctl", "is-system-running", "--wait");
            if (running.Output.Trim() is not ("running" or "degraded"))
            {
                throw new InvalidOperationException("the booted systemd is " + running.Output + "; boot log: " + string.Join('\n', BootLog));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Why these tests cannot run here (null: they can).</summary>
    public static string? SkipReason =>
        !Conditions.IsRoot ? "needs root: boots systemd in private namespaces"
        : !File.Exists("/lib/systemd/systemd") ? "needs Debian's systemd package (/lib/systemd/systemd)"
        : Conditions.FindExecutable("unshare") is null || Conditions.FindExecutable("nsenter") is null ? "needs unshare and nsenter (util-linux)"
        : null;

    /// <summary>The host's pid of the booted systemd (PID 1 inside).</summary>
    public int Pid { get; }

    /// <summary>The booted system's root, as the host reaches it (the overlay).</summary>
    public string Root => $"/proc/{Pid}/root";

    private List<string> BootLog { get; } = [];

    /// <summary>Runs a command inside every namespace of the booted system, as root there.</summary>
    public (int ExitCode, string Output) Run(params string[] command) => Run(TimeSpan.FromSeconds(60), command);

    public (int ExitCode, string Output) Run(TimeSpan timeout, params string[] command)
    {
        var psi = new ProcessStartInfo(Conditions.FindExecutable("nsenter")!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-t", Pid.ToString(CultureInfo.InvariantCulture), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0" }.Concat(command))
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{string.Join(' ', command)} did not end within {timeout}: {stdout.Result}{stderr.Result}");
        }

        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Runs a command that must succeed; its output.</summary>
    public string Must(params string[] command)
    {
        var r = Run(command);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({r.ExitCode}): {r.Output}");
        }

        return r.Output;
    }

    /// <summary>A property of a unit (`systemctl show -P`).</summary>
    public string Show(string unit, string property) => Must("systemctl", "show", "-P", property, unit).Trim();

    /// <summary>Writes a file into the booted system (through the overlay, as the host sees it).</summary>
    public void WriteFile(string path, string text)
    {
        var hostPath = Root + path;
        Directory.CreateDirectory(Path.GetDirectoryName(hostPath)!);
        File.WriteAllText(hostPath, text);
    }

    /// <summary>Copies a host directory into the booted system.</summary>
    public void CopyIn(string hostDirectory, string path)
    {
        Directory.CreateDirectory(Root + path);
        foreach (var file in Directory.EnumerateFiles(hostDirectory))
        {
            var target = Path.Combine(Root + path, Path.GetFileName(file));
            File.Copy(file, target, overwrite: true);
            if (OperatingSystem.IsLinux())
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(file));
            }
        }
    }

    /// <summary>Copies a host directory and everything under it into the booted system.</summary>
    public void CopyTreeIn(string hostDirectory, string path)
    {
        CopyIn(hostDirectory, path);
        foreach (var directory in Directory.EnumerateDirectories(hostDirectory))
        {
            CopyTreeIn(directory, path + "/" + Path.GetFileName(directory));
        }
    }

    /// <summary>Waits (polling) until <paramref name="done"/> holds; false when it did not within <paramref name="limit"/>.</summary>
    public static bool WaitUntil(Func<bool> done, TimeSpan limit)
    {
        var until = Stopwatch.StartNew();
        while (!done())
        {
            if (until.Elapsed > limit)
            {
                return false;
            }

            Thread.Sleep(200);
        }

        return true;
    }

    public void Dispose()
    {
        if (Pid > 0)
        {
            _ = Kill(Pid, SIGKILL); // PID 1 of the namespace: the kernel kills every other process in it
        }

        foreach (var h in HostHierarchies)
        {
            var kill = Path.Combine(h, _cgroup, "cgroup.kill");
            if (File.Exists(kill))
            {
                try
                {
                    File.WriteAllText(kill, "1");
                }
                catch (IOException)
                {
                    // gone meanwhile
                }
            }
        }

        if (_unshare is not null)
        {
            if (!_unshare.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                _unshare.Kill(entireProcessTree: true);
                _unshare.WaitForExit();
            }

            _unshare.Dispose();
        }

        foreach (var h in HostHierarchies)
        {
            RemoveCgroupTree(Path.Combine(h, _cgroup));
        }
    }

    /// <summary>
    /// The cgroups of an earlier test process that died before its teardown (killed, crashed):
    /// named after its pid, which no longer runs. Their systemd died with that process's PID
    /// namespace, so they are empty and only need removing.
    /// </summary>
    private static void RemoveStaleCgroups()
    {
        foreach (var h in HostHierarchies.Where(Directory.Exists))
        {
            foreach (var dir in Directory.EnumerateDirectories(h, "sockwatch-test-systemd-*"))
            {
                var parts = Path.GetFileName(dir).Split('-');
                if (parts.Length == 5 && int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !Directory.Exists($"/proc/{pid}"))
                {
                    RemoveCgroupTree(dir);
                }
            }
        }
    }

    /// <summary>Removes a cgroup and every cgroup under it, deepest first (a cgroup is removed with rmdir once empty).</summary>
    private static void RemoveCgroupTree(string dir)
    {
        if (!Directory.Exists(dir) || !File.Exists(Path.Combine(dir, "cgroup.procs")))
        {
            return;
        }

        foreach (var child in Directory.GetDirectories(dir))
        {
            RemoveCgroupTree(child);
        }

        // A cgroup whose last process was just killed stays busy until the kernel has reaped it.
        _ = WaitUntil(
            () =>
            {
                try
                {
                    Directory.Delete(dir);
                    return true;
                }
                catch (IOException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(10));
    }

    private int WaitForInit()
    {
        var children = $"/proc/{_unshare!.Id}/task/{_unshare.Id}/children";
        var found = 0;
        if (!WaitUntil(
            () =>
            {
                if (_unshare.HasExited)
                {
                    throw new InvalidOperationException("boot-systemd.sh exited: " + string.Join('\n', BootLog));
                }

                var first = File.Exists(children) ? File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() : null;
                if (first is null || !int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    return false;
                }

                found = pid;
                return File.ReadAllText($"/proc/{pid}/comm").Trim() == "systemd"
                    && File.Exists($"/proc/{pid}/root/run/systemd/private");
            },
            TimeSpan.FromSeconds(60)))
        {
            throw new InvalidOperationException("systemd did not come up: " + string.Join('\n', BootLog));
        }

        return found;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
