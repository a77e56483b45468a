using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

public class CheckCommandTests
{
    [Theory]
    [InlineData("--close-wait-leak-after", "5x", "not a duration")]
    [InlineData("--ephemeral-port-utilization", "2", "not a ratio")]
    [InlineData("--accept-queue-utilization", "x", "not a number")]
    [InlineData("--interval", "0s", "not a duration above 0")]
    [InlineData("--format", "xml", "not a format")]
    public void Bad_values_are_one_line_naming_the_flag_and_exit_2(string flag, string value, string reason)
    {
        var r = Cli.Run("check", flag, value);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.StderrLines);
        Assert.Contains(flag, line, StringComparison.Ordinal);
        Assert.Contains(reason, line, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void A_configuration_file_with_an_unknown_key_exits_2_naming_it()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "close_wait_leak_afterr": "1m" }""");
            var r = Cli.Run("check", "--config", file);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("close_wait_leak_afterr", Assert.Single(r.StderrLines), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Unreadable_tables_exit_3()
    {
        var r = Cli.Run("check", "--collector", "proc", "--proc-root", Repo.Fixture("live-6.18"));
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("cannot read the TCP socket tables", Assert.Single(r.StderrLines), StringComparison.Ordinal);
    }

    [Fact]
    public void A_fixture_tree_without_anything_stuck_exits_0()
    {
        var r = Cli.Run("check", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners"));
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("no findings: 8 sockets checked", r.Stdout, StringComparison.Ordinal);

        var json = Cli.Run("check", "--collector", "proc", "--proc-root", Repo.Fixture("proc-owners"), "--format", "json");
        Assert.Equal(0, json.ExitCode);
        using var doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(0, doc.RootElement.GetArrayLength());
    }

    [Fact]
    public void Help_lists_the_threshold_flags()
    {
        var r = Cli.Run("check", "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var flag in new[] { "--close-wait-leak-after", "--ephemeral-port-utilization", "--accept-queue-utilization", "--interval", "--config" })
        {
            Assert.Contains(flag, r.Stdout, StringComparison.Ordinal);
        }
    }
}
