using System.Globalization;
using System.Text;
using SockWatch.Collectors;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>
/// `--format table`, for a person: each socket with its owner and its place in the lifecycle,
/// aligned, ordered along the lifecycle (listeners first, then handshakes, established, active
/// and passive closes), then a summary by state, by phase and of what has no owner.
/// </summary>
internal static class SnapshotTableWriter
{
    private static readonly string[] Headers = ["STATE", "PHASE", "LOCAL", "REMOTE", "RECV-Q", "SEND-Q", "TIMER", "PID", "PROCESS", "UNIT", "INODE", "LIFECYCLE"];

    public static void Write(TextWriter output, SnapshotView view)
    {
        var records = view.Records.Span;
        var order = new int[records.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var copy = view.Records;
        var names = view.Netns;
        Array.Sort(order, (a, b) =>
        {
            var byNamespace = string.CompareOrdinal(names[a], names[b]); // one namespace after another
            return byNamespace != 0 ? byNamespace : Compare(in copy.Span[a], in copy.Span[b]);
        });

        var inv = CultureInfo.InvariantCulture;
        var rows = new string[records.Length][];
        var manyNamespaces = view.Namespaces > 1;
        string[] headers = manyNamespaces ? ["NETNS", .. Headers] : Headers;
        var widths = headers.Select(h => h.Length).ToArray();
        for (var i = 0; i < order.Length; i++)
        {
            var index = order[i];
            ref readonly var r = ref records[index];
            var entry = Lifecycle.Of(r.State);
            var timer = r.Timer == SocketTimer.Off ? "-" : $"{Formatting.Timer(r.Timer)} {Formatting.Duration(r.TimerExpiresMs)}";
            var owner = view.Owners?[index];
            var process = owner is null ? "-" : view.Via![index] == OwnerVia.Listener ? owner.Process + " (listener)" : owner.Process;
            string[] cells =
            [
                entry.Name,
                Lifecycle.PhaseName(entry.Phase),
                Formatting.Endpoint(r.Family, r.LocalAddress, r.LocalPort),
                Formatting.Endpoint(r.Family, r.RemoteAddress, r.RemotePort),
                r.RxQueue.ToString(inv),
                r.TxQueue.ToString(inv),
                timer,
                owner?.Pid.ToString(inv) ?? "-",
                process,
                owner?.Unit ?? "-",
                r.Inode.ToString(inv),
                $"{entry.Step}; waits for {entry.WaitsFor}",
            ];
            var row = manyNamespaces ? [view.Netns[index], .. cells] : cells;
            for (var c = 0; c < row.Length - 1; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }

            rows[i] = row;
        }

        var line = new StringBuilder(256);
        WriteRow(output, line, headers, widths);
        foreach (var row in rows)
        {
            WriteRow(output, line, row, widths);
        }

        output.Write('\n');
        WriteSummary(output, view);
    }

    internal static void WriteSummary(TextWriter output, SnapshotView view)
    {
        var inv = CultureInfo.InvariantCulture;
        var counts = view.CountByState();
        var byState = Lifecycle.Entries
            .Where(e => counts[(int)e.State] > 0)
            .Select(e => string.Create(inv, $"{e.Name} {counts[(int)e.State]}"));
        var phases = Enum.GetValues<LifecyclePhase>()
            .Select(p => string.Create(inv, $"{Lifecycle.PhaseName(p)} {Lifecycle.Entries.Where(e => e.Phase == p).Sum(e => counts[(int)e.State])}"));

        output.Write(string.Create(inv, $"{view.Count} sockets{(view.Namespaces > 1 ? $" in {view.Namespaces} network namespaces" : "")}, read through {view.Stats.Collector}"));
        output.Write(view.Count > 0 ? ": " + string.Join(", ", byState) : string.Empty);
        output.Write('\n');
        output.Write("by phase: " + string.Join(", ", phases) + "\n");
        if (view.HasOwners)
        {
            var viaListener = view.Via!.Count(v => v == OwnerVia.Listener);
            output.Write(string.Create(inv,
                $"owners: {view.Owners!.Count(o => o is not null)} attributed ({viaListener} through their listener); unowned: {view.CountUnowned(UnownedReason.NoInode)} without an inode, {view.CountUnowned(UnownedReason.NotFound)} not found, {view.CountUnowned(UnownedReason.PermissionDenied)} permission denied\n"));
        }

        foreach (var note in Notes(view.Stats))
        {
            output.Write("note: " + note + "\n");
        }
    }

    internal static IEnumerable<string> Notes(CollectionStats stats)
    {
        var inv = CultureInfo.InvariantCulture;
        if (stats.Malformed > 0)
        {
            yield return string.Create(inv, $"{stats.Malformed} malformed records from the kernel were counted and skipped");
        }

        if (stats.Duplicates > 0)
        {
            yield return string.Create(inv, $"{stats.Duplicates} sockets reported twice during the dump were counted once");
        }

        foreach (var family in stats.MissingFamilies)
        {
            yield return $"no {Formatting.Family(family)} table on this host";
        }

        foreach (var error in stats.FamilyErrors)
        {
            yield return error;
        }

        if (stats.Interrupted)
        {
            yield return "the kernel marked the dump as interrupted; counts may be off by the sockets that moved during it";
        }
    }

    private static void WriteRow(TextWriter output, StringBuilder line, string[] row, int[] widths)
    {
        line.Clear();
        for (var c = 0; c < row.Length; c++)
        {
            line.Append(row[c]);
            if (c < row.Length - 1)
            {
                line.Append(' ', widths[c] - row[c].Length + 2);
            }
        }

        line.Append('\n');
        output.Write(line);
    }

    private static int Compare(in SocketRecord a, in SocketRecord b)
    {
        var pa = Lifecycle.Of(a.State).Phase;
        var pb = Lifecycle.Of(b.State).Phase;
        if (pa != pb)
        {
            return pa.CompareTo(pb);
        }

        if (a.State != b.State)
        {
            return a.State.CompareTo(b.State);
        }

        if (a.Family != b.Family)
        {
            return a.Family.CompareTo(b.Family);
        }

        var c = a.LocalPort.CompareTo(b.LocalPort);
        return c != 0 ? c : a.RemotePort.CompareTo(b.RemotePort);
    }
}
