using System.CommandLine;
using System.Text.Json;
using SockWatch.Agent.Configuration;
using SockWatch.Core.Detection;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>The settings table (<see cref="Settings"/>) is the one declaration: file, environment, flags, validation and help agree with it.</summary>
public sealed class ConfigurationTableTests : IDisposable
{
    private static readonly Dictionary<string, string> None = [];

    private readonly string _webConfig = TempFile("tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n");
    private readonly string _badWebConfig = TempFile("basic_auth_users:\n  prometheus: plaintext\n");

    /// <summary>For every setting: a valid value other than its default, and one refused (by its parser or its rule).</summary>
    private Dictionary<string, (string Valid, string Invalid)> Samples => new()
    {
        ["collector"] = ("proc", "ebpf"),
        ["proc_root"] = (Repo.Fixture("proc-owners"), "/nonexistent/proc"),
        ["netns"] = ("self", "a/b"),
        ["netns_exclude"] = ("cni-*", "a b"),
        ["close_wait_leak_after"] = ("5m", "0"),
        ["ephemeral_port_utilization"] = ("0.5", "1.5"),
        ["accept_queue_utilization"] = ("0.25", "0"),
        ["time_wait_bucket_utilization"] = ("1", "x"),
        ["last_ack_stuck_after"] = ("30s", "0"),
        ["syn_sent_retries"] = ("7", "101"),
        ["listen_address"] = ("127.0.0.1:9000", "nohost"),
        ["poll_interval"] = ("30s", "500ms"),
        ["max_owner_series"] = ("10", "0"),
        ["max_destination_series"] = ("5", "1001"),
        ["max_netns_series"] = ("7", "10001"),
        ["netns_redump_after"] = ("0", "-1s"),
        ["otlp_endpoint"] = ("http://localhost:4318/v1/metrics", "localhost:4318"),
        ["otlp_protocol"] = ("grpc", "http/json"),
        ["otlp_interval"] = ("30s", "100ms"),
        ["web_config_file"] = (_webConfig, _badWebConfig),
        ["trace"] = ("off", "sometimes"),
    };

    public static TheoryData<string> Keys() => [.. Settings.All.Select(s => s.Key)];

    [Fact]
    public void The_samples_cover_every_setting_of_the_table()
    {
        Assert.Equal(Settings.All.Select(s => s.Key).Order(StringComparer.Ordinal), Samples.Keys.Order(StringComparer.Ordinal));
        Assert.All(Settings.All, s => Assert.NotEqual(Samples[s.Key].Valid, s.ValueText(Settings.Defaults(SockWatchCommands.Run))));
    }

    [Fact]
    public void Names_follow_from_the_key()
    {
        foreach (var s in Settings.All)
        {
            Assert.Equal(s.Key, s.JsonKey);
            Assert.Equal("SOCKWATCH_" + s.Key.ToUpperInvariant(), s.EnvironmentVariable);
            Assert.Equal(s.Key == "web_config_file" ? "--web.config.file" : "--" + s.Key.Replace('_', '-'), s.Flag);
        }
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Every_setting_is_reachable_by_key_environment_and_flag(string key)
    {
        var setting = Settings.Find(key)!;
        var (valid, _) = Samples[key];
        var expected = setting.ValueText(ConfigurationLoader.Load(null, None, new Dictionary<string, string> { [key] = valid }));
        Assert.Equal(valid, expected);

        foreach (var (source, load) in Sources(setting, valid))
        {
            Assert.True(expected == setting.ValueText(load()), $"{key} from {source}");
        }
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Every_setting_is_refused_alike_by_key_environment_and_flag(string key)
    {
        var setting = Settings.Find(key)!;
        var (_, invalid) = Samples[key];
        var reasons = new List<string>();
        foreach (var (source, load) in Sources(setting, invalid))
        {
            var e = Assert.Throws<ConfigurationException>(() => load());
            Assert.Equal(key, e.Key);
            var prefix = $"{key} (from {source}): ";
            Assert.StartsWith(prefix, e.Message, StringComparison.Ordinal);
            reasons.Add(e.Message[prefix.Length..]);
        }

        Assert.Equal(4, reasons.Count);
        Assert.Single(reasons.Distinct());
    }

    [Theory]
    [InlineData("syn_sent_retries", "0")]
    [InlineData("syn_sent_retries", "101")]
    [InlineData("close_wait_leak_after", "0")]
    [InlineData("last_ack_stuck_after", "0")]
    public void The_old_disagreements_are_refused_everywhere(string key, string value)
    {
        var setting = Settings.Find(key)!;
        foreach (var (source, load) in Sources(setting, value))
        {
            var e = Assert.Throws<ConfigurationException>(() => load());
            Assert.True(e.Key == key, source);
        }

        // Core refuses the same values with the same rule.
        var core = key switch
        {
            "syn_sent_retries" => new DetectorOptions { SynSentRetries = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            "close_wait_leak_after" => new DetectorOptions { CloseWaitLeakAfter = TimeSpan.Zero },
            _ => new DetectorOptions { LastAckStuckAfter = TimeSpan.Zero },
        };
        Assert.Single(core.Validate());
        Assert.Throws<ArgumentException>(() => new Detectors(core));

        // And both commands that take the flag, as a person would run them.
        foreach (var r in new[] { Cli.Run("check", setting.Flag, value), Cli.Run("run", setting.Flag, value, "--listen-address", "127.0.0.1:0") })
        {
            Assert.Equal(2, r.ExitCode);
            Assert.Contains($"{key} (from {setting.Flag})", Assert.Single(r.StderrLines), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_detector_thresholds_take_defaults_and_rules_from_core()
    {
        Assert.Equal(new DetectorOptions(), new SockWatchOptions().ToDetectorOptions());
        var loaded = ConfigurationLoader.Load(null, None, new Dictionary<string, string> { ["syn_sent_retries"] = "100", ["close_wait_leak_after"] = "1ms" });
        Assert.Empty(loaded.ToDetectorOptions().Validate());
        Assert.Equal("whole number from 1 to 100", Settings.SynSentRetries.Accepts);
        Assert.Equal("duration more than 0", Settings.CloseWaitLeakAfter.Accepts);
        Assert.Equal("ratio in (0, 1]", Settings.AcceptQueueUtilization.Accepts);
    }

    [Fact]
    public void Each_command_has_exactly_the_flags_of_its_settings()
    {
        var root = Program.BuildRoot();
        foreach (var (name, command, own) in new[]
        {
            ("snapshot", SockWatchCommands.Snapshot, new[] { "--format", "--state", "--owner", "--config" }),
            ("check", SockWatchCommands.Check, ["--format", "--interval", "--config"]),
            ("run", SockWatchCommands.Run, ["--config"]),
        })
        {
            var options = root.Subcommands.Single(c => c.Name == name).Options.Select(o => o.Name).Where(n => n != "--help").ToList();
            Assert.Equal([.. own, .. Settings.For(command).Select(s => s.Flag)], options);
        }
    }

    [Theory]
    [InlineData("snapshot")]
    [InlineData("check")]
    [InlineData("run")]
    public void Help_shows_each_default_read_from_the_table(string name)
    {
        var command = Enum.Parse<SockWatchCommands>(name, ignoreCase: true);
        var r = Cli.Run(name, "--help");
        Assert.Equal(0, r.ExitCode);
        var help = string.Join(' ', r.Stdout.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
        foreach (var s in Settings.All)
        {
            if (s.Commands.HasFlag(command))
            {
                Assert.Contains($"{s.Flag} <{s.HelpName}> {s.HelpText(command)}", help, StringComparison.Ordinal);
                Assert.EndsWith($"(default: {s.DefaultText(command)})", s.HelpText(command), StringComparison.Ordinal);
            }
            else
            {
                Assert.DoesNotContain(s.Flag + " ", help, StringComparison.Ordinal);
            }
        }

        Assert.Contains(name == "run" ? "(default: all)" : "(default: self)", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Netns_defaults_by_command()
    {
        Assert.Equal("all", ConfigurationLoader.Load(null, None, None, SockWatchCommands.Run).Netns);
        Assert.Equal("self", ConfigurationLoader.Load(null, None, None, SockWatchCommands.Check).Netns);
        Assert.Equal("self", ConfigurationLoader.Load(null, None, None, SockWatchCommands.Snapshot).Netns);
        Assert.Equal("all for run, self for snapshot and check", Settings.Netns.DefaultText());
    }

    public void Dispose()
    {
        File.Delete(_webConfig);
        File.Delete(_badWebConfig);
    }

    /// <summary>The four ways to give a setting: the file (as a string and as written), the environment, and the command-line flag parsed by System.CommandLine.</summary>
    private static IEnumerable<(string Source, Func<SockWatchOptions> Load)> Sources(Setting setting, string value)
    {
        var file = TempFile(JsonSerializer.Serialize(new Dictionary<string, string> { [setting.JsonKey] = value }));
        yield return (file, () => LoadAndDelete(file));
        yield return (setting.EnvironmentVariable, () => ConfigurationLoader.Load(null, new Dictionary<string, string> { [setting.EnvironmentVariable] = value }, None));
        yield return (setting.Flag, () => ConfigurationLoader.Load(null, None, new Dictionary<string, string> { [setting.Key] = value }));
        yield return (setting.Flag, () => ParseFlag(setting, value));
    }

    private static SockWatchOptions LoadAndDelete(string file)
    {
        try
        {
            return ConfigurationLoader.Load(file, None, None);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Through the flags the commands declare from the table (run takes every setting).</summary>
    private static SockWatchOptions ParseFlag(Setting setting, string value)
    {
        var flags = CommonOptions.For(SockWatchCommands.Run);
        var command = new RootCommand();
        flags.AddTo(command);
        var parse = command.Parse([setting.Flag, value]);
        Assert.Empty(parse.Errors);
        try
        {
            return flags.Load(parse, None);
        }
        catch (UsageException e)
        {
            // The command line's form of the same ConfigurationException.
            var prefix = $"configuration: {setting.Key} (from {setting.Flag}): ";
            Assert.StartsWith(prefix, e.Message, StringComparison.Ordinal);
            throw new ConfigurationException(setting.Key, setting.Flag, e.Message[prefix.Length..]);
        }
    }

    private static string TempFile(string text)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        return path;
    }
}
