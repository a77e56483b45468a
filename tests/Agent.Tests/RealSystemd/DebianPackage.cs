using System.Diagnostics;
using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.RealSystemd;

/// <summary>deploy/debian/build.sh run by the tests, on the release binary of this test run.</summary>
internal static partial class DebianPackage
{
    private static readonly Lazy<string> Built = new(() => Build(Path.Combine(Repo.Root, "artifacts", "test-debian"), version: null));

    /// <summary>The package at the project's version, built once per test process (into artifacts/, which git ignores).</summary>
    public static string Default => Built.Value;

    /// <summary>The project's version (Directory.Build.props), which build.sh uses by default.</summary>
    public static string ProjectVersion => VersionElement().Match(File.ReadAllText(Path.Combine(Repo.Root, "Directory.Build.props"))).Groups[1].Value;

    /// <summary>Builds the package into <paramref name="outDir"/>; the path build.sh printed last. <paramref name="version"/> null: the project's.</summary>
    public static string Build(string outDir, string? version)
    {
        var (exitCode, stdout, stderr) = RunBuild(outDir, version);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"build.sh failed ({exitCode}): {stdout}{stderr}");
        }

        return stdout.TrimEnd().Split('\n')[^1];
    }

    public static (int ExitCode, string Stdout, string Stderr) RunBuild(params string?[] args)
    {
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(Repo.Root, "deploy", "debian", "build.sh"));
        if (args.Length > 0 && args[0] is { } outDir)
        {
            psi.ArgumentList.Add(outDir);
        }

        foreach (var extra in args.Skip(2).OfType<string>())
        {
            psi.ArgumentList.Add(extra);
        }

        psi.Environment["SOCKWATCH_PUBLISHED"] = ReleaseBinary.Directory;
        if (args.Length > 1 && args[1] is { } version)
        {
            psi.Environment["SOCKWATCH_DEB_VERSION"] = version;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }

    [GeneratedRegex("<Version>([^<]+)</Version>")]
    private static partial Regex VersionElement();
}
