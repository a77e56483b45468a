using SockWatch.Agent.Metrics;

namespace SockWatch.Agent.Tests.Exposition;

public sealed class ExpositionNegotiationTests
{
    private const string Text004 = "text/plain; version=0.0.4; charset=utf-8";
    private const string OpenMetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    [Theory]
    // Prometheus 2.42's scrape Accept header (docs/exposition.md, "Negotiation").
    [InlineData("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", OpenMetrics)]
    // Prometheus 3.x default (docs/exposition.md, "Negotiation"): escaping= is ignored.
    [InlineData("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", OpenMetrics)]
    // A browser.
    [InlineData("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", Text004)]
    // curl.
    [InlineData("*/*", Text004)]
    [InlineData(null, Text004)]
    [InlineData("", Text004)]
    // q-values decide.
    [InlineData("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.8", Text004)]
    [InlineData("text/plain;version=0.0.4;q=0.3, application/openmetrics-text; version=1.0.0; q=0.31", OpenMetrics)]
    [InlineData("application/openmetrics-text;version=1.0.0;q=0, text/plain;q=0.1", Text004)]
    [InlineData("application/openmetrics-text;version=\"1.0.0\";q=1.0", OpenMetrics)]
    [InlineData("APPLICATION/OpenMetrics-Text; Version=1.0.0", OpenMetrics)]
    // On equal q an explicit type beats a wildcard; then the first listed wins.
    [InlineData("*/*,application/openmetrics-text;version=1.0.0", OpenMetrics)]
    [InlineData("application/openmetrics-text;version=1.0.0,text/plain", OpenMetrics)]
    [InlineData("text/plain,application/openmetrics-text;version=1.0.0", Text004)]
    // Versions we do not serve: unversioned OpenMetrics (client_golang reads 0.0.1), OpenMetrics 0.0.1, text 1.0.0.
    [InlineData("application/openmetrics-text", Text004)]
    [InlineData("application/openmetrics-text;version=0.0.1", Text004)]
    [InlineData("text/plain;version=1.0.0;escaping=allow-utf-8", Text004)]
    [InlineData("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", Text004)]
    // Garbage.
    [InlineData("application/openmetrics-text;version=1.0.0;q=abc", Text004)]
    [InlineData("application/openmetrics-text;version=1.0.0;q=2", Text004)]
    [InlineData("application/openmetrics-text;version=1.0.0;q=-1", Text004)]
    [InlineData("application/openmetrics-text;version", Text004)]
    [InlineData(";;;,,,===", Text004)]
    [InlineData("\u00e9\u2603/\u0000", Text004)]
    public void Accept_header_picks_the_format(string? accept, string contentType)
    {
        var (format, type) = PrometheusTextSerializer.Negotiate(accept);

        Assert.Equal(contentType, type);
        Assert.Equal(contentType == OpenMetrics ? ExpositionFormat.OpenMetrics100 : ExpositionFormat.PrometheusText004, format);
    }

    [Fact]
    public void Content_types_are_exactly_the_reference_strings()
    {
        Assert.Equal(Text004, PrometheusTextSerializer.ContentType004);
        Assert.Equal(OpenMetrics, PrometheusTextSerializer.ContentTypeOpenMetrics100);
    }
}
