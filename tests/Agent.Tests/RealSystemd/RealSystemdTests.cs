using System.Text.RegularExpressions;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.RealSystemd;

/// <summary>
/// SockWatch under a real systemd (Debian's 252, booted as PID 1 of private namespaces by
/// <see cref="BootedSystemd"/>), installed as the README tells users, with the release binary.
/// One boot for the class; each fact starts from nothing installed and removes what it installed.
/// </summary>
public sealed partial class RealSystemdTests : IClassFixture<RealSystemdTests.Machine>
{
    private const string Release = "/opt/sockwatch-release";
    // The checkout is copied in: the booted system's / is an overlay of the host's root file
    // system only, with its own tmpfs /tmp, so a clone under /tmp or on another mount is not there.
    private const string Source = "/opt/sockwatch-source";
    private const string Install = Source + "/deploy/install.sh";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly BootedSystemd _systemd;

    public RealSystemdTests(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _systemd = machine.Systemd!;
    }

    /// <summary>The booted system and the release binary copied into it, for the whole class.</summary>
    public sealed class Machine : IDisposable
    {
        public Machine()
        {
            if (BootedSystemd.SkipReason is not null)
            {
                return;
            }

            var binary = ReleaseBinary.Directory; // published before the boot: the boot is not kept waiting
            Systemd = new BootedSystemd();
            Systemd.CopyIn(binary, Release);
            Systemd.CopyTreeIn(Path.Combine(Repo.Root, "deploy"), Source + "/deploy");
            Systemd.WriteFile(Source + "/README.md", File.ReadAllText(Path.Combine(Repo.Root, "README.md")));
        }

        internal BootedSystemd? Systemd { get; }

        public void Dispose() => Systemd?.Dispose();
    }

    [RealSystemdFact]
    public void Installed_as_the_readme_says_it_is_ready_serves_reports_a_leaking_unit_and_cannot_write_the_system()
    {
        try
        {
            var install = _systemd.Run("bash", Install, "install", "--from", Release);
            Assert.True(install.ExitCode == 0, install.Output);
            Assert.Contains("install.sh: started", install.Output, StringComparison.Ordinal);

            // Type=notify: active only after READY=1, with the STATUS= line of the first poll.
            Assert.Equal("active", _systemd.Show("sockwatch", "ActiveState"));
            Assert.Matches(StatusLine(), _systemd.Show("sockwatch", "StatusText"));
            Assert.Contains("sockwatch_build_info", _systemd.Must("curl", "-sf", "http://127.0.0.1:9859/metrics"), StringComparison.Ordinal);

            // A leaking process in its own unit: reported with that unit.
            UseTestSettings();
            Assert.Equal(0, _systemd.Run("systemctl", "restart", "sockwatch").ExitCode);
            _systemd.WriteFile("/tmp/leaky.py", LiveScripts.LeakyServer("leaky", leaks: 3, port: 0, untilKilled: true));
            _systemd.Must("systemd-run", "--unit=sw-leaky.service", "-p", "Restart=always", "-p", "RestartSec=100ms", "python3", "/tmp/leaky.py");
            string metrics = "";
            Assert.True(
                BootedSystemd.WaitUntil(() => (metrics = _systemd.Run("curl", "-sf", "http://127.0.0.1:9859/metrics").Output).Contains("sockwatch_close_wait_leaked_sockets{netns=\"host\",process=\"leaky\",unit=\"sw-leaky.service\"", StringComparison.Ordinal), Patience),
                metrics);

            // systemd restarts the leaking service (as when it runs out of descriptors): SockWatch
            // asks systemd over D-Bus and says how often, in the metric and in the finding.
            _systemd.Must("systemctl", "kill", "-s", "KILL", "sw-leaky.service");
            Assert.True(
                BootedSystemd.WaitUntil(() => (metrics = _systemd.Run("curl", "-sf", "http://127.0.0.1:9859/metrics").Output).Contains("sockwatch_unit_restarts{netns=\"host\",unit=\"sw-leaky.service\",otel_scope_name=\"sockwatch\"} 1", StringComparison.Ordinal), Patience),
                metrics + _systemd.Run("journalctl", "-u", "sockwatch", "-o", "cat", "--no-pager").Output);
            Assert.DoesNotContain("sockwatch_unit_restarts{netns=\"host\",unit=\"sockwatch.service\"", metrics, StringComparison.Ordinal); // no close_wait leak there

            // The finding is a warning in the journal; "listening on" is information and stays out.
            string warnings = "";
            Assert.True(
                BootedSystemd.WaitUntil(() => (warnings = _systemd.Must("journalctl", "-u", "sockwatch", "-p", "warning", "-o", "cat", "--no-pager")).Contains("close_wait_leak", StringComparison.Ordinal), Patience),
                warnings);
            Assert.DoesNotContain("listening on", warnings, StringComparison.Ordinal);
            Assert.True(
                BootedSystemd.WaitUntil(() => (warnings = _systemd.Must("journalctl", "-u", "sockwatch", "-p", "warning", "-o", "cat", "--no-pager")).Contains("systemd restarted sw-leaky.service 1 time (active, LimitNOFILE 1024)", StringComparison.Ordinal), Patience),
                warnings);
            Assert.Contains("listening on", _systemd.Must("journalctl", "-u", "sockwatch", "-p", "info", "-o", "cat", "--no-pager"), StringComparison.Ordinal);

            // The service's own view of the file system: /, /etc, /var and /run are read-only.
            var mainPid = _systemd.Show("sockwatch", "MainPID");
            foreach (var dir in new[] { "/", "/etc", "/var", "/run", "/run/systemd" })
            {
                var probe = _systemd.Run("nsenter", "-t", mainPid, "-m", "--", "touch", Path.Combine(dir, ".sockwatch-probe"));
                Assert.True(probe.ExitCode != 0 && probe.Output.Contains("Read-only file system", StringComparison.Ordinal), dir + ": " + probe.Output);
            }

            // ... and READY, STATUS and the watchdog still work with /run read-only: a later STATUS= names the leak.
            Assert.True(BootedSystemd.WaitUntil(() => !_systemd.Show("sockwatch", "StatusText").StartsWith("0 sockets", StringComparison.Ordinal), Patience));
        }
        finally
        {
            _systemd.Run("systemctl", "stop", "sw-leaky.service");
            Uninstall();
        }
    }

    [RealSystemdFact]
    public void The_watchdog_restarts_a_stopped_daemon_and_a_stop_ends_it_with_status_0()
    {
        try
        {
            Assert.Equal(0, _systemd.Run("bash", Install, "install", "--from", Release).ExitCode);
            UseTestSettings();
            Assert.Equal(0, _systemd.Run("systemctl", "restart", "sockwatch").ExitCode);
            var stopped = _systemd.Show("sockwatch", "MainPID");

            _systemd.Must("kill", "-STOP", stopped);
            Assert.True(
                BootedSystemd.WaitUntil(() => _systemd.Show("sockwatch", "NRestarts") == "1" && _systemd.Show("sockwatch", "ActiveState") == "active", Patience),
                _systemd.Run("systemctl", "status", "sockwatch").Output);
            Assert.NotEqual(stopped, _systemd.Show("sockwatch", "MainPID"));
            Assert.Contains("Watchdog timeout", _systemd.Must("journalctl", "-u", "sockwatch", "-o", "cat", "--no-pager"), StringComparison.Ordinal);

            // TimeoutStopSec=5s in the test drop-in: a stop that took longer would end Result=timeout, killed.
            Assert.Equal(0, _systemd.Run("systemctl", "stop", "sockwatch").ExitCode);
            Assert.Equal("inactive", _systemd.Show("sockwatch", "ActiveState"));
            Assert.Equal("success", _systemd.Show("sockwatch", "Result"));
            Assert.Equal("0", _systemd.Show("sockwatch", "ExecMainStatus"));
        }
        finally
        {
            Uninstall();
        }
    }

    [RealSystemdFact]
    public void A_bad_configuration_ends_failed_without_restarting()
    {
        try
        {
            Assert.Equal(0, _systemd.Run("bash", Install, "install", "--from", Release).ExitCode);
            _systemd.WriteFile("/etc/sockwatch/sockwatch.json", """{ "poll_interval": "5x" }""");
            Assert.NotEqual(0, _systemd.Run("systemctl", "restart", "sockwatch").ExitCode);

            // Without RestartPreventExitStatus=2 the unit would be "activating" (auto-restart) here.
            Assert.Equal("failed", _systemd.Show("sockwatch", "ActiveState"));
            Assert.Equal("2", _systemd.Show("sockwatch", "ExecMainStatus"));
            Assert.Equal("0", _systemd.Show("sockwatch", "NRestarts"));
            Assert.Contains("poll_interval", _systemd.Must("journalctl", "-u", "sockwatch", "-o", "cat", "--no-pager"), StringComparison.Ordinal);
        }
        finally
        {
            Uninstall();
        }
    }

    [RealSystemdFact]
    public void Installing_again_restarts_on_the_new_binary_and_uninstall_leaves_nothing()
    {
        try
        {
            Assert.Equal(0, _systemd.Run("bash", Install, "install", "--from", Release, "--all-namespaces").ExitCode);
            var before = _systemd.Show("sockwatch", "MainPID");

            var again = _systemd.Run("bash", Install, "install", "--from", Release);
            Assert.True(again.ExitCode == 0, again.Output);
            Assert.Contains("restarted", again.Output, StringComparison.Ordinal);
            var after = _systemd.Show("sockwatch", "MainPID");
            Assert.NotEqual(before, after);
            Assert.Equal("/usr/lib/sockwatch/sockwatch", _systemd.Must("readlink", $"/proc/{after}/exe").Trim()); // not "(deleted)"
            Assert.Equal("active", _systemd.Show("sockwatch", "ActiveState"));
        }
        finally
        {
            Uninstall();
        }

        foreach (var path in new[] { "/usr/lib/sockwatch", "/etc/systemd/system/sockwatch.service", "/etc/systemd/system/sockwatch.service.d", "/etc/sockwatch", "/usr/share/doc/sockwatch" })
        {
            Assert.False(File.Exists(_systemd.Root + path) || Directory.Exists(_systemd.Root + path), path + " is left");
        }

        Assert.NotEqual(0, _systemd.Run("getent", "passwd", "sockwatch").ExitCode);
        Assert.Equal("not-found", _systemd.Show("sockwatch", "LoadState"));
    }

    [RealSystemdFact]
    public void The_debian_package_installs_enabled_restarts_on_upgrade_stops_on_remove_and_purges_clean()
    {
        var debs = Directory.CreateTempSubdirectory("sockwatch-deb-").FullName;
        try
        {
            var first = DebianPackage.Default;
            File.Copy(first, Path.Combine(debs, Path.GetFileName(first)));
            var second = DebianPackage.Build(debs, version: DebianPackage.ProjectVersion + "+test2");
            _systemd.CopyIn(debs, "/opt/sockwatch-debs");
            string InBox(string deb) => "/opt/sockwatch-debs/" + Path.GetFileName(deb);

            var install = _systemd.Run("dpkg", "-i", InBox(first));
            Assert.True(install.ExitCode == 0, install.Output);
            Assert.Equal("active", _systemd.Show("sockwatch", "ActiveState"));
            Assert.Equal("enabled", _systemd.Run("systemctl", "is-enabled", "sockwatch").Output.Trim());
            Assert.Equal("/lib/systemd/system/sockwatch.service", _systemd.Show("sockwatch", "FragmentPath"));
            Assert.Contains("/etc/sockwatch/sockwatch.json", _systemd.Must("dpkg-query", "-W", "-f", "${Conffiles}", "sockwatch"), StringComparison.Ordinal);
            Assert.StartsWith("sockwatch:", _systemd.Must("getent", "passwd", "sockwatch"), StringComparison.Ordinal);
            Assert.Equal("sockwatch", _systemd.Must("ps", "-o", "user=", "-p", _systemd.Show("sockwatch", "MainPID")).Trim());
            var before = _systemd.Show("sockwatch", "MainPID");

            var upgrade = _systemd.Run("dpkg", "-i", InBox(second));
            Assert.True(upgrade.ExitCode == 0, upgrade.Output);
            Assert.Equal(DebianPackage.ProjectVersion + "+test2", _systemd.Must("dpkg-query", "-W", "-f", "${Version}", "sockwatch"));
            var after = _systemd.Show("sockwatch", "MainPID");
            Assert.NotEqual(before, after);
            Assert.Equal("/usr/lib/sockwatch/sockwatch", _systemd.Must("readlink", $"/proc/{after}/exe").Trim());

            // The administrator follows the README and adds the all-namespaces drop-in.
            _systemd.WriteFile("/etc/systemd/system/sockwatch.service.d/all-namespaces.conf", File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "all-namespaces.conf")));
            Assert.Equal(0, _systemd.Run("dpkg", "-r", "sockwatch").ExitCode);
            Assert.NotEqual("active", _systemd.Show("sockwatch", "ActiveState"));
            Assert.True(File.Exists(_systemd.Root + "/etc/sockwatch/sockwatch.json")); // remove keeps the conffile

            var purge = _systemd.Run("dpkg", "--purge", "sockwatch");
            Assert.True(purge.ExitCode == 0, purge.Output);
            foreach (var path in new[] { "/usr/lib/sockwatch", "/lib/systemd/system/sockwatch.service", "/etc/sockwatch", "/etc/systemd/system/sockwatch.service.d", "/etc/systemd/system/multi-user.target.wants/sockwatch.service" })
            {
                Assert.False(File.Exists(_systemd.Root + path) || Directory.Exists(_systemd.Root + path), path + " is left");
            }
        }
        finally
        {
            _systemd.Run("dpkg", "--purge", "sockwatch");
            _systemd.Run("systemctl", "reset-failed");
            Directory.Delete(debs, recursive: true);
        }
    }

    [RealSystemdFact]
    public void Systemd_answers_over_its_bus_and_a_unit_that_vanished_is_no_error()
    {
        // The booted system's bus, reached through its root from here.
        var log = new ListLogger();
        using var units = new SockWatch.Agent.Systemd.SystemdUnits($"unix:path={_systemd.Root}/run/dbus/system_bus_socket", log);
        var dbus = units.Query("dbus.service");
        Assert.NotNull(dbus);
        Assert.Equal("active", dbus.ActiveState);
        Assert.Equal(uint.Parse(_systemd.Show("dbus.service", "NRestarts"), System.Globalization.CultureInfo.InvariantCulture), dbus.Restarts);
        Assert.Equal(_systemd.Show("dbus.service", "LimitNOFILESoft"), dbus.DescriptorLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(log.Lines);

        Assert.Null(units.Query("sockwatch-test-gone.service"));
        Assert.Contains(log.Lines, l => l.Contains("NoSuchUnit", StringComparison.Ordinal));
        Assert.NotNull(units.Query("dbus.service")); // the connection survives a unit's error
    }

    /// <summary>Poll every second, leaks from 1 s, and a watchdog and stop timeout the tests can wait for.</summary>
    private void UseTestSettings()
    {
        _systemd.WriteFile("/etc/sockwatch/sockwatch.json", """{ "poll_interval": "1s", "close_wait_leak_after": "1s" }""");
        _systemd.WriteFile("/etc/systemd/system/sockwatch.service.d/zz-test.conf", "[Service]\nWatchdogSec=4s\nTimeoutStopSec=5s\nRestartSec=1s\nLimitCORE=0\n");
        _systemd.Must("systemctl", "daemon-reload");
    }

    private void Uninstall()
    {
        var r = _systemd.Run("bash", Install, "uninstall");
        Assert.True(r.ExitCode == 0, r.Output);
        _systemd.Run("rm", "-f", "/etc/sockwatch/sockwatch.json");
        _systemd.Run("rmdir", "/etc/sockwatch");
        _systemd.Run("systemctl", "reset-failed");
    }

    [GeneratedRegex(@"^\d+ sockets \(\d+ close_wait, \d+ time_wait\) via netlink; \d+ findings; poll \d+ ms; 0 failed polls$")]
    private static partial Regex StatusLine();
}
