using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using SockWatch.Agent.Configuration;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// The daemon's pages. Every one reads the latest poll result and nothing else: a request never
/// triggers a kernel dump of its own, and never throws into the host.
/// </summary>
internal sealed class HttpPages(PollResultStore store, SockWatchOptions options, TimeProvider time)
{
    /// <summary>Ready when a poll succeeded within the last three intervals.</summary>
    public bool IsReady(out string reason)
    {
        var latest = store.Latest;
        if (latest is null)
        {
            reason = "no poll has succeeded yet";
            return false;
        }

        var age = time.GetUtcNow() - latest.At;
        if (age > options.PollInterval * 3)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"the last successful poll was {age.TotalSeconds:0} s ago, more than three intervals");
            return false;
        }

        reason = "ok";
        return true;
    }

    public static Task Healthz(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("ok\n");
    }

    public Task Readyz(HttpContext context)
    {
        var ready = IsReady(out var reason);
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(reason + "\n");
    }

    public Task Landing(HttpContext context)
    {
        if (context.Request.Path != "/")
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(RenderLanding());
    }

    internal string RenderLanding()
    {
        var html = HtmlEncoder.Default;
        var inv = CultureInfo.InvariantCulture;
        var latest = store.Latest;
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>SockWatch</title></head><body>");
        sb.Append("<h1>SockWatch</h1><p>Watches this host's TCP sockets, places each on the TCP lifecycle, and reports what is stuck.</p>");
        sb.Append(inv, $"<p>Version {html.Encode(BuildInfo.Version)}; polling every {options.PollInterval.TotalSeconds:0.###} s.</p>");
        if (latest is null)
        {
            sb.Append("<p>No poll has succeeded yet.</p>");
        }
        else
        {
            sb.Append(inv, $"<h2>Latest poll</h2><p>{latest.At:u} through {html.Encode(latest.Collector)}: {latest.Sockets} sockets in {latest.Namespaces} network namespace{(latest.Namespaces == 1 ? "" : "s")}{(latest.Reads.Carried + latest.Reads.Empty > 0 ? $" ({latest.Reads.Dumped} dumped, {latest.Reads.Carried} carried from their last dump, {latest.Reads.Empty} empty)" : "")}, in {latest.Duration.TotalMilliseconds:0} ms; {store.Failures} failed polls so far.</p><table>");
            foreach (var e in Lifecycle.Entries)
            {
                var n = latest.CountByState[(int)e.State];
                if (n > 0)
                {
                    sb.Append(inv, $"<tr><td>{html.Encode(e.Name)}</td><td>{n}</td><td>{html.Encode(e.Step)}; waits for {html.Encode(e.WaitsFor)}</td></tr>");
                }
            }

            sb.Append("</table>");
            sb.Append(inv, $"<h2>Findings ({latest.Findings.Count})</h2><ul>");
            foreach (var f in latest.Findings)
            {
                sb.Append(inv, $"<li><b>{html.Encode(FindingKinds.NameOf(f.Kind))}</b> ({html.Encode(FindingKinds.NameOf(f.Severity))}): {html.Encode(f.Explanation)}</li>");
            }

            sb.Append("</ul>");
        }

        sb.Append("<p><a href=\"/metrics\">/metrics</a> (Prometheus text, or OpenMetrics when asked) &middot; <a href=\"/healthz\">/healthz</a> (alive) &middot; <a href=\"/readyz\">/readyz</a> (a poll succeeded within three intervals)</p></body></html>\n");
        return sb.ToString();
    }
}
