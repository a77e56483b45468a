using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using SockWatch.Agent.Configuration;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

internal sealed class SystemdAnalyzeFactAttribute : FactAttribute
{
    public SystemdAnalyzeFactAttribute()
    {
        if (Conditions.FindExecutable("systemd-analyze") is null)
        {
            Skip = "needs systemd-analyze (Debian's systemd package) to check the unit offline";
        }
    }
}

public partial class DeployTests
{
    private static readonly string Unit = Path.Combine(Repo.Root, "deploy", "systemd", "sockwatch.service");

    /// <summary>The unit with ExecStart pointed at a binary that exists here (verify checks it is executable).</summary>
    private static string UnitWithLocalBinary()
    {
        var dir = Directory.CreateTempSubdirectory("sockwatch-unit-").FullName;
        var path = Path.Combine(dir, "sockwatch.service");
        File.WriteAllText(path, File.ReadAllText(Unit).Replace("/usr/lib/sockwatch/sockwatch", Path.Combine(AppContext.BaseDirectory, "sockwatch"), StringComparison.Ordinal));
        return path;
    }

    [SystemdAnalyzeFact]
    public void The_unit_verifies_clean()
    {
        var r = Run("systemd-analyze", "verify", "--man=no", "--recursive-errors=yes", UnitWithLocalBinary());
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal("", r.Output.Trim());
    }

    [SystemdAnalyzeFact]
    public void The_unit_exposure_is_at_most_2_5()
    {
        var r = Run("systemd-analyze", "security", "--offline=yes", "--no-pager", UnitWithLocalBinary());
        Assert.Equal(0, r.ExitCode);
        var m = ExposureLine().Match(r.Output);
        Assert.True(m.Success, r.Output);
        var exposure = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(exposure, 0.0, 2.5);
    }

    [SystemdAnalyzeFact]
    public void With_the_all_namespaces_drop_in_the_unit_verifies_and_its_exposure_stays_under_3()
    {
        // systemd-analyze reads no drop-in directory offline: the drop-in's lines go after the unit's.
        var path = UnitWithLocalBinary();
        File.AppendAllText(path, "\n" + File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "all-namespaces.conf")));
        var verify = Run("systemd-analyze", "verify", "--man=no", "--recursive-errors=yes", path);
        Assert.True(verify.ExitCode == 0 && verify.Output.Trim().Length == 0, verify.Output);
        var r = Run("systemd-analyze", "security", "--offline=yes", "--no-pager", path);
        var m = ExposureLine().Match(r.Output);
        Assert.True(m.Success, r.Output);
        Assert.InRange(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), 0.0, 3.0);
        Assert.Contains("✗ CapabilityBoundingSet=~CAP_SYS_ADMIN", r.Output, StringComparison.Ordinal); // the cost is reported, not hidden
    }

    [Fact]
    public void The_unit_is_what_the_daemon_needs()
    {
        var text = File.ReadAllText(Unit);
        Assert.Contains("Type=notify", text, StringComparison.Ordinal);
        Assert.Contains("WatchdogSec=", text, StringComparison.Ordinal);
        Assert.Contains("User=sockwatch", text, StringComparison.Ordinal);
        Assert.Contains("AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n", text, StringComparison.Ordinal);
        Assert.Contains("AF_NETLINK", text, StringComparison.Ordinal);
        Assert.Contains("\nMemoryDenyWriteExecute=yes\n", text, StringComparison.Ordinal); // the native AOT binary has no JIT
        Assert.Contains("\nRestartPreventExitStatus=2\n", text, StringComparison.Ordinal); // a configuration error is not restarted forever
        Assert.Contains("\nReadOnlyPaths=/run\n", text, StringComparison.Ordinal); // ProtectSystem=strict leaves /run writable
        foreach (var fatal in new[] { "\nPrivateNetwork=", "\nPrivateUsers=", "\nProtectProc=", "\nProcSubset=", "CAP_NET_ADMIN\n" })
        {
            Assert.DoesNotContain(fatal, text, StringComparison.Ordinal);
        }

        Assert.DoesNotMatch(TrailingComment(), text); // systemd has no trailing comments
    }

    [Fact]
    public void The_shipped_configuration_loads_and_validates()
    {
        var options = ConfigurationLoader.Load(Path.Combine(Repo.Root, "deploy", "systemd", "sockwatch.json"), new Dictionary<string, string>(), new Dictionary<string, string>());
        Assert.Equal(TimeSpan.FromSeconds(15), options.PollInterval);
        Assert.Equal(TimeSpan.FromMinutes(2), options.CloseWaitLeakAfter);
    }

    [SystemdAnalyzeFact]
    public void With_the_tracing_drop_in_the_unit_verifies_and_only_the_bpf_capability_line_turns()
    {
        var path = UnitWithLocalBinary();
        var before = Run("systemd-analyze", "security", "--offline=yes", "--no-pager", path);
        File.AppendAllText(path, "\n" + File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "tracing.conf")));
        var verify = Run("systemd-analyze", "verify", "--man=no", "--recursive-errors=yes", path);
        Assert.True(verify.ExitCode == 0 && verify.Output.Trim().Length == 0, verify.Output);
        var after = Run("systemd-analyze", "security", "--offline=yes", "--no-pager", path);
        var m = ExposureLine().Match(after.Output);
        Assert.True(m.Success, after.Output);
        Assert.InRange(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), 0.0, 2.5); // the README's figure: 2.4 with and without
        Assert.Contains("✗ CapabilityBoundingSet=~CAP_BPF", after.Output, StringComparison.Ordinal); // the cost is reported, not hidden
        Assert.DoesNotContain("✗ CapabilityBoundingSet=~CAP_BPF", before.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Install_with_tracing_adds_the_drop_in_and_uninstall_removes_it()
    {
        var root = Directory.CreateTempSubdirectory("sockwatch-destdir-").FullName;
        try
        {
            var install = Run("bash", [Path.Combine(Repo.Root, "deploy", "install.sh"), "install", "--from", AppContext.BaseDirectory, "--tracing"], root);
            Assert.True(install.ExitCode == 0, install.Output);
            var dropIn = Path.Combine(root, "etc/systemd/system/sockwatch.service.d/tracing.conf");
            Assert.Equal(File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "tracing.conf")), File.ReadAllText(dropIn));
            var uninstall = Run("bash", [Path.Combine(Repo.Root, "deploy", "install.sh"), "uninstall"], root);
            Assert.True(uninstall.ExitCode == 0, uninstall.Output);
            Assert.False(Directory.Exists(Path.GetDirectoryName(dropIn)));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Install_and_uninstall_stage_under_destdir()
    {
        var root = Directory.CreateTempSubdirectory("sockwatch-destdir-").FullName;
        try
        {
            var install = Run("bash", [Path.Combine(Repo.Root, "deploy", "install.sh"), "install", "--from", AppContext.BaseDirectory, "--all-namespaces"], root);
            Assert.True(install.ExitCode == 0, install.Output);
            var binary = Path.Combine(root, "usr/lib/sockwatch/sockwatch");
            Assert.True(File.Exists(binary));
            Assert.True(OperatingSystem.IsWindows() || File.GetUnixFileMode(binary).HasFlag(UnixFileMode.UserExecute));
            Assert.Equal(File.ReadAllText(Unit), File.ReadAllText(Path.Combine(root, "etc/systemd/system/sockwatch.service")));
            Assert.True(File.Exists(Path.Combine(root, "etc/sockwatch/sockwatch.json")));
            var dropIns = Path.Combine(root, "etc/systemd/system/sockwatch.service.d");
            Assert.True(File.Exists(Path.Combine(dropIns, "all-namespaces.conf")));
            File.WriteAllText(Path.Combine(dropIns, "local.conf"), "[Service]\n"); // one of the admin's: it configures only this unit

            // A changed configuration survives an uninstall; everything else goes.
            File.AppendAllText(Path.Combine(root, "etc/sockwatch/sockwatch.json"), "\n");
            var uninstall = Run("bash", [Path.Combine(Repo.Root, "deploy", "install.sh"), "uninstall"], root);
            Assert.True(uninstall.ExitCode == 0, uninstall.Output);
            Assert.False(File.Exists(binary));
            Assert.False(File.Exists(Path.Combine(root, "etc/systemd/system/sockwatch.service")));
            Assert.False(Directory.Exists(dropIns)); // a later install must not pick old drop-ins up again
            Assert.True(File.Exists(Path.Combine(root, "etc/sockwatch/sockwatch.json")));
            Assert.Contains("keeping", uninstall.Output, StringComparison.Ordinal);

            var bad = Run("bash", [Path.Combine(Repo.Root, "deploy", "install.sh"), "reinstall"], root);
            Assert.Equal(2, bad.ExitCode);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static (int ExitCode, string Output) Run(string exe, params string[] args) => Run(exe, args, destdir: null);

    private static (int ExitCode, string Output) Run(string exe, string[] args, string? destdir)
    {
        var psi = new ProcessStartInfo(Conditions.FindExecutable(exe) ?? exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (destdir is not null)
        {
            psi.Environment["DESTDIR"] = destdir;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    [GeneratedRegex(@"Overall exposure level for \S+: ([0-9.]+)")]
    private static partial Regex ExposureLine();

    [GeneratedRegex(@"^[A-Za-z]+=[^\n#]*[ \t]#", RegexOptions.Multiline)]
    private static partial Regex TrailingComment();
}
