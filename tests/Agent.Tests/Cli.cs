using System.Diagnostics;

namespace SockWatch.Agent.Tests;

/// <summary>Runs the real `sockwatch` executable, as a person or a script would.</summary>
internal static class Cli
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public static Result Run(params string[] args) => Start(Path.Combine(AppContext.BaseDirectory, "sockwatch"), args);

    /// <summary>Runs sockwatch with these variables added to its environment.</summary>
    public static Result RunWith(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(Path.Combine(AppContext.BaseDirectory, "sockwatch"), args, environment);

    /// <summary>Runs another program (a wrapper such as setpriv around sockwatch) the same way.</summary>
    public static Result RunProgram(string exe, params string[] args) => Start(exe, args);

    /// <summary>Runs sockwatch inside a network namespace made by `ip netns add`.</summary>
    public static Result RunIn(string netns, string[] args) =>
        Start(SockWatch.Tests.Conditions.FindExecutable("ip") ?? "ip", ["netns", "exec", netns, Path.Combine(AppContext.BaseDirectory, "sockwatch"), .. args]);

    private static Result Start(string exe, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("sockwatch " + string.Join(' ', args) + " did not finish in 60 s");
        }

        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
