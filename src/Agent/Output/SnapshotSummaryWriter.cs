using System.Globalization;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>`--format summary`: one `state count` line per state, in kernel value order.</summary>
internal static class SnapshotSummaryWriter
{
    public static void Write(TextWriter output, SnapshotView view, IReadOnlyList<TcpState> states)
    {
        var counts = view.CountByState();
        foreach (var state in states)
        {
            output.Write(Lifecycle.NameOf(state));
            output.Write(' ');
            output.Write(counts[(int)state].ToString(CultureInfo.InvariantCulture));
            output.Write('\n');
        }
    }
}
