using SockWatch.Core;
using SockWatch.Agent.Configuration;

namespace SockWatch.Agent.Tests;

public class ConfigurationTests
{
    private static readonly Dictionary<string, string> None = [];

    private static string TempJson(string json)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Defaults_hold_without_any_source()
    {
        var o = ConfigurationLoader.Load(configFile: null, None, None);
        Assert.Equal(TimeSpan.FromMinutes(2), o.CloseWaitLeakAfter);
        Assert.Equal(0.8, o.EphemeralPortUtilization);
        Assert.Equal(0.8, o.AcceptQueueUtilization);
        Assert.Equal(TimeSpan.FromSeconds(15), o.PollInterval);
        Assert.Equal(":9859", o.ListenAddress);
    }

    [Fact]
    public void Flags_beat_environment_beats_file()
    {
        var file = TempJson("""{ "close_wait_leak_after": "5m", "ephemeral_port_utilization": 0.5, "accept_queue_utilization": "0.6", "syn_sent_retries": 7 }""");
        try
        {
            var env = new Dictionary<string, string> { ["SOCKWATCH_EPHEMERAL_PORT_UTILIZATION"] = "0.7", ["SOCKWATCH_CLOSE_WAIT_LEAK_AFTER"] = "4m" };
            var flags = new Dictionary<string, string> { ["close_wait_leak_after"] = "90s" };
            var o = ConfigurationLoader.Load(file, env, flags);
            Assert.Equal(TimeSpan.FromSeconds(90), o.CloseWaitLeakAfter); // flag
            Assert.Equal(0.7, o.EphemeralPortUtilization);                // environment
            Assert.Equal(0.6, o.AcceptQueueUtilization);                  // file
            Assert.Equal(7, o.SynSentRetries);                            // file
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_bad_environment_value_names_the_variable_and_the_reason()
    {
        var env = new Dictionary<string, string> { ["SOCKWATCH_CLOSE_WAIT_LEAK_AFTER"] = "5x" };
        var e = Assert.Throws<ConfigurationException>(() => ConfigurationLoader.Load(null, env, None));
        Assert.Equal("close_wait_leak_after", e.Key);
        Assert.Contains("SOCKWATCH_CLOSE_WAIT_LEAK_AFTER", e.Message, StringComparison.Ordinal);
        Assert.Contains("not a duration", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ephemeral_port_utilization", "1.5", "not a ratio")]
    [InlineData("accept_queue_utilization", "0", "not a ratio")]
    [InlineData("close_wait_leak_after", "0", "more than 0")]
    [InlineData("poll_interval", "500ms", "at least 1s")]
    [InlineData("collector", "ebpf", "not a collector")]
    [InlineData("syn_sent_retries", "-1", "not a whole number")]
    [InlineData("max_owner_series", "0", "from 1 to 1000")]
    [InlineData("max_destination_series", "5000", "from 1 to 1000")]
    [InlineData("otlp_endpoint", "localhost:4318", "not an http:// or https:// URL")]
    [InlineData("otlp_protocol", "http/json", "not a protocol")]
    [InlineData("otlp_interval", "100ms", "at least 1s")]
    public void Out_of_range_values_name_the_flag(string key, string value, string reason)
    {
        var e = Assert.Throws<ConfigurationException>(() => ConfigurationLoader.Load(null, None, new Dictionary<string, string> { [key] = value }));
        Assert.Equal(key, e.Key);
        Assert.Contains(ConfigurationLoader.FlagOf(key), e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_in_the_file_is_named()
    {
        var file = TempJson("""{ "close_wait_leak": "5m" }""");
        try
        {
            var e = Assert.Throws<ConfigurationException>(() => ConfigurationLoader.Load(file, None, None));
            Assert.Equal("close_wait_leak", e.Key);
            Assert.Contains("unknown key", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Invalid_json_and_a_missing_file_are_configuration_errors()
    {
        var file = TempJson("{ \"poll_interval\": ");
        try
        {
            var e = Assert.Throws<ConfigurationException>(() => ConfigurationLoader.Load(file, None, None));
            Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }

        var missing = Assert.Throws<ConfigurationException>(() => ConfigurationLoader.Load("/nonexistent/sockwatch.json", None, None));
        Assert.Contains("--config", missing.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("90s", 90_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("0", 0)]
    public void Durations_parse(string text, long ms)
    {
        Assert.True(Durations.TryParse(text, out var d));
        Assert.Equal(ms, (long)d.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5x")]
    [InlineData("m")]
    [InlineData("-1s")]
    [InlineData("1.5s")]
    public void Bad_durations_do_not_parse(string text) => Assert.False(Durations.TryParse(text, out _));
}
