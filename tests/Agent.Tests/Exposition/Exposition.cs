using System.Text;
using SockWatch.Agent.Metrics;

namespace SockWatch.Agent.Tests.Exposition;

/// <summary>Builds families tersely and renders them to text for assertions.</summary>
internal static class Exposition
{
    public static string Render(ExpositionFormat format, params MetricFamily[] families)
    {
        using var stream = new MemoryStream();
        PrometheusTextSerializer.Write(stream, families, format);
        return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(stream.ToArray());
    }

    public static string Render004(params MetricFamily[] families) => Render(ExpositionFormat.PrometheusText004, families);

    public static string RenderOpenMetrics(params MetricFamily[] families) => Render(ExpositionFormat.OpenMetrics100, families);

    public static MetricFamily Gauge(string name, string help, params MetricSample[] samples) =>
        new(name, help, MetricType.Gauge, null, samples);

    public static MetricSample Sample(double value, params (string Name, string Value)[] labels) =>
        MetricSample.Of(value, [.. labels.Select(l => new MetricLabel(l.Name, l.Value))]);

    public static MetricLabel[] Labels(params (string Name, string Value)[] labels) =>
        [.. labels.Select(l => new MetricLabel(l.Name, l.Value))];

    /// <summary>The fixed set rendered into the golden files: names and help as SockWatch will use them.</summary>
    public static MetricFamily[] GoldenSet() =>
    [
        new("sockwatch_tcp_sockets", "TCP sockets in the host network namespace, by state.", MetricType.Gauge, null,
        [
            Sample(120, ("family", "inet"), ("state", "established"), ("phase", "data_transfer")),
            Sample(3, ("family", "inet"), ("state", "close_wait"), ("phase", "close")),
            Sample(0, ("family", "inet6"), ("state", "syn_sent"), ("phase", "handshake")),
        ]),
        new("sockwatch_tcp_owner_sockets", "TCP sockets per owner; \"other\" sums owners past the cap, see C:\\docs.\nSecond line.", MetricType.Gauge, null,
        [
            Sample(7, ("state", "close_wait"), ("unit", "web.service"), ("process", "say \"hi\"")),
            Sample(2, ("state", "close_wait"), ("unit", "café-☕.service"), ("process", "a\\b\nc")),
            Sample(1, ("state", "established"), ("unit", ""), ("process", "other")),
        ]),
        new("sockwatch_poll_errors", "Polls that failed, per collector and reason.", MetricType.Counter, null,
        [
            Sample(0, ("collector", "netlink"), ("reason", "permission_denied")),
            Sample(12, ("collector", "proc"), ("reason", "io")),
        ]),
        new("sockwatch_poll_duration_seconds", "Time one poll took.", MetricType.Histogram, "seconds",
        [
            MetricSample.OfHistogram(new HistogramValue(
                [0.0001, 0.001, 0.01, 0.1, 1, 10, 100000, 1e6, double.PositiveInfinity],
                [0, 2, 9, 14, 15, 15, 15, 15, 15],
                1.4375,
                15)),
        ]),
        new("sockwatch_last_poll_success_timestamp_seconds", "When the last poll succeeded, as a Unix time.", MetricType.Gauge, "seconds",
        [
            Sample(1767225600.25),
        ]),
        new("sockwatch_listen_queue_utilization_ratio", "Accept queue length over the listen backlog.", MetricType.Gauge, "ratio",
        [
            Sample(0.5, ("local_address", "127.0.0.1"), ("local_port", "8080")),
            Sample(double.NaN, ("local_address", "::1"), ("local_port", "9090")),
        ]),
        new("sockwatch_close_wait_oldest_age_seconds", "Age of the oldest close_wait socket.", MetricType.Gauge, "seconds",
        [
            Sample(double.PositiveInfinity, ("unit", "stuck.service")),
            Sample(1e-7, ("unit", "fresh.service")),
        ]),
        new("sockwatch_build", "SockWatch build information.", MetricType.Info, null,
        [
            Sample(1, ("version", "0.1.0"), ("dotnet_version", "10.0.0")),
        ]),
    ];
}
