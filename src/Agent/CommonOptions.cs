using System.CommandLine;
using SockWatch.Collectors;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>Options shared by snapshot, check and run, and their validation.</summary>
internal static class CommonOptions
{
    public const string DefaultProcRoot = "/proc";

    public static Option<string> Collector() => new("--collector")
    {
        Description = "Where to read sockets: auto (netlink sock_diag, falling back to /proc), netlink, or proc.",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|netlink|proc",
    };

    public static Option<string> ProcRoot() => new("--proc-root")
    {
        Description = "The proc file system to read (/proc, /host/proc in a container, or a fixture tree).",
        DefaultValueFactory = _ => DefaultProcRoot,
        HelpName = "DIR",
    };

    public static CollectorKind ParseCollector(string? value) =>
        CollectorKinds.TryParse(value, out var kind)
            ? kind
            : throw new UsageException($"--collector: '{value}' is not a collector; accepted: {string.Join(", ", CollectorKinds.Names)}");

    public static string ParseProcRoot(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new UsageException("--proc-root: empty; give the directory where proc is mounted, such as /proc");
        }

        return Directory.Exists(value)
            ? value
            : throw new UsageException($"--proc-root: '{value}' is not a directory");
    }

    /// <summary>State names, repeatable and comma-separated; null when none were given.</summary>
    public static IReadOnlyList<TcpState>? ParseStates(string[]? values)
    {
        if (values is null || values.Length == 0)
        {
            return null;
        }

        var states = new List<TcpState>();
        foreach (var value in values)
        {
            foreach (var name in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Lifecycle.TryParse(name, out var state))
                {
                    throw new UsageException($"--state: '{name}' is not a TCP state; accepted: {string.Join(", ", Lifecycle.Names)}");
                }

                if (!states.Contains(state))
                {
                    states.Add(state);
                }
            }
        }

        if (states.Count == 0)
        {
            throw new UsageException($"--state: no state given; accepted: {string.Join(", ", Lifecycle.Names)}");
        }

        states.Sort();
        return states;
    }
}
