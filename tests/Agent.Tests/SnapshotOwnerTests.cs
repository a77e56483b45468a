using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

public class SnapshotOwnerTests
{
    private static readonly string Owners = Repo.Fixture("proc-owners");

    private static JsonElement[] Json(params string[] extra)
    {
        var r = Cli.Run(["snapshot", "--collector", "proc", "--proc-root", Owners, "--format", "json", .. extra]);
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static JsonElement Socket(JsonElement[] all, string state, int localPort, int remotePort) =>
        all.Single(s => s.GetProperty("state").GetString() == state
                        && s.GetProperty("local_port").GetInt32() == localPort
                        && s.GetProperty("remote_port").GetInt32() == remotePort);

    [Fact]
    public void Json_carries_the_owner_object()
    {
        var all = Json();
        var owner = Socket(all, "established", 8080, 50000).GetProperty("owner");
        Assert.Equal(100, owner.GetProperty("pid").GetInt32());
        Assert.Equal("nginx: worker", owner.GetProperty("process").GetString());
        Assert.Equal("nginx.service", owner.GetProperty("unit").GetString());
        Assert.Equal(33, owner.GetProperty("uid").GetInt32());
        Assert.Equal("descriptor", owner.GetProperty("via").GetString());
        Assert.Equal(JsonValueKind.Null, owner.GetProperty("container").ValueKind);

        var container = Socket(all, "close_wait", 3000, 50001).GetProperty("owner");
        Assert.Equal("api", container.GetProperty("process").GetString());
        Assert.Equal("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", container.GetProperty("container").GetString());
    }

    [Fact]
    public void Sockets_without_an_owner_say_why()
    {
        var all = Json();
        var viaListener = Socket(all, "time_wait", 8080, 50002);
        Assert.Equal("listener", viaListener.GetProperty("owner").GetProperty("via").GetString());
        Assert.Equal(JsonValueKind.Null, viaListener.GetProperty("unowned").ValueKind);

        var client = Socket(all, "time_wait", 40000, 8080);
        Assert.Equal(JsonValueKind.Null, client.GetProperty("owner").ValueKind);
        Assert.Equal("no_inode", client.GetProperty("unowned").GetString());

        var lost = Socket(all, "established", 5000, 50005);
        Assert.Equal("not_found", lost.GetProperty("unowned").GetString());
    }

    [Fact]
    public void Owner_filters_by_process_unit_or_container()
    {
        Assert.All(Json("--owner", "api"), s => Assert.Equal(200, s.GetProperty("owner").GetProperty("pid").GetInt32()));
        Assert.Single(Json("--owner", "api"));

        // The unit, with or without .service; the time_wait and request it accepted come along.
        var nginx = Json("--owner", "nginx");
        Assert.Equal(4, nginx.Length); // listener, established, time_wait (via listener), syn_recv (via listener)
        Assert.Equal(nginx.Length, Json("--owner", "nginx.service").Length);

        Assert.Single(Json("--owner", "0123456789ab"));
        Assert.Empty(Json("--owner", "nobody-here"));
    }

    [Fact]
    public void Table_shows_owner_columns_and_what_is_unowned()
    {
        var r = Cli.Run("snapshot", "--collector", "proc", "--proc-root", Owners);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        Assert.Contains("PID", lines[0], StringComparison.Ordinal);
        Assert.Contains("PROCESS", lines[0], StringComparison.Ordinal);
        Assert.Contains("UNIT", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("time_wait", StringComparison.Ordinal) && l.Contains("nginx: worker (listener)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("owners: 6 attributed (2 through their listener); unowned: 1 without an inode, 1 not found, 0 permission denied", StringComparison.Ordinal));
    }

    [Fact]
    public void An_empty_owner_is_bad_usage()
    {
        var r = Cli.Run("snapshot", "--owner", " ");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--owner", Assert.Single(r.StderrLines), StringComparison.Ordinal);
    }
}
