using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Diagram;

/// <summary>What the page says about the daemon beside the poll.</summary>
/// <param name="Version">The build's version.</param>
/// <param name="PollInterval">The configured interval.</param>
/// <param name="FailedPolls">Polls failed since start.</param>
/// <param name="Namespaces">Namespaces watched in the latest poll.</param>
internal readonly record struct PageContext(string Version, TimeSpan PollInterval, long FailedPolls, int Namespaces);

/// <summary>
/// <c>/</c>: the state diagram with the latest poll's counts, the findings placed on it, the top
/// owners of close_wait and time_wait and the last hour, all rendered on the server so the page
/// is whole without JavaScript. <c>/static/sockwatch.js</c> then keeps it up to date from
/// <c>/api/v1/poll</c> and <c>/api/v1/history</c> (docs/web.md).
/// </summary>
internal static class DiagramPage
{
    public static string Render(DiagramPoll? poll, IReadOnlyList<HistoryPoint> history, Selection selection, PageContext context)
    {
        var html = HtmlEncoder.Default;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder(24 * 1024);
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        sb.Append("<title>SockWatch</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/static/sockwatch.css\"></head>");
        sb.Append(inv, $"<body data-interval=\"{context.PollInterval.TotalSeconds:0.###}\"><header><h1>SockWatch</h1>");
        sb.Append("<p>Watches this host's TCP sockets, places each on the TCP lifecycle, and reports what is stuck.</p>");
        sb.Append(inv, $"<p>Version {html.Encode(context.Version)}; polling every {context.PollInterval.TotalSeconds:0.###} s. <span id=\"summary\">");
        Summary(sb, poll, context);
        sb.Append("</span></p>");
        Selectors(sb, poll, selection);
        sb.Append("</header><main><section id=\"lifecycle\">");

        var counts = poll?.StatesFor(selection) ?? new int[14];
        var findings = poll?.FindingsFor(selection) ?? [];
        DiagramSvg.Write(sb, counts, poll?.Transitions, poll?.TransitionsFor(selection) ?? [], findings);
        Legend(sb, poll?.Transitions);
        sb.Append("</section><aside>");

        sb.Append(inv, $"<h2>Findings (<span id=\"finding-count\">{findings.Count}</span>)</h2><ol id=\"findings\">");
        foreach (var f in findings)
        {
            FindingItem(sb, f);
        }

        sb.Append("</ol><p id=\"no-findings\"").Append(findings.Count == 0 ? "" : " hidden").Append(">Nothing is stuck.</p>");

        sb.Append("<h2>Top owners</h2>");
        foreach (var state in new[] { TcpState.CloseWait, TcpState.TimeWait })
        {
            var name = Lifecycle.NameOf(state);
            sb.Append(inv, $"<h3>{name}</h3><table id=\"top-{name}\"><thead><tr><th>process</th><th>unit</th><th>netns</th><th>sockets</th></tr></thead><tbody>");
            foreach (var o in poll?.TopOwners(state, selection, DiagramJson.TopOwners) ?? [])
            {
                sb.Append(inv, $"<tr><td>{html.Encode(o.Process)}</td><td>{html.Encode(o.Unit)}</td><td>{html.Encode(o.Netns)}</td><td>{o.ByState[(int)state]}</td></tr>");
            }

            sb.Append("</tbody></table>");
        }

        sb.Append("<h2>Last hour</h2>");
        HistoryChart.Write(sb, history, selection);
        sb.Append("</aside></main><footer><p><a href=\"/metrics\">/metrics</a> (Prometheus text, or OpenMetrics when asked) &middot; <a href=\"/api/v1/poll\">/api/v1/poll</a> &middot; <a href=\"/api/v1/history\">/api/v1/history</a> &middot; <a href=\"/runbook\">runbook</a> &middot; <a href=\"/healthz\">/healthz</a> (alive) &middot; <a href=\"/readyz\">/readyz</a> (a poll succeeded within three intervals)</p></footer>");
        sb.Append("<script src=\"/static/sockwatch.js\"></script></body></html>\n");
        return sb.ToString();
    }

    private static void Summary(StringBuilder sb, DiagramPoll? poll, PageContext context)
    {
        var html = HtmlEncoder.Default;
        if (poll is null)
        {
            sb.Append("No poll has succeeded yet.");
            return;
        }

        sb.Append(CultureInfo.InvariantCulture,
            $"Latest poll: <time datetime=\"{poll.At.UtcDateTime:O}\">{poll.At:u}</time> through {html.Encode(poll.Collector)}: {poll.Sockets} sockets in {context.Namespaces} network namespace{(context.Namespaces == 1 ? "" : "s")}, in {poll.Duration.TotalMilliseconds:0} ms; {context.FailedPolls} failed polls so far.");
    }

    private static void Selectors(StringBuilder sb, DiagramPoll? poll, Selection selection)
    {
        var html = HtmlEncoder.Default;
        sb.Append("<form id=\"select\" method=\"get\" action=\"/\"><label>Namespace <select name=\"netns\"><option value=\"\">all namespaces</option>");
        var namespaces = poll?.Namespaces.Select(n => n.Netns).ToList() ?? [];
        Options(sb, html, namespaces, selection.Netns);
        sb.Append("</select></label> <label>Owner <select name=\"owner\"><option value=\"\">all owners</option>");
        Options(sb, html, poll?.OwnerNames() ?? [], selection.Owner);
        sb.Append("</select></label> <button type=\"submit\">Show</button></form>");
    }

    private static void Options(StringBuilder sb, HtmlEncoder html, IReadOnlyList<string> values, string selected)
    {
        // A selected name not in the poll stays offered (and selected): the selection shows empty, not another one.
        var all = selected.Length > 0 && !values.Contains(selected) ? [.. values, selected] : values;
        foreach (var v in all)
        {
            var e = html.Encode(v);
            sb.Append("<option value=\"").Append(e).Append('"').Append(v == selected ? " selected" : "").Append('>').Append(e).Append("</option>");
        }
    }

    private static void FindingItem(StringBuilder sb, DiagramFinding f)
    {
        var html = HtmlEncoder.Default;
        var kind = FindingKinds.NameOf(f.Kind);
        var severity = FindingKinds.NameOf(f.Severity);
        var state = Lifecycle.NameOf(f.State);
        sb.Append(CultureInfo.InvariantCulture, $"<li class=\"{severity}\" data-kind=\"{kind}\" data-state=\"{state}\"><b>{kind}</b> ({severity}) at <b>{state}</b>");
        if (f.Netns.Length > 0)
        {
            sb.Append(", netns ").Append(html.Encode(f.Netns));
        }

        if (f.Pid is not null)
        {
            sb.Append(", process <span class=\"process\">").Append(html.Encode(f.Process)).Append("</span> (unit ").Append(html.Encode(f.Unit)).Append(')');
        }

        sb.Append(": ").Append(html.Encode(f.Text)).Append(" <a href=\"").Append(Runbook.LinkOf(f.Kind)).Append("\">runbook</a></li>");
    }

    private static void Legend(StringBuilder sb, DiagramTransitions? transitions)
    {
        sb.Append("<ul id=\"legend\">");
        foreach (var phase in new[] { LifecyclePhase.Listen, LifecyclePhase.Handshake, LifecyclePhase.Established, LifecyclePhase.ActiveClose, LifecyclePhase.PassiveClose, LifecyclePhase.Closed })
        {
            var name = Lifecycle.PhaseName(phase);
            sb.Append(CultureInfo.InvariantCulture, $"<li><svg width=\"28\" height=\"16\" aria-hidden=\"true\"><rect class=\"swatch phase-{name}\" x=\"1\" y=\"1\" width=\"26\" height=\"14\" rx=\"3\"/></svg> {name.Replace('_', ' ')}</li>");
        }

        var traced = transitions?.Source == DiagramTransitions.Traced;
        sb.Append("<li id=\"transitions-source\" data-source=\"").Append(traced ? DiagramTransitions.Traced : DiagramTransitions.Inferred).Append("\">")
          .Append(traced
              ? "Edges: state changes per second, counted exactly by the tracer."
              : "Edges: state changes per second, inferred from sockets seen in two polls (&asymp;, dashed): a socket that changed twice between polls counts once, and one that came and went between polls not at all.")
          .Append("</li></ul>");
    }
}
