using SockWatch.Core;
using System.Globalization;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Configuration;

/// <summary>The commands that take settings as flags.</summary>
[Flags]
internal enum SockWatchCommands
{
    None = 0,
    Snapshot = 1,
    Check = 2,
    Run = 4,
    CheckAndRun = Check | Run,
    All = Snapshot | Check | Run,
}

/// <summary>How the values of one type are written: parsed from a flag, a variable or the file, and printed for help and messages.</summary>
/// <param name="Noun">What a value is, in messages and in the README: "duration", "ratio".</param>
/// <param name="TryParse">The parser (culture-invariant).</param>
/// <param name="Format">How a value is printed: the default in help, the bounds in messages.</param>
/// <param name="Expected">Why a text did not parse, given the text.</param>
internal sealed record ValueKind<T>(string Noun, ValueKind<T>.Parser TryParse, Func<T, string> Format, Func<string, string> Expected)
{
    public delegate bool Parser(string text, out T value);
}

/// <summary>The value kinds of the settings.</summary>
internal static class ValueKinds
{
    public static readonly ValueKind<string> Text = new(
        "text", (string t, out string v) => { v = t; return true; }, v => v.Length == 0 ? "none" : v, t => $"'{t}' is not accepted");

    public static readonly ValueKind<string?> OptionalText = new(
        "text", (string t, out string? v) => { v = t; return true; }, v => string.IsNullOrEmpty(v) ? "none" : v, t => $"'{t}' is not accepted");

    public static readonly ValueKind<TimeSpan> Duration = new(
        "duration", Durations.TryParse, Durations.Format, t => $"'{t}' is not a duration (like 500ms, 90s, 2m, 1h30m)");

    public static readonly ValueKind<double> Ratio = new(
        "ratio",
        (string t, out double v) => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && double.IsFinite(v),
        v => v.ToString("0.###", CultureInfo.InvariantCulture),
        t => $"'{t}' is not a number (a ratio such as 0.8)");

    public static readonly ValueKind<int> Count = new(
        "whole number",
        (string t, out int v) => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v),
        v => v.ToString(CultureInfo.InvariantCulture),
        t => $"'{t}' is not a whole number");
}

/// <summary>
/// One setting: its key (also the JSON key), flag, environment variable, default, rule, help
/// text and the commands that take it as a flag. <see cref="Settings"/> holds every one; the
/// file, the environment, the flags of each command, the validation, the help and the README's
/// table all come from there.
/// </summary>
internal abstract class Setting
{
    public const string EnvironmentPrefix = "SOCKWATCH_";

    /// <param name="key">The key: snake_case, as in the JSON file.</param>
    /// <param name="flag">The flag, when it is not the key with dashes (--web.config.file, as every Prometheus exporter names it).</param>
    protected Setting(string key, string help, string helpName, SockWatchCommands commands, string? flag)
    {
        Key = key;
        Help = help;
        HelpName = helpName;
        Commands = commands;
        Flag = flag ?? "--" + key.Replace('_', '-');
    }

    /// <summary>The key in the configuration file, and the name in messages.</summary>
    public string Key { get; }

    public string JsonKey => Key;

    public string Flag { get; }

    public string EnvironmentVariable => EnvironmentPrefix + Key.ToUpperInvariant();

    /// <summary>What the setting does, without its default (<see cref="HelpText"/> adds it).</summary>
    public string Help { get; }

    /// <summary>The placeholder of the flag's value in help: DURATION, N, DIR.</summary>
    public string HelpName { get; }

    /// <summary>The commands that take it as a flag; the file and the environment are read by every command.</summary>
    public SockWatchCommands Commands { get; }

    /// <summary>What it accepts, in words: "duration more than 0", "ratio in (0, 1]".</summary>
    public abstract string Accepts { get; }

    /// <summary>The flag's help: what it does and its default for that command, read from the declaration.</summary>
    public string HelpText(SockWatchCommands command) => $"{Help} (default: {DefaultText(command)})";

    /// <summary>The default as written in help; with <see cref="SockWatchCommands.All"/>, every command's when they differ.</summary>
    public abstract string DefaultText(SockWatchCommands command = SockWatchCommands.All);

    /// <summary>The options with this setting at the command's default.</summary>
    public abstract SockWatchOptions WithDefault(SockWatchOptions options, SockWatchCommands command);

    /// <summary>The options with this setting parsed from <paramref name="text"/>; throws naming <paramref name="source"/> when it does not parse.</summary>
    public abstract SockWatchOptions Parse(SockWatchOptions options, string text, string source);

    /// <summary>Why the setting's value in <paramref name="options"/> breaks its rule, or null.</summary>
    public abstract string? Problem(SockWatchOptions options);

    /// <summary>The setting's value in <paramref name="options"/>, written as in the file.</summary>
    public abstract string ValueText(SockWatchOptions options);

    /// <summary>A setting whose rule is an interval (Core's, for the detector thresholds): its words and messages come from the bounds.</summary>
    public static Setting<T> Within<T>(
        string key, ValueKind<T> kind, T @default, Func<SockWatchOptions, T> get, Func<SockWatchOptions, T, SockWatchOptions> set,
        Bounds<T> bounds, string help, string helpName, SockWatchCommands commands)
        where T : struct, IComparable<T>
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(bounds);
        var rule = bounds.Describe(kind.Format);

        // Ratios say what they got, as they always have; the rest say what they must be.
        string? Check(T value, SockWatchOptions _) =>
            bounds.Allows(value) ? null
            : ReferenceEquals(kind, ValueKinds.Ratio) ? $"{kind.Format(value)} is not a ratio {rule}"
            : "must be " + rule;

        return new(key, kind, @default, get, set, Check, $"{kind.Noun} {rule}", help, helpName, commands);
    }
}

/// <summary>A setting whose value is a <typeparamref name="T"/>: <see cref="Setting"/> with its accessors.</summary>
internal sealed class Setting<T> : Setting
{
    private readonly ValueKind<T> _kind;
    private readonly Func<SockWatchOptions, T> _get;
    private readonly Func<SockWatchOptions, T, SockWatchOptions> _set;
    private readonly Func<T, SockWatchOptions, string?> _rule;
    private readonly string _accepts;

    /// <param name="rule">Why a value is refused, given it and the other settings; null when it is accepted.</param>
    /// <param name="accepts">What it accepts, in words.</param>
    public Setting(
        string key, ValueKind<T> kind, T @default, Func<SockWatchOptions, T> get, Func<SockWatchOptions, T, SockWatchOptions> set,
        Func<T, SockWatchOptions, string?> rule, string accepts, string help, string helpName, SockWatchCommands commands, string? flag = null)
        : base(key, help, helpName, commands, flag)
    {
        _kind = kind;
        Default = @default;
        _get = get;
        _set = set;
        _rule = rule;
        _accepts = accepts;
    }

    public T Default { get; }

    /// <summary>Defaults that differ by command (netns: all for run, self for the others).</summary>
    public IReadOnlyList<(SockWatchCommands Commands, T Value)> CommandDefaults { get; init; } = [];

    public override string Accepts => _accepts;

    public T DefaultFor(SockWatchCommands command)
    {
        foreach (var (commands, value) in CommandDefaults)
        {
            if ((commands & command) == command)
            {
                return value;
            }
        }

        return Default;
    }

    public override string DefaultText(SockWatchCommands command = SockWatchCommands.All)
    {
        if (command == SockWatchCommands.All && CommandDefaults.Count > 0)
        {
            return string.Join(", ", CommandDefaults.Select(d => $"{_kind.Format(d.Value)} for {CommandNames(d.Commands)}"));
        }

        return _kind.Format(DefaultFor(command));
    }

    public T Get(SockWatchOptions options) => _get(options);

    public override SockWatchOptions WithDefault(SockWatchOptions options, SockWatchCommands command) => _set(options, DefaultFor(command));

    public override SockWatchOptions Parse(SockWatchOptions options, string text, string source) =>
        _kind.TryParse(text, out var value) ? _set(options, value) : throw new ConfigurationException(Key, source, _kind.Expected(text));

    public override string? Problem(SockWatchOptions options) => _rule(_get(options), options);

    public override string ValueText(SockWatchOptions options) => _kind.Format(_get(options));

    private static string CommandNames(SockWatchCommands commands) =>
        string.Join(" and ", Enum.GetValues<SockWatchCommands>()
            .Where(c => c is SockWatchCommands.Snapshot or SockWatchCommands.Check or SockWatchCommands.Run && commands.HasFlag(c))
            .Select(c => c.ToString().ToLowerInvariant()));
}
