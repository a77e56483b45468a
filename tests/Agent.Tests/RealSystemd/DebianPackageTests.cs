using System.Diagnostics;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.RealSystemd;

internal sealed class DpkgDebFactAttribute : FactAttribute
{
    public DpkgDebFactAttribute(bool lintian = false)
    {
        if (!OperatingSystem.IsLinux() || Conditions.FindExecutable("dpkg-deb") is null)
        {
            Skip = "needs dpkg-deb (Debian's dpkg package)";
        }
        else if (lintian && Conditions.FindExecutable("lintian") is null)
        {
            Skip = "needs lintian (apt-get install lintian)";
        }
    }
}

/// <summary>The package deploy/debian/build.sh makes, read with dpkg-deb and lintian (installing it: RealSystemdTests).</summary>
public sealed class DebianPackageTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("sockwatch-deb-").FullName;

    [DpkgDebFact]
    public void It_holds_the_binary_the_unit_and_the_configuration_as_a_conffile_with_its_maintainer_scripts()
    {
        var deb = DebianPackage.Default;
        Assert.Equal($"sockwatch_{DebianPackage.ProjectVersion}_amd64.deb", Path.GetFileName(deb));
        Assert.True(File.Exists(deb));

        var contents = DpkgDeb("-c", deb);
        foreach (var path in new[] { "./usr/lib/sockwatch/sockwatch", "./lib/systemd/system/sockwatch.service", "./etc/sockwatch/sockwatch.json", "./usr/share/doc/sockwatch/copyright", "./usr/share/doc/sockwatch/examples/all-namespaces.conf", "./usr/share/doc/sockwatch/examples/tracing.conf" })
        {
            Assert.Contains(" " + path + "\n", contents, StringComparison.Ordinal);
        }

        Assert.Contains("root/root", contents, StringComparison.Ordinal);
        var control = Directory.CreateTempSubdirectory("sockwatch-deb-control-").FullName;
        try
        {
            DpkgDeb("-e", deb, control);
            Assert.Equal("/etc/sockwatch/sockwatch.json\n", File.ReadAllText(Path.Combine(control, "conffiles")));
            Assert.Equal(File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "sockwatch.service")), ReadFromDeb(deb, "./lib/systemd/system/sockwatch.service"));
            Assert.Contains("adduser --system", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
            Assert.Contains("try-restart", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
            Assert.Contains("sockwatch.service.d", File.ReadAllText(Path.Combine(control, "postrm")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(control, recursive: true);
        }

        Assert.Equal("amd64", DpkgDeb("-f", deb, "Architecture").Trim());
        Assert.Equal(DebianPackage.ProjectVersion, DpkgDeb("-f", deb, "Version").Trim());
    }

    [DpkgDebFact]
    public void Bad_usage_and_a_version_dpkg_would_refuse_exit_with_their_status()
    {
        Assert.Equal(2, DebianPackage.RunBuild(_out, null, "extra").ExitCode);
        var bad = DebianPackage.RunBuild(_out, "v1");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("not a Debian version", bad.Stderr, StringComparison.Ordinal);
    }

    [DpkgDebFact(lintian: true)]
    public void Lintian_finds_no_error_and_no_warning()
    {
        var deb = DebianPackage.Default;
        var psi = new ProcessStartInfo("lintian") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--tag-display-limit", "0", deb })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.DoesNotContain(stdout.Result.Split('\n'), l => l.StartsWith("E:", StringComparison.Ordinal) || l.StartsWith("W:", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private static string ReadFromDeb(string deb, string path)
    {
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - \"$2\"", "read", deb, path })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return text;
    }

    private static string DpkgDeb(params string[] args) => TestNamespace.Run("dpkg-deb", args);
}
