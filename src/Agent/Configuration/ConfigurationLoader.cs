using System.Globalization;
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
/// each overriding the one before, and validates the result. One table of keys serves all
/// three: the JSON key close_wait_leak_after is SOCKWATCH_CLOSE_WAIT_LEAK_AFTER and
/// --close-wait-leak-after.
/// </summary>
internal static class ConfigurationLoader
{
    private enum Kind
    {
        Text,
        Duration,
        Ratio,
        Count,
    }

    /// <param name="Flag">The flag, when it is not the key with dashes (--web.config.file, as every Prometheus exporter names it).</param>
    private sealed record Key(string Name, Kind Kind, Func<SockWatchOptions, object, SockWatchOptions> Apply, string? Flag = null);

    private static readonly Key[] Keys =
    [
        new("collector", Kind.Text, (o, v) => o with { Collector = (string)v }),
        new("proc_root", Kind.Text, (o, v) => o with { ProcRoot = (string)v }),
        new("poll_interval", Kind.Duration, (o, v) => o with { PollInterval = (TimeSpan)v }),
        new("listen_address", Kind.Text, (o, v) => o with { ListenAddress = (string)v }),
        new("close_wait_leak_after", Kind.Duration, (o, v) => o with { CloseWaitLeakAfter = (TimeSpan)v }),
        new("ephemeral_port_utilization", Kind.Ratio, (o, v) => o with { EphemeralPortUtilization = (double)v }),
        new("accept_queue_utilization", Kind.Ratio, (o, v) => o with { AcceptQueueUtilization = (double)v }),
        new("time_wait_bucket_utilization", Kind.Ratio, (o, v) => o with { TimeWaitBucketUtilization = (double)v }),
        new("last_ack_stuck_after", Kind.Duration, (o, v) => o with { LastAckStuckAfter = (TimeSpan)v }),
        new("syn_sent_retries", Kind.Count, (o, v) => o with { SynSentRetries = (int)v }),
        new("max_owner_series", Kind.Count, (o, v) => o with { MaxOwnerSeries = (int)v }),
        new("max_destination_series", Kind.Count, (o, v) => o with { MaxDestinationSeries = (int)v }),
        new("netns", Kind.Text, (o, v) => o with { Netns = (string)v }),
        new("netns_exclude", Kind.Text, (o, v) => o with { NetnsExclude = (string)v }),
        new("max_netns_series", Kind.Count, (o, v) => o with { MaxNetnsSeries = (int)v }),
        new("netns_redump_after", Kind.Duration, (o, v) => o with { NetnsRedumpAfter = (TimeSpan)v }),
        new("otlp_endpoint", Kind.Text, (o, v) => o with { OtlpEndpoint = (string)v }),
        new("otlp_protocol", Kind.Text, (o, v) => o with { OtlpProtocol = (string)v }),
        new("otlp_interval", Kind.Duration, (o, v) => o with { OtlpInterval = (TimeSpan)v }),
        new("web_config_file", Kind.Text, (o, v) => o with { WebConfigFile = (string)v }, Flag: "--web.config.file"),
    ];

    /// <summary>Every key, as the flags name them.</summary>
    public static IEnumerable<string> FlagNames => Keys.Select(k => FlagOf(k.Name));

    public static string FlagOf(string key) => Keys.FirstOrDefault(k => k.Name == key)?.Flag ?? "--" + key.Replace('_', '-');

    public static string EnvironmentOf(string key) => SockWatchOptionsDefaults.EnvironmentPrefix + key.ToUpperInvariant();

    /// <param name="configFile">--config, or null for the default file if it exists.</param>
    /// <param name="environment">The environment variables (a seam for tests).</param>
    /// <param name="flags">Flag values given on the command line, by key name (only those given).</param>
    public static SockWatchOptions Load(string? configFile, IReadOnlyDictionary<string, string> environment, IReadOnlyDictionary<string, string> flags)
    {
        var options = new SockWatchOptions();
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        var file = configFile ?? (File.Exists(SockWatchOptionsDefaults.ConfigFile) ? SockWatchOptionsDefaults.ConfigFile : null);
        if (file is not null)
        {
            foreach (var (name, value) in ReadFile(file, explicitlyGiven: configFile is not null))
            {
                options = Apply(options, name, value, file);
                sources[name] = file;
            }
        }

        foreach (var key in Keys)
        {
            if (environment.TryGetValue(EnvironmentOf(key.Name), out var value))
            {
                options = Apply(options, key.Name, value, EnvironmentOf(key.Name));
                sources[key.Name] = EnvironmentOf(key.Name);
            }
        }

        foreach (var (name, value) in flags)
        {
            options = Apply(options, name, value, FlagOf(name));
            sources[name] = FlagOf(name);
        }

        SockWatchOptionsValidation.Validate(options, key => sources.GetValueOrDefault(key, "the default"));
        return options;
    }

    public static IReadOnlyDictionary<string, string> ProcessEnvironment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            if (e.Key is string k && k.StartsWith(SockWatchOptionsDefaults.EnvironmentPrefix, StringComparison.Ordinal) && e.Value is string v)
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
                if (!Keys.Any(k => k.Name == p.Name))
                {
                    throw new ConfigurationException(p.Name, path, "unknown key; known keys: " + string.Join(", ", Keys.Select(k => k.Name)));
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

    private static SockWatchOptions Apply(SockWatchOptions options, string name, string value, string source)
    {
        var key = Keys.FirstOrDefault(k => k.Name == name)
                  ?? throw new ConfigurationException(name, source, "unknown key");
        object parsed = key.Kind switch
        {
            Kind.Duration => Durations.TryParse(value, out var d) ? d
                : throw new ConfigurationException(name, source, $"'{value}' is not a duration (like 500ms, 90s, 2m, 1h30m)"),
            Kind.Ratio => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && double.IsFinite(r) ? r
                : throw new ConfigurationException(name, source, $"'{value}' is not a number (a ratio such as 0.8)"),
            Kind.Count => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c
                : throw new ConfigurationException(name, source, $"'{value}' is not a whole number"),
            _ => value,
        };
        return key.Apply(options, parsed);
    }
}

/// <summary>Validation across fields, at start; the first problem is reported.</summary>
internal static class SockWatchOptionsValidation
{
    public static void Validate(SockWatchOptions o, Func<string, string> sourceOf)
    {
        void Check(bool ok, string key, string reason)
        {
            if (!ok)
            {
                throw new ConfigurationException(key, sourceOf(key), reason);
            }
        }

        void CheckRatio(double value, string key) =>
            Check(value is > 0 and <= 1, key, string.Create(CultureInfo.InvariantCulture, $"{value} is not a ratio in (0, 1]"));

        Check(Collectors.CollectorKinds.TryParse(o.Collector, out _), "collector", $"'{o.Collector}' is not a collector; accepted: auto, netlink, proc");
        Check(!string.IsNullOrWhiteSpace(o.ProcRoot) && Directory.Exists(o.ProcRoot), "proc_root", $"'{o.ProcRoot}' is not a directory");
        Check(o.PollInterval >= TimeSpan.FromSeconds(1), "poll_interval", "must be at least 1s");
        Check(Daemon.ListenAddress.TryParse(o.ListenAddress, out _), "listen_address", $"'{o.ListenAddress}' is not HOST:PORT (like :9859, 127.0.0.1:9859, [::1]:9859)");
        Check(o.CloseWaitLeakAfter > TimeSpan.Zero, "close_wait_leak_after", "must be more than 0");
        Check(o.LastAckStuckAfter > TimeSpan.Zero, "last_ack_stuck_after", "must be more than 0");
        CheckRatio(o.EphemeralPortUtilization, "ephemeral_port_utilization");
        CheckRatio(o.AcceptQueueUtilization, "accept_queue_utilization");
        CheckRatio(o.TimeWaitBucketUtilization, "time_wait_bucket_utilization");
        Check(o.SynSentRetries is >= 1 and <= 100, "syn_sent_retries", "must be from 1 to 100");
        Check(o.MaxOwnerSeries is >= 1 and <= 1000, "max_owner_series", "must be from 1 to 1000");
        Check(o.MaxDestinationSeries is >= 1 and <= 1000, "max_destination_series", "must be from 1 to 1000");
        Check(o.MaxNetnsSeries is >= 1 and <= 10000, "max_netns_series", "must be from 1 to 10000");
        var netnsOk = Collectors.Namespaces.NamespaceSelection.TryParse(o.Netns ?? "all", o.NetnsExclude, out var netnsWhy) is not null;
        Check(netnsOk, o.Netns is null ? "netns_exclude" : "netns", netnsWhy);
        Check(
            o.OtlpEndpoint.Length == 0 || (Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out var otlp) && otlp.Scheme is "http" or "https"),
            "otlp_endpoint",
            $"'{o.OtlpEndpoint}' is not an http:// or https:// URL (for Prometheus: http://HOST:9090/api/v1/otlp/v1/metrics)");
        Check(o.OtlpProtocol is "http/protobuf" or "grpc", "otlp_protocol", $"'{o.OtlpProtocol}' is not a protocol; accepted: http/protobuf, grpc");
        Check(o.OtlpInterval >= TimeSpan.FromSeconds(1), "otlp_interval", "must be at least 1s");
        if (o.WebConfigFile.Length > 0)
        {
            // Everything the file names is loaded too (certificates, keys, client CAs), so that a
            // mistake stops the start instead of every scrape.
            try
            {
                _ = Web.WebConfigLoader.Load(o.WebConfigFile);
            }
            catch (Web.WebConfigException e)
            {
                Check(false, "web_config_file", e.Message);
            }
        }
    }

}
