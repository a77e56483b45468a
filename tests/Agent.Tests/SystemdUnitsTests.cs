using SockWatch.Agent.Systemd;
using SockWatch.Core;
using SockWatch.Core.Detection;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

internal sealed class DbusDaemonFactAttribute : FactAttribute
{
    public DbusDaemonFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || Conditions.FindExecutable("dbus-daemon") is null)
        {
            Skip = "needs dbus-daemon (Debian's dbus package) for a bus without systemd on it";
        }
    }
}

/// <summary>
/// systemd's facts about leaking units, over D-Bus (the real answer is checked under a real
/// systemd: RealSystemdTests). Here: everything that must not fail a poll.
/// </summary>
public sealed class SystemdUnitsTests : IDisposable
{
    private static readonly SocketOwner Leaker = new(4242, 1, "api", 1000, "api", "api.service", null, "/system.slice/api.service");
    private readonly ChildProcesses _children = new();

    [Fact]
    public void Without_a_bus_address_the_findings_stay_as_they_were_and_one_debug_line_says_why()
    {
        var log = new ListLogger();
        using var units = new SystemdUnits(null, log);
        var findings = new[] { Leak(Leaker) };
        var restarts = new List<UnitRestarts>();
        Assert.Same(findings, units.Annotate(findings, "host", restarts));
        Assert.Same(findings, units.Annotate(findings, "host", restarts));
        Assert.Empty(restarts);
        Assert.Single(log.Events, e => e.Id == 3501);
    }

    [Fact]
    public void A_bus_that_is_not_there_is_no_error()
    {
        var log = new ListLogger();
        using var units = new SystemdUnits("unix:path=/nonexistent/sockwatch-test-bus", log);
        Assert.Null(units.Query("api.service"));
        Assert.Null(units.Query("api.service"));
        Assert.Single(log.Events, e => e.Id == 3501);
    }

    [DbusDaemonFact]
    public void A_bus_without_systemd_on_it_is_no_error()
    {
        // A bus of its own: an abstract socket (no file left behind), nothing to activate.
        var config = Path.Combine(Path.GetTempPath(), $"sockwatch-test-bus-{Environment.ProcessId}.conf");
        File.WriteAllText(config, $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:abstract=sockwatch-test-bus-{Environment.ProcessId}</listen>
              <auth>EXTERNAL</auth>
              <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
            </busconfig>
            """);
        try
        {
            var bus = _children.Start(Conditions.FindExecutable("dbus-daemon")!, ["--config-file=" + config, "--nofork", "--print-address=1"]);
            var log = new ListLogger();
            using var units = new SystemdUnits(bus.StandardOutput.ReadLine()!, log);
            Assert.Null(units.Query("api.service"));
            Assert.Null(units.Query("api.service"));
            Assert.Single(log.Lines);
            Assert.Contains("ServiceUnknown", log.Lines[0], StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void Only_close_wait_leaks_of_service_units_are_asked_about()
    {
        var log = new ListLogger();
        using var units = new SystemdUnits(null, log);
        var scope = Leaker with { Unit = "session-1.scope" };
        Finding[] findings = [Leak(scope), Leak(null)];
        Assert.Same(findings, units.Annotate(findings, "host", []));
        Assert.Empty(log.Events); // nothing to ask about: not even the missing bus is worth a line
    }

    [Fact]
    public void The_restart_count_goes_into_the_sentence_and_the_values()
    {
        var f = SystemdUnits.With(Leak(Leaker), new UnitFacts("api.service", 4, "active", 1024));
        Assert.EndsWith("; systemd restarted api.service 4 times (active, LimitNOFILE 1024)", f.Explanation, StringComparison.Ordinal);
        Assert.Equal(4, f.Values[FindingValues.UnitRestarts]);
        Assert.Equal(1024, f.Values[FindingValues.UnitDescriptorLimit]);
        Assert.Equal(3, f.Values[FindingValues.OldestAgeSeconds]); // the detector's values stay

        var unlimited = SystemdUnits.With(Leak(Leaker), new UnitFacts("api.service", 1, "activating", null));
        Assert.EndsWith("restarted api.service 1 time (activating)", unlimited.Explanation, StringComparison.Ordinal);
        Assert.False(unlimited.Values.ContainsKey(FindingValues.UnitDescriptorLimit));
    }

    public void Dispose() => _children.Dispose();

    private static Finding Leak(SocketOwner? owner) => new(
        FindingKind.CloseWaitLeak, FindingSeverity.Warning, owner, owner?.Unit ?? "unowned", 5, TimeSpan.FromSeconds(3),
        "the peer closed at least 3 s ago", new Dictionary<string, double> { [FindingValues.OldestAgeSeconds] = 3 });
}
