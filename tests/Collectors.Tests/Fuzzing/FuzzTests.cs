using System.Globalization;
using SockWatch.Tests;
using Xunit.Abstractions;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>The parsers under fuzzing, by name.</summary>
internal static class FuzzTargets
{
    public static readonly string[] Names =
        ["netlink", "proc-net-tcp", "proc-stat", "proc-status", "proc-fd", "cgroup", "netstat", "port-range", "reserved-ports", "limits"];

    public static FuzzTarget Create(string name) => name switch
    {
        "netlink" => new NetlinkTarget(),
        "proc-net-tcp" => new ProcNetTcpTarget(),
        "proc-stat" => new ProcStatTarget(),
        "proc-status" => new ProcStatusTarget(),
        "proc-fd" => new ProcFdTarget(),
        "cgroup" => new CgroupTarget(),
        "netstat" => new NetstatTarget(),
        "port-range" => new PortRangeTarget(),
        "reserved-ports" => new ReservedPortsTarget(),
        "limits" => new LimitsTarget(),
        _ => throw new ArgumentException($"no fuzz target {name}; known: {string.Join(", ", Names)}", nameof(name)),
    };
}

/// <summary>
/// A short campaign per parser (10,000 inputs, fixed seed) in every test run; the long run behind
/// <see cref="FuzzLongRun"/>, driven by environment variables (see RELIABILITY.md).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20251123;
    private const int Inputs = 10_000;

    [Theory]
    [InlineData("netlink")]
    [InlineData("proc-net-tcp")]
    [InlineData("proc-stat")]
    [InlineData("proc-status")]
    [InlineData("proc-fd")]
    [InlineData("cgroup")]
    [InlineData("netstat")]
    [InlineData("port-range")]
    [InlineData("reserved-ports")]
    [InlineData("limits")]
    public void Short_campaign(string parser)
    {
        using var target = FuzzTargets.Create(parser);
        var report = FuzzCampaign.Run(target, Seed, 0, Inputs, TimeSpan.FromMinutes(2));
        output.WriteLine(FuzzReport.Header);
        output.WriteLine(report.Row());
        Assert.True(report.Clean, report.Describe());
        Assert.Equal(Inputs, report.Inputs);

        // A generator that made only garbage, or only valid input, would test little: both outcomes must be common.
        Assert.True(report.Parsed >= Inputs / 20, $"only {report.Parsed} of {Inputs} inputs parsed");
        Assert.True(report.Malformed >= Inputs / 20, $"only {report.Malformed} of {Inputs} inputs were malformed");
        Assert.True(parser != "netlink" || report.Rejected >= Inputs / 100, $"only {report.Rejected} of {Inputs} inputs were refused with NLMSG_ERROR");
    }

    [Fact]
    public void Inputs_are_reproduced_from_seed_and_index()
    {
        foreach (var name in FuzzTargets.Names)
        {
            using var target = FuzzTargets.Create(name);
            for (var index = 0L; index < 200; index++)
            {
                var a = target.Generate(new Random(FuzzSeed.For(Seed, name, index)));
                var b = target.Generate(new Random(FuzzSeed.For(Seed, name, index)));
                Assert.Equal(a.Variant, b.Variant);
                Assert.Equal(a.Data, b.Data);
            }
        }
    }

    /// <summary>
    /// The long run, skipped unless SOCKWATCH_FUZZ_INPUTS is set. SOCKWATCH_FUZZ_PARSER (a name,
    /// a comma-separated list or "all"), SOCKWATCH_FUZZ_SEED (default 1), SOCKWATCH_FUZZ_START (the
    /// first index, default 0: with SOCKWATCH_FUZZ_INPUTS=1 it replays one input), and
    /// SOCKWATCH_FUZZ_REPORT (a file the table is also written to, row by row).
    /// </summary>
    [FuzzLongRunFact]
    public void FuzzLongRun()
    {
        var inputs = long.Parse(Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_INPUTS")!, CultureInfo.InvariantCulture);
        var seed = int.Parse(Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_SEED") ?? "1", CultureInfo.InvariantCulture);
        var start = long.Parse(Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_START") ?? "0", CultureInfo.InvariantCulture);
        var parser = Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_PARSER") ?? "all";
        var names = parser == "all" ? FuzzTargets.Names : parser.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var reportPath = Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_REPORT");

        var failed = new List<string>();
        var drives = new List<string>();
        Emit($"seed {seed}, inputs {start}..{start + inputs - 1} per parser\n\n{FuzzReport.Header}\n{FuzzReport.Rule}");
        foreach (var name in names)
        {
            using var target = FuzzTargets.Create(name);
            var report = FuzzCampaign.Run(target, seed, start, inputs, TimeSpan.FromHours(6));
            Emit(report.Row());
            drives.Add($"- {name}: {target.Drives}");
            if (!report.Clean)
            {
                failed.Add(report.Describe());
            }
        }

        Emit("\n" + string.Join('\n', drives));

        foreach (var failure in failed)
        {
            Emit(failure);
        }

        Assert.True(failed.Count == 0, string.Join('\n', failed));

        void Emit(string text)
        {
            output.WriteLine(text);
            if (reportPath is not null)
            {
                File.AppendAllText(reportPath, text + "\n");
            }
        }
    }
}

/// <summary>The long fuzzing run: skipped unless SOCKWATCH_FUZZ_INPUTS says how many inputs per parser.</summary>
internal sealed class FuzzLongRunFactAttribute : FactAttribute
{
    public FuzzLongRunFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SOCKWATCH_FUZZ_INPUTS") is null)
        {
            Skip = "the long fuzzing run: set SOCKWATCH_FUZZ_INPUTS (and SOCKWATCH_FUZZ_SEED, SOCKWATCH_FUZZ_PARSER) to run it";
        }
    }
}
