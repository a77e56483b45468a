using System.Globalization;
using System.Text;
using SockWatch.Core;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// <c>snapshot --format diagram</c>: the page's diagram in a terminal, drawn with box-drawing
/// characters on the same grid (<see cref="DiagramLayout"/>), each state's box holding its name
/// and count. The phase shows in the box's border (a terminal may have no colour), and each
/// edge is an arrow between its two boxes.
/// </summary>
internal static class TextDiagram
{
    private const int BoxWidth = 15, BoxHeight = 4, ColumnStep = 19, RowStep = 6;

    /// <summary>Border characters by phase: corners top-left, top-right, bottom-left, bottom-right, then horizontal, vertical.</summary>
    private static string Border(LifecyclePhase phase) => phase switch
    {
        LifecyclePhase.Established => "┏┓┗┛━┃",
        LifecyclePhase.ActiveClose => "┌┐└┘╌╎",
        LifecyclePhase.PassiveClose => "╔╗╚╝═║",
        LifecyclePhase.Closed => "╭╮╰╯┄┆",
        _ => "┌┐└┘─│", // listen and the handshake
    };

    public static void Write(TextWriter writer, int[] counts, int namespaces)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(counts);
        var width = (int)((DiagramLayout.Columns - 1) * ColumnStep) + BoxWidth;
        var height = ((DiagramLayout.Rows - 1) * RowStep) + BoxHeight;
        var canvas = new char[height, width];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                canvas[y, x] = ' ';
            }
        }

        foreach (var node in DiagramLayout.Nodes)
        {
            Box(canvas, node, counts[(int)node.Entry.State]);
        }

        foreach (var (from, to) in DiagramLayout.Edges)
        {
            Arrow(canvas, DiagramLayout.Find(from)!.Value, DiagramLayout.Find(to)!.Value);
        }

        var line = new StringBuilder(width);
        for (var y = 0; y < height; y++)
        {
            line.Clear();
            for (var x = 0; x < width; x++)
            {
                line.Append(canvas[y, x]);
            }

            writer.WriteLine(line.ToString().TrimEnd());
        }

        writer.WriteLine();
        writer.WriteLine("borders: ─ listen and handshake, ━ established, ╌ active close, ═ passive close, ┄ closed");
        var total = counts.Sum();
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{total} socket{(total == 1 ? "" : "s")} in {namespaces} network namespace{(namespaces == 1 ? "" : "s")}; new_syn_recv and bound_inactive are reported by the kernel as syn_recv and close"));
    }

    private static (int X, int Y) TopLeft(DiagramNode node) => ((int)Math.Round(node.Column * ColumnStep), node.Row * RowStep);

    private static void Box(char[,] canvas, DiagramNode node, int count)
    {
        var (left, top) = TopLeft(node);
        var b = Border(node.Entry.Phase);
        var right = left + BoxWidth - 1;
        var bottom = top + BoxHeight - 1;
        for (var x = left + 1; x < right; x++)
        {
            canvas[top, x] = b[4];
            canvas[bottom, x] = b[4];
        }

        for (var y = top + 1; y < bottom; y++)
        {
            canvas[y, left] = b[5];
            canvas[y, right] = b[5];
        }

        (canvas[top, left], canvas[top, right], canvas[bottom, left], canvas[bottom, right]) = (b[0], b[1], b[2], b[3]);
        Centered(canvas, top + 1, left, node.Entry.Name);
        Centered(canvas, top + 2, left, count.ToString(CultureInfo.InvariantCulture));
    }

    private static void Centered(char[,] canvas, int y, int left, string text)
    {
        var inner = BoxWidth - 2;
        if (text.Length > inner)
        {
            text = text[..inner];
        }

        var start = left + 1 + ((inner - text.Length) / 2);
        for (var i = 0; i < text.Length; i++)
        {
            canvas[y, start + i] = text[i];
        }
    }

    /// <summary>One arrow glyph halfway between the bottom of one box and the top of the other (beside it, on the same row), in the first free cell.</summary>
    private static void Arrow(char[,] canvas, DiagramNode from, DiagramNode to)
    {
        var (fx, fy) = TopLeft(from);
        var (tx, ty) = TopLeft(to);
        double sx = fx + (BoxWidth / 2), ex = tx + (BoxWidth / 2);
        char glyph;
        double mx, my;
        if (from.Row == to.Row)
        {
            (mx, my) = (((fx + BoxWidth + tx) / 2.0) - 0.5, fy + 1);
            glyph = tx > fx ? '→' : '←';
        }
        else
        {
            double sy = fy + BoxHeight, ey = ty - 1;
            (mx, my) = ((sx + ex) / 2, (sy + ey) / 2);
            var dx = ex - sx;
            glyph = Math.Abs(dx) < 3 ? '↓' : dx > 0 ? '↘' : '↙';
        }

        foreach (var dy in new[] { 0, 1, -1, 2 })
        {
            var (x, y) = ((int)Math.Round(mx), (int)Math.Floor(my) + dy);
            if (y >= 0 && y < canvas.GetLength(0) && x >= 0 && x < canvas.GetLength(1) && canvas[y, x] == ' ')
            {
                canvas[y, x] = glyph;
                return;
            }
        }
    }
}
