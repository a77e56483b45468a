using System.Text.Json;

namespace SockWatch.Agent.Configuration;

/// <summary>A configuration value that is wrong: the key, where it came from, and why.</summary>
internal sealed class ConfigurationException(string key, string source, string reason)
    : Exception($"{key} (from {source}): {reason}")
{
    public string Key { get; } = key;
}

/// <summary>
/// Reads the configuration from a JSON file, then SOCKWATCH_ environment variables, then flags,
/// each overriding the one before, and validates the result. Every key, variable and rule comes
/// from <see cref="Settings"/>: the JSON key close_wait_leak_after is
/// SOCKWATCH_CLOSE_WAIT_LEAK_AFTER and --close-wait-leak-after. The file and the environment may
/// hold every key whichever the command; flags exist only on the commands that take them.
/// </summary>
internal static class ConfigurationLoader
{
    /// <summary>Every key, as the flags name them.</summary>
    public static IEnumerable<string> FlagNames => Settings.All.Select(s => s.Flag);

    public static string FlagOf(string key) => Settings.Find(key)?.Flag ?? "--" + key.Replace('_', '-');

    public static string EnvironmentOf(string key) => Setting.EnvironmentPrefix + key.ToUpperInvariant();

    /// <param name="configFile">--config, or null for the default file if it exists.</param>
    /// <param name="environment">The environment variables (a seam for tests).</param>
    /// <param name="flags">Flag values given on the command line, by key name (only those given).</param>
    /// <param name="command">Whose defaults apply where they differ (netns).</param>
    public static SockWatchOptions Load(
        string? configFile, IReadOnlyDictionary<string, string> environment, IReadOnlyDictionary<string, string> flags, SockWatchCommands command = SockWatchCommands.Run)
    {
        var options = Settings.Defaults(command);
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        var file = configFile ?? (File.Exists(Settings.ConfigFile) ? Settings.ConfigFile : null);
        if (file is not null)
        {
            foreach (var (name, value) in ReadFile(file, explicitlyGiven: configFile is not null))
            {
                options = Apply(options, name, value, file);
                sources[name] = file;
            }
        }

        foreach (var setting in Settings.All)
        {
            if (environment.TryGetValue(setting.EnvironmentVariable, out var value))
            {
                options = setting.Parse(options, value, setting.EnvironmentVariable);
                sources[setting.Key] = setting.EnvironmentVariable;
            }
        }

        foreach (var (name, value) in flags)
        {
            options = Apply(options, name, value, FlagOf(name));
            sources[name] = FlagOf(name);
        }

        foreach (var setting in Settings.All)
        {
            if (setting.Problem(options) is { } reason)
            {
                throw new ConfigurationException(setting.Key, sources.GetValueOrDefault(setting.Key, "the default"), reason);
            }
        }

        return options;
    }

    public static IReadOnlyDictionary<string, string> ProcessEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string k && k.StartsWith(Setting.EnvironmentPrefix, StringComparison.Ordinal) && e.Value is string v)
            {
                env[k] = v;
            }
        }

        return env;
    }

    private static List<(string Name, string Value)> ReadFile(string path, bool explicitlyGiven)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException("config", explicitlyGiven ? "--config" : "the default file", $"cannot read {path}: {e.Message}");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ConfigurationException("config", path, $"not valid JSON (line {e.LineNumber + 1}): {e.Message.Split('.')[0]}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ConfigurationException("config", path, "the file must hold one JSON object of settings");
            }

            var values = new List<(string Name, string Value)>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (Settings.Find(p.Name) is null)
                {
                    throw new ConfigurationException(p.Name, path, "unknown key; known keys: " + string.Join(", ", Settings.All.Select(k => k.JsonKey)));
                }
                var value = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString()!,
                    JsonValueKind.Number => p.Value.GetRawText(),
                    _ => throw new ConfigurationException(p.Name, path, "must be a string or a number"),
                };
                values.Add((p.Name, value));
            }

            return values;
        }
    }

    private static SockWatchOptions Apply(SockWatchOptions options, string name, string value, string source) =>
        (Settings.Find(name) ?? throw new ConfigurationException(name, source, "unknown key")).Parse(options, value, source);
}
