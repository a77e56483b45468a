using System.Globalization;

namespace SockWatch.Tests;

/// <summary>
/// Puts test processes in cgroups named like systemd services (system.slice/NAME.service) in
/// every hierarchy this host lets root write: the v2 tree (/sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid hosts) and the v1 name=systemd tree. Removes them on Dispose.
/// </summary>
internal sealed class ServiceCgroups : IDisposable
{
    private static readonly string[] Hierarchies = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"];

    private readonly List<string> _created = [];

    /// <summary>Moves <paramref name="pid"/> into system.slice/<paramref name="unit"/>; how many hierarchies took it.</summary>
    public int Place(int pid, string unit)
    {
        var placed = 0;
        foreach (var root in Hierarchies)
        {
            var isV2 = File.Exists(Path.Combine(root, "cgroup.controllers"));
            var isNamedSystemd = root.EndsWith("/systemd", StringComparison.Ordinal) && File.Exists(Path.Combine(root, "cgroup.procs"));
            if (!isV2 && !isNamedSystemd)
            {
                continue;
            }

            var dir = Path.Combine(root, "system.slice", unit);
            try
            {
                Directory.CreateDirectory(dir);
                _created.Add(dir);
                File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
                placed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not writable here (read-only cgroupfs in a container): try the next hierarchy
            }

            if (isV2 && root == "/sys/fs/cgroup")
            {
                break; // pure v2: the only hierarchy
            }
        }

        return placed;
    }

    /// <summary>Removes the cgroups (call after the processes in them are gone).</summary>
    public void Dispose()
    {
        foreach (var dir in _created)
        {
            try
            {
                Directory.Delete(dir);
            }
            catch (IOException)
            {
                // still busy for a moment after the kill; a later run reuses or leaves it empty
            }
        }
    }
}
