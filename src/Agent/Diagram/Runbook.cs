using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using SockWatch.Core.Detection;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// docs/runbook.md, embedded in the binary and served on <c>/runbook</c>, so that a finding on the
/// page links to its section without a request leaving the host. Each heading gets the anchor a
/// Markdown renderer gives it (lower case, spaces to '-').
/// </summary>
internal static class Runbook
{
    /// <summary>The section of the runbook for a finding kind: the alert that fires for it, or a section of its own where no alert does.</summary>
    public static string AnchorOf(FindingKind kind) => kind switch
    {
        FindingKind.CloseWaitLeak => "sockwatchclosewaitleak",
        FindingKind.EphemeralPortPressure => "sockwatchephemeralportsexhausting",
        FindingKind.TimeWaitBucketPressure => "sockwatchtimewaitbucketsnearlimit",
        FindingKind.TimeWaitOverflow => "sockwatchtimewaitoverflow",
        FindingKind.AcceptQueueFull => "sockwatchacceptqueuesaturated",
        FindingKind.ListenOverflow => "sockwatchlistenoverflows",
        FindingKind.FinWait2Stuck => "fin_wait2_stuck",
        FindingKind.LastAckStuck => "last_ack_stuck",
        FindingKind.SynSentRetrying => "syn_sent_retrying",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The link from the page: the daemon's own copy of the section.</summary>
    public static string LinkOf(FindingKind kind) => "/runbook#" + AnchorOf(kind);

    /// <summary>The Markdown, as embedded.</summary>
    public static string Markdown { get; } = Load();

    /// <summary>The anchor of a heading's text, as a Markdown renderer makes it.</summary>
    public static string Slug(string heading)
    {
        ArgumentNullException.ThrowIfNull(heading);
        var sb = new StringBuilder(heading.Length);
        foreach (var c in heading.Trim())
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            {
                sb.Append(char.ToLowerInvariant(c));
            }
            else if (c == ' ')
            {
                sb.Append('-');
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// The runbook as a plain HTML page: headings with their anchors, code blocks as they are, the
    /// rest as paragraphs of escaped text. Made once; a request sends the same string.
    /// </summary>
    public static string Html { get; } = Render(Markdown);

    internal static string Render(string markdown)
    {
        var html = HtmlEncoder.Default;
        var sb = new StringBuilder(markdown.Length * 2);
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>SockWatch runbook</title>")
          .Append("<style>body{font:15px/1.45 system-ui,sans-serif;max-width:52em;margin:1em auto;padding:0 1em}pre{background:#f3f3f3;padding:.5em;overflow:auto}</style>")
          .Append("</head><body><p><a href=\"/\">back to the diagram</a></p>");
        var inCode = false;
        var paragraph = new StringBuilder();
        void Flush()
        {
            if (paragraph.Length > 0)
            {
                sb.Append("<p>").Append(html.Encode(paragraph.ToString())).Append("</p>\n");
                paragraph.Clear();
            }
        }

        foreach (var line in markdown.Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                Flush();
                sb.Append(inCode ? "</pre>\n" : "<pre>");
                inCode = !inCode;
            }
            else if (inCode)
            {
                sb.Append(html.Encode(line)).Append('\n');
            }
            else if (line.StartsWith('#'))
            {
                Flush();
                var level = Math.Min(line.TakeWhile(c => c == '#').Count(), 6);
                var text = line[level..].Trim();
                sb.Append("<h").Append(level).Append(" id=\"").Append(html.Encode(Slug(text))).Append("\">")
                  .Append(html.Encode(text)).Append("</h").Append(level).Append(">\n");
            }
            else if (line.Trim().Length == 0)
            {
                Flush();
            }
            else
            {
                paragraph.Append(paragraph.Length > 0 ? " " : "").Append(line.Trim());
            }
        }

        Flush();
        if (inCode)
        {
            sb.Append("</pre>");
        }

        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("runbook.md")
            ?? throw new InvalidOperationException("runbook.md is not embedded");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
