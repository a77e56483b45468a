using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using SockWatch.Core;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// The state diagram as SVG, inline in the page: one group per state with <c>data-state</c> and
/// <c>data-count</c>, one per edge with its transition rate, one badge per state with findings.
/// Every text a process chose goes through the HTML encoder (SVG inline in HTML is parsed by the
/// HTML parser, so the same escaping holds).
/// </summary>
internal static class DiagramSvg
{
    public const int Width = 700;
    public const int Height = 660;
    private const double HalfWidth = 62, HalfHeight = 30;

    public static (double X, double Y) Center(DiagramNode node) => (90 + (node.Column * 172), 48 + (node.Row * 92));

    public static void Write(StringBuilder sb, int[] counts, DiagramTransitions? transitions, IReadOnlyList<(TcpState From, TcpState To, long Count)> edges, IReadOnlyList<DiagramFinding> findings)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(counts);
        var inv = CultureInfo.InvariantCulture;
        var html = HtmlEncoder.Default;
        sb.Append(inv, $"<svg id=\"diagram\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-labelledby=\"diagram-title\">");
        sb.Append("<title id=\"diagram-title\">The TCP state diagram with the number of sockets in each state</title>");
        sb.Append("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\"/></marker></defs>");

        var source = transitions?.Source ?? DiagramTransitions.Inferred;
        var interval = transitions?.IntervalSeconds ?? 0;
        sb.Append("<g id=\"edges\">");
        foreach (var (from, to) in DiagramLayout.Edges)
        {
            var count = 0L;
            foreach (var e in edges)
            {
                if (e.From == from && e.To == to)
                {
                    count = e.Count;
                }
            }

            var (path, lx, ly) = EdgePath(DiagramLayout.Find(from)!.Value, DiagramLayout.Find(to)!.Value);
            var rate = interval > 0 ? count / interval : 0;
            sb.Append(inv, $"<g class=\"edge {source}\" data-from=\"{Lifecycle.NameOf(from)}\" data-to=\"{Lifecycle.NameOf(to)}\" data-count=\"{count}\" data-rate=\"{rate:0.####}\">");
            sb.Append(inv, $"<path d=\"{path}\" marker-end=\"url(#arrow)\"/><text x=\"{lx:0.#}\" y=\"{ly:0.#}\">{html.Encode(RateText(rate, interval, source))}</text></g>");
        }

        sb.Append("</g><g id=\"nodes\">");
        foreach (var node in DiagramLayout.Nodes)
        {
            var (x, y) = Center(node);
            var e = node.Entry;
            var phase = Lifecycle.PhaseName(e.Phase);
            var n = counts[(int)e.State];
            sb.Append(inv, $"<g class=\"node phase-{phase}\" data-state=\"{e.Name}\" data-count=\"{n}\" data-phase=\"{phase}\" transform=\"translate({x:0.#},{y:0.#})\">");
            sb.Append(inv, $"<title>{html.Encode(e.Name)}: {html.Encode(e.Description)} Waits for {html.Encode(e.WaitsFor)}.</title>");
            sb.Append(inv, $"<rect x=\"{-HalfWidth}\" y=\"{-HalfHeight}\" width=\"{HalfWidth * 2}\" height=\"{HalfHeight * 2}\" rx=\"7\"/>");
            sb.Append(inv, $"<text class=\"name\" y=\"-12\">{html.Encode(e.Name)}</text><text class=\"count\" y=\"8\">{n}</text><text class=\"phase\" y=\"23\">{html.Encode(phase.Replace('_', ' '))}</text>");
            var here = findings.Where(f => f.State == e.State).ToList();
            if (here.Count > 0)
            {
                // Placed on the state it is about: a badge with the number of findings there,
                // whose tooltip names each one's kind and owner.
                sb.Append(inv, $"<a class=\"badge\" href=\"#findings\"><title>{html.Encode(BadgeTitle(e.Name, here))}</title><circle cx=\"{HalfWidth - 4}\" cy=\"{-HalfHeight + 2}\" r=\"11\"/><text x=\"{HalfWidth - 4}\" y=\"{-HalfHeight + 6}\">!{here.Count}</text></a>");
            }

            sb.Append("</g>");
        }

        sb.Append("</g></svg>");
    }

    /// <summary>A badge's tooltip: "2 findings at close_wait: close_wait_leak, process api (unit api.service); ..." (the script writes the same).</summary>
    public static string BadgeTitle(string state, IReadOnlyList<DiagramFinding> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        var each = findings.Select(f => Core.Detection.FindingKinds.NameOf(f.Kind) + (f.Pid is null ? "" : $", process {f.Process} (unit {f.Unit})"));
        return string.Create(CultureInfo.InvariantCulture, $"{findings.Count} finding{(findings.Count == 1 ? "" : "s")} at {state}: {string.Join("; ", each)}");
    }

    /// <summary>An edge's rate as the page prints it: "≈" marks one inferred from polls.</summary>
    public static string RateText(double perSecond, double interval, string source) =>
        interval <= 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{(source == DiagramTransitions.Inferred ? "≈" : "")}{perSecond:0.##}/s");

    /// <summary>An edge as a straight line between the two boxes, and where its label goes.</summary>
    private static (string Path, double LabelX, double LabelY) EdgePath(DiagramNode from, DiagramNode to)
    {
        var (ax, ay) = Center(from);
        var (bx, by) = Center(to);
        var (sx, sy) = Clip(ax, ay, bx, by);
        var (ex, ey) = Clip(bx, by, ax, ay);
        var (mx, my) = ((sx + ex) / 2, (sy + ey) / 2);
        return (string.Create(CultureInfo.InvariantCulture, $"M{sx:0.#},{sy:0.#}L{ex:0.#},{ey:0.#}"), mx + 4, my - 4);
    }

    /// <summary>Where the line from a state's centre toward (tx, ty) leaves its box.</summary>
    private static (double X, double Y) Clip(double x, double y, double tx, double ty)
    {
        var (dx, dy) = (tx - x, ty - y);
        var t = Math.Min(dx == 0 ? double.MaxValue : HalfWidth / Math.Abs(dx), dy == 0 ? double.MaxValue : HalfHeight / Math.Abs(dy));
        return (x + (dx * t), y + (dy * t));
    }
}
