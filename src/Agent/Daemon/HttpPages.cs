using System.Globalization;
using Microsoft.AspNetCore.Http;
using SockWatch.Agent.Configuration;

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

    /// <summary><c>/</c>: the state diagram of the latest poll for the selection (docs/web.md).</summary>
    public Task Landing(HttpContext context)
    {
        if (context.Request.Path != "/")
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!Diagram.Selection.TryParse(context.Request, out var selection, out var error))
        {
            return BadRequest(context, error);
        }

        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(RenderLanding(selection));
    }

    internal string RenderLanding(Diagram.Selection selection)
    {
        var latest = store.Latest;
        var diagram = latest is null ? null : latest.Diagram ?? throw new InvalidOperationException("the latest poll was published without its diagram");
        return Diagram.DiagramPage.Render(diagram, store.History.Points, selection, new Diagram.PageContext(BuildInfo.Version, options.PollInterval, store.Failures, latest?.Namespaces ?? 0));
    }

    /// <summary><c>/api/v1/poll</c>: the latest poll for the selection, as JSON.</summary>
    public Task Poll(HttpContext context) =>
        Json(context, (stream, selection) => Diagram.DiagramJson.WritePoll(stream, store.Latest?.Diagram, selection, options.PollInterval));

    /// <summary><c>/api/v1/history</c>: the kept polls of the last hour for the selection, as JSON.</summary>
    public Task History(HttpContext context) =>
        Json(context, (stream, selection) => Diagram.DiagramJson.WriteHistory(stream, store.History.Points, selection));

    /// <summary><c>/runbook</c>: docs/runbook.md as embedded, for the findings' links.</summary>
    public static Task Runbook(HttpContext context)
    {
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(Diagram.Runbook.Html);
    }

    /// <summary><c>/static/NAME</c>: the page's script and style sheet, embedded in the binary.</summary>
    public static Task Static(HttpContext context)
    {
        var name = context.Request.RouteValues["name"] as string;
        if (name is null || !Diagram.PageAssets.TryGet(name, out var body, out var type))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        context.Response.ContentType = type;
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    }

    private static Task Json(HttpContext context, Action<Stream, Diagram.Selection> write)
    {
        if (!Diagram.Selection.TryParse(context.Request, out var selection, out var error))
        {
            return BadRequest(context, error);
        }

        // Written to memory first: the writer is synchronous, and Kestrel refuses synchronous writes.
        using var buffer = new MemoryStream();
        write(buffer, selection);
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentLength = buffer.Length;
        return context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).AsTask();
    }

    private static Task BadRequest(HttpContext context, string error)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("bad request: " + error + "\n");
    }
}
