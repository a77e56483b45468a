using System.Globalization;
using System.Text;
using System.Text.Json;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Output;

/// <summary>Findings as a table for a person, or as JSON for a script.</summary>
internal static class FindingsWriter
{
    /// <summary>CloseWaitLeak -> close_wait_leak: the names JSON, alerts and dashboards use.</summary>
    public static void WriteJson(Stream output, IReadOnlyList<Finding> findings)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartArray();
        foreach (var f in findings)
        {
            w.WriteStartObject();
            w.WriteString("kind", FindingKinds.NameOf(f.Kind));
            w.WriteString("severity", FindingKinds.NameOf(f.Severity));
            w.WriteString("subject", f.Subject);
            w.WriteString("netns", f.Netns);
            if (f.Owner is { } o)
            {
                w.WriteStartObject("owner");
                w.WriteNumber("pid", o.Pid);
                w.WriteString("process", o.Process);
                w.WriteString("unit", o.Unit);
                w.WriteString("user", o.User);
                w.WriteString("container", o.Container);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("owner");
            }

            w.WriteNumber("count", f.Count);
            if (f.OldestAge is { } age)
            {
                w.WriteNumber("oldest_age_seconds", Math.Round(age.TotalSeconds, 3));
            }
            else
            {
                w.WriteNull("oldest_age_seconds");
            }

            w.WriteString("explanation", f.Explanation);
            w.WriteStartObject("values");
            foreach (var (name, value) in f.Values.OrderBy(v => v.Key, StringComparer.Ordinal))
            {
                w.WriteNumber(name, value);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.Flush();
        output.Write("\n"u8);
    }

    /// <param name="output">Where to write.</param>
    /// <param name="findings">The findings.</param>
    /// <param name="sockets">How many sockets were checked.</param>
    /// <param name="namespaces">How many network namespaces they were in: with more than one, each finding names its own.</param>
    public static void WriteTable(TextWriter output, IReadOnlyList<Finding> findings, int sockets, int namespaces = 1)
    {
        var inv = CultureInfo.InvariantCulture;
        if (findings.Count == 0)
        {
            output.Write(string.Create(inv, $"no findings: {sockets} sockets checked{(namespaces > 1 ? $" in {namespaces} network namespaces" : "")}, nothing stuck\n"));
            return;
        }

        string[] headers = ["SEVERITY", "KIND", "SUBJECT", "OWNER", "COUNT", "OLDEST"];
        var rows = findings.Select(f => new[]
        {
            FindingKinds.NameOf(f.Severity),
            FindingKinds.NameOf(f.Kind),
            namespaces > 1 && f.Netns is not null ? $"{f.Subject} [netns {f.Netns}]" : f.Subject,
            f.Owner is { } o ? $"{o.Process} (pid {o.Pid.ToString(inv)}{(o.Unit is null ? string.Empty : ", " + o.Unit)})" : "-",
            f.Count.ToString(inv),
            f.OldestAge is { } a ? Text.Age(a) : "-",
        }).ToArray();
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        var line = new StringBuilder();
        void Row(string[] cells)
        {
            line.Clear();
            for (var i = 0; i < cells.Length; i++)
            {
                line.Append(cells[i]);
                if (i < cells.Length - 1)
                {
                    line.Append(' ', widths[i] - cells[i].Length + 2);
                }
            }

            output.Write(line.Append('\n'));
        }

        Row(headers);
        for (var i = 0; i < findings.Count; i++)
        {
            Row(rows[i]);
            output.Write("  " + findings[i].Explanation + "\n");
        }

        output.Write(string.Create(inv, $"\n{findings.Count} findings in {sockets} sockets\n"));
    }
}
