using System.Diagnostics;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>Runs promtool (found on PATH; callers are <see cref="PromtoolFactAttribute"/> tests).</summary>
internal static class Promtool
{
    /// <summary>promtool with <paramref name="args"/>, <paramref name="stdin"/> written to it; its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(IEnumerable<string> args, byte[]? stdin = null)
    {
        var psi = new ProcessStartInfo(Conditions.FindExecutable("promtool")!, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var promtool = Process.Start(psi)!;
        var stdout = promtool.StandardOutput.ReadToEndAsync();
        var stderr = promtool.StandardError.ReadToEndAsync();
        using (var input = promtool.StandardInput.BaseStream)
        {
            input.Write(stdin ?? []);
        }

        Assert.True(promtool.WaitForExit(60_000), $"promtool {string.Join(' ', psi.ArgumentList)} did not finish in 60 s");
        return (promtool.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Asserts that `promtool check metrics` finds nothing wrong in an exposition.</summary>
    public static void AssertLintClean(byte[] exposition)
    {
        var (code, output) = Run(["check", "metrics"], exposition);
        Assert.True(code == 0 && output.Length == 0, $"promtool check metrics exited {code}: {output}");
    }
}
