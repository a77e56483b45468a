using System.Runtime.InteropServices;

namespace SockWatch.Tests;

/// <summary>What a live test needs from the machine; tests skip with the reason when it is missing.</summary>
internal static partial class Conditions
{
    public static bool IsLinux => OperatingSystem.IsLinux();

    public static bool IsRoot => IsLinux && GetEuid() == 0;

    /// <summary>Why a live test cannot run here (null: it can): it needs Linux and ss as the oracle.</summary>
    public static string? LiveSkipReason =>
        !IsLinux ? "needs Linux: reads the kernel's live socket tables"
        : FindExecutable("ss") is null ? "needs ss from iproute2 as the oracle (apt-get install iproute2; .ci/run installs it)"
        : null;

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
    public LiveFactAttribute() => Skip = Conditions.LiveSkipReason;
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

/// <summary>A theory that needs what <see cref="LiveFactAttribute"/> needs.</summary>
internal sealed class LiveTheoryAttribute : TheoryAttribute
{
    public LiveTheoryAttribute() => Skip = Conditions.LiveSkipReason;
}
