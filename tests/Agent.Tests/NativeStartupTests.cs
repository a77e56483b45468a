using System.Globalization;
using System.Text.RegularExpressions;
using SockWatch.Agent.Tests.Tracing;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>
/// The native binary's start (src/Agent/Native/prefault.c): before the runtime expands its data,
/// the zero-filled tail of the writable segment is populated in one madvise call.
/// </summary>
public sealed partial class NativeStartupTests
{
    [ToolFact("strace")]
    public void The_release_binary_populates_the_runtimes_data_in_one_call_before_main_and_the_daemon_takes_no_huge_page()
    {
        var run = Cli.RunProgram(Conditions.FindExecutable("strace")!, "-e", "trace=madvise", ReleaseBinary.Executable, "--version");

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("0.1.0", run.Stdout, StringComparison.Ordinal);
        var stderr = run.Stderr;
        var populate = Populate().Match(stderr);
        Assert.True(populate.Success, stderr);
        // .bss and .hydrated, where the runtime writes its expanded data: more than 4 MiB here
        Assert.True(long.Parse(populate.Groups[1].Value, CultureInfo.InvariantCulture) > 4 << 20, populate.Value);
        Assert.Contains("MADV_HUGEPAGE", stderr, StringComparison.Ordinal);

        // The daemon populates too, but takes no huge page: it lives on its RSS, not its start.
        var daemon = Cli.RunProgram(Conditions.FindExecutable("strace")!, "-e", "trace=madvise", ReleaseBinary.Executable, "run", "--help");
        Assert.Equal(0, daemon.ExitCode);
        Assert.Matches(Populate(), daemon.Stderr);
        Assert.DoesNotContain("MADV_HUGEPAGE", daemon.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"madvise\(0x[0-9a-f]+, ([0-9]+), MADV_POPULATE_WRITE\) = 0")]
    private static partial Regex Populate();
}
