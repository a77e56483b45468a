using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// The bodies of <c>/api/v1/poll</c> and <c>/api/v1/history</c> (docs/web.md). Written with
/// <see cref="Utf8JsonWriter"/> and the default encoder, which escapes &lt;, &gt;, &amp;, quotes
/// and everything outside ASCII, so a process name can never close a script or an attribute
/// wherever the JSON ends up. No reflection: the AOT binary has no serializer metadata to keep.
/// </summary>
internal static class DiagramJson
{
    /// <summary>Top owners shown for close_wait and time_wait.</summary>
    public const int TopOwners = 5;

    /// <summary>Owners listed in <c>owners</c>, most sockets first.</summary>
    public const int MaxOwnersListed = 100;

    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.Default };

    public static void WritePoll(Stream into, DiagramPoll? poll, Selection selection, TimeSpan pollInterval)
    {
        using var w = new Utf8JsonWriter(into, Options);
        w.WriteStartObject();
        w.WriteNumber("poll_interval_seconds", pollInterval.TotalSeconds);
        WriteSelection(w, selection);
        if (poll is null)
        {
            w.WriteNull("at");
            w.WriteStartObject("states");
            foreach (var e in Lifecycle.Entries)
            {
                w.WriteNumber(e.Name, 0);
            }

            w.WriteEndObject();
            w.WriteEndObject();
            return;
        }

        w.WriteString("at", poll.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        w.WriteNumber("poll_duration_seconds", Math.Round(poll.Duration.TotalSeconds, 6));
        w.WriteString("collector", poll.Collector);
        w.WriteNumber("sockets", poll.Sockets);

        var states = poll.StatesFor(selection);
        w.WriteStartObject("states");
        foreach (var e in Lifecycle.Entries)
        {
            w.WriteNumber(e.Name, states[(int)e.State]);
        }

        w.WriteEndObject();

        w.WriteStartArray("namespaces");
        foreach (var ns in poll.Namespaces)
        {
            w.WriteStartObject();
            w.WriteString("name", ns.Netns);
            w.WriteNumber("sockets", ns.ByState.Sum());
            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("owner_names");
        foreach (var name in poll.OwnerNames())
        {
            w.WriteStringValue(name);
        }

        w.WriteEndArray();

        w.WriteStartArray("owners");
        foreach (var o in poll.OwnersFor(selection).Take(MaxOwnersListed))
        {
            WriteOwner(w, o, null);
        }

        w.WriteEndArray();

        w.WriteStartObject("top_owners");
        foreach (var state in new[] { TcpState.CloseWait, TcpState.TimeWait })
        {
            w.WriteStartArray(Lifecycle.NameOf(state));
            foreach (var o in poll.TopOwners(state, selection, TopOwners))
            {
                WriteOwner(w, o, state);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();

        w.WriteStartArray("findings");
        foreach (var f in poll.FindingsFor(selection))
        {
            w.WriteStartObject();
            w.WriteString("kind", FindingKinds.NameOf(f.Kind));
            w.WriteString("severity", FindingKinds.NameOf(f.Severity));
            w.WriteString("state", Lifecycle.NameOf(f.State));
            w.WriteString("netns", f.Netns);
            w.WriteString("process", f.Process);
            w.WriteString("unit", f.Unit);
            if (f.Pid is { } pid)
            {
                w.WriteNumber("pid", pid);
            }
            else
            {
                w.WriteNull("pid");
            }

            w.WriteString("subject", f.Subject);
            w.WriteNumber("count", f.Count);
            w.WriteString("text", f.Text);
            w.WriteString("runbook", Runbook.LinkOf(f.Kind));
            w.WriteEndObject();
        }

        w.WriteEndArray();

        var t = poll.Transitions;
        w.WriteStartObject("transitions");
        w.WriteString("source", t.Source);
        w.WriteNumber("interval_seconds", Math.Round(t.IntervalSeconds, 3));
        w.WriteStartArray("edges");
        foreach (var (from, to, count) in poll.TransitionsFor(selection))
        {
            w.WriteStartObject();
            w.WriteString("from", Lifecycle.NameOf(from));
            w.WriteString("to", Lifecycle.NameOf(to));
            w.WriteNumber("count", count);
            w.WriteNumber("per_second", t.IntervalSeconds > 0 ? Math.Round(count / t.IntervalSeconds, 4) : 0);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static void WriteHistory(Stream into, IReadOnlyList<HistoryPoint> points, Selection selection)
    {
        using var w = new Utf8JsonWriter(into, Options);
        w.WriteStartObject();
        w.WriteNumber("window_seconds", PollHistory.Window.TotalSeconds);
        w.WriteNumber("max_points", PollHistory.MaxPoints);
        WriteSelection(w, selection);
        w.WriteStartArray("states");
        foreach (var e in Lifecycle.Entries)
        {
            w.WriteStringValue(e.Name);
        }

        w.WriteEndArray();
        w.WriteStartArray("points");
        foreach (var p in points)
        {
            var counts = DiagramPoll.CountStates(p.Namespaces, p.Owners, selection);
            w.WriteStartObject();
            w.WriteString("at", p.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            w.WriteStartArray("counts");
            foreach (var e in Lifecycle.Entries)
            {
                w.WriteNumberValue(counts[(int)e.State]);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteSelection(Utf8JsonWriter w, Selection selection)
    {
        w.WriteStartObject("selection");
        w.WriteString("netns", selection.Netns);
        w.WriteString("owner", selection.Owner);
        w.WriteEndObject();
    }

    private static void WriteOwner(Utf8JsonWriter w, OwnerCount o, TcpState? state)
    {
        w.WriteStartObject();
        w.WriteString("netns", o.Netns);
        w.WriteString("unit", o.Unit);
        w.WriteString("process", o.Process);
        w.WriteNumber("sockets", state is { } s ? o.ByState[(int)s] : o.ByState.Sum());
        w.WriteEndObject();
    }
}
