using System.CommandLine;
using SockWatch.Agent.Configuration;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>The flags of snapshot, check and run that set configuration keys, made from <see cref="Settings"/>.</summary>
internal static class CommonOptions
{
    public static Option<string> Config() => new("--config")
    {
        Description = $"A JSON configuration file (default: {Settings.ConfigFile} when it exists). Environment variables {Setting.EnvironmentPrefix}* override it, flags override both.",
        HelpName = "FILE",
    };

    /// <summary>--config and one flag for each setting the command takes, its help read from the table.</summary>
    public static SettingFlags For(SockWatchCommands command) =>
        new(command, Config(), [.. Settings.For(command).Select(s => (s, new Option<string>(s.Flag) { Description = s.HelpText(command), HelpName = s.HelpName }))]);

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

/// <summary>A command's --config and setting flags: added to the command, then read into validated options.</summary>
internal sealed class SettingFlags(SockWatchCommands command, Option<string> config, IReadOnlyList<(Setting Setting, Option<string> Option)> flags)
{
    public IReadOnlyList<(Setting Setting, Option<string> Option)> Flags => flags;

    public void AddTo(Command target)
    {
        target.Options.Add(config);
        foreach (var (_, option) in flags)
        {
            target.Options.Add(option);
        }
    }

    /// <summary>File, SOCKWATCH_ environment, then the flags given: validated, or a usage error naming the key.</summary>
    public SockWatchOptions Load(ParseResult parse) =>
        Load(parse, ConfigurationLoader.ProcessEnvironment());

    /// <summary>As <see cref="Load(ParseResult)"/>, with the environment given (for tests).</summary>
    internal SockWatchOptions Load(ParseResult parse, IReadOnlyDictionary<string, string> environment)
    {
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (setting, option) in flags)
        {
            if (parse.GetValue(option) is { } value)
            {
                given[setting.Key] = value;
            }
        }

        try
        {
            return ConfigurationLoader.Load(parse.GetValue(config), environment, given, command);
        }
        catch (ConfigurationException e)
        {
            throw new UsageException("configuration: " + e.Message);
        }
    }
}
