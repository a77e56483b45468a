using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using SockWatch.Agent.Metrics;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// <c>/metrics</c>: the latest poll as Prometheus text 0.0.4, or OpenMetrics 1.0.0 when the
/// Accept header asks for it, gzipped when Accept-Encoding allows gzip. Reads; never dumps.
/// </summary>
internal static class MetricsEndpoint
{
    /// <param name="context">The request.</param>
    /// <param name="scrape">The body for a format, gzipped or not (<see cref="MetricsPipeline.Scrape"/>).</param>
    public static Task Serve(HttpContext context, Func<ExpositionFormat, bool, byte[]> scrape)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(scrape);
        var request = context.Request;
        var (format, contentType) = PrometheusTextSerializer.Negotiate(request.Headers.Accept.ToString());
        var gzip = AcceptsGzip(request.Headers.AcceptEncoding.ToString());
        var body = scrape(format, gzip);

        var response = context.Response;
        response.ContentType = contentType;
        response.Headers.Vary = "Accept, Accept-Encoding";
        if (gzip)
        {
            response.Headers.ContentEncoding = "gzip";
        }

        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body).AsTask();
    }

    /// <summary>Whether an Accept-Encoding header allows gzip (listed, or through *, and not with q=0).</summary>
    internal static bool AcceptsGzip(string? header)
    {
        if (string.IsNullOrEmpty(header) || !StringWithQualityHeaderValue.TryParseList([header], out var values))
        {
            return false;
        }

        double? gzip = null, any = null;
        foreach (var v in values)
        {
            var q = v.Quality ?? 1;
            if (v.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) || v.Value.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
            {
                gzip = q;
            }
            else if (v.Value.Equals("*", StringComparison.Ordinal))
            {
                any = q;
            }
        }

        return (gzip ?? any ?? 0) > 0;
    }
}
