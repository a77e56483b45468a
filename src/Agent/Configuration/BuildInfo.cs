using System.Reflection;

namespace SockWatch.Agent.Configuration;

/// <summary>What this build of SockWatch is, as the pages, the build_info metric and the OpenTelemetry resource say it.</summary>
internal static class BuildInfo
{
    /// <summary>The informational version of the executable (Directory.Build.props' Version).</summary>
    public static string Version { get; } =
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
