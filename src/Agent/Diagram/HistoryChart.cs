using System.Globalization;
using System.Text;
using SockWatch.Core;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// The last hour as a small chart: all sockets, close_wait and time_wait of the selection, one
/// line each, told apart by dash and by name as well as colour.
/// </summary>
internal static class HistoryChart
{
    public const int Width = 320, Height = 120;

    /// <summary>The lines drawn: a name and the states summed in it (none: every state).</summary>
    public static readonly IReadOnlyList<(string Name, TcpState[] States)> Lines =
    [
        ("all", []),
        ("close_wait", [TcpState.CloseWait]),
        ("time_wait", [TcpState.TimeWait]),
    ];

    public static void Write(StringBuilder sb, IReadOnlyList<HistoryPoint> points, Selection selection)
    {
        ArgumentNullException.ThrowIfNull(sb);
        ArgumentNullException.ThrowIfNull(points);
        var inv = CultureInfo.InvariantCulture;
        var series = Lines.Select(l => points.Select(p => Sum(DiagramPoll.CountStates(p.Namespaces, p.Owners, selection), l.States)).ToArray()).ToArray();
        var max = Math.Max(1, series.SelectMany(s => s).DefaultIfEmpty(0).Max());
        sb.Append(inv, $"<svg id=\"history\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"sockets over the last hour\" data-points=\"{points.Count}\">");
        for (var i = 0; i < Lines.Count; i++)
        {
            sb.Append(inv, $"<polyline class=\"line-{Lines[i].Name}\" data-line=\"{Lines[i].Name}\" points=\"");
            for (var p = 0; p < points.Count; p++)
            {
                var x = points.Count == 1 ? Width : p * (Width - 1.0) / (points.Count - 1);
                var y = Height - 2 - (series[i][p] * (Height - 14.0) / max);
                sb.Append(inv, $"{x:0.#},{y:0.#} ");
            }

            sb.Append("\"/>");
        }

        sb.Append(inv, $"<text x=\"2\" y=\"10\" id=\"history-max\">max {max}</text></svg>");
        sb.Append(inv, $"<p id=\"history-note\"><span id=\"history-count\">{points.Count}</span> poll{(points.Count == 1 ? "" : "s")} kept (at most {PollHistory.MaxPoints}, one every 5 s at most). Lines: <span class=\"key line-all\">all</span>, <span class=\"key line-close_wait\">close_wait</span>, <span class=\"key line-time_wait\">time_wait</span>.</p>");
    }

    public static int Sum(int[] counts, TcpState[] states)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(states);
        if (states.Length == 0)
        {
            return counts.Sum();
        }

        var n = 0;
        foreach (var s in states)
        {
            n += counts[(int)s];
        }

        return n;
    }
}
