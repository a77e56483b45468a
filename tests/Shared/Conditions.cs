using System.Runtime.InteropServices;

namespace SockWatch.Tests;

/// <summary>What a live test needs from the machine; tests skip with the reason when it is missing.</summary>
internal static partial class Conditions
{
    public static bool IsLinux => OperatingSystem.IsLinux();

    public static bool IsRoot => IsLinux && GetEuid() == 0;

    public static string? FindExecutable(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/sbin").Append("/usr/bin").Append("/bin")
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();
}

/// <summary>A fact that needs Linux and iproute2's ss as the oracle.</summary>
internal sealed class LiveFactAttribute : FactAttribute
{
    public LiveFactAttribute()
    {
        if (!Conditions.IsLinux)
        {
            Skip = "needs Linux: reads the kernel's live socket tables";
        }
        else if (Conditions.FindExecutable("ss") is null)
        {
            Skip = "needs ss from iproute2 as the oracle (apt-get install iproute2; .ci/run installs it)";
        }
    }
}

/// <summary>A fact that needs root (network namespaces, cgroups); CI runs as root.</summary>
internal sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Conditions.IsRoot)
        {
            Skip = "needs root to make network namespaces; CI runs as root";
        }
    }
}
