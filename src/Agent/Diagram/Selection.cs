using Microsoft.AspNetCore.Http;

namespace SockWatch.Agent.Diagram;

/// <summary>
/// What a request asks to see: one network namespace (or all) and one owner (or all). Empty
/// strings mean all. A name that matches nothing is not an error: it selects nothing.
/// </summary>
internal readonly record struct Selection(string Netns, string Owner)
{
    /// <summary>A whole query string longer than this is refused: the two parameters need far less.</summary>
    public const int MaxQueryLength = 1024;

    /// <summary>A value longer than this is refused: a namespace name or a unit name is never near it.</summary>
    public const int MaxValueLength = 256;

    public static Selection All { get; } = new("", "");

    public bool IsAll => Netns.Length == 0 && Owner.Length == 0;

    /// <summary>Whether an owner (unit and process labels) is the one selected: by process name or unit, with or without ".service".</summary>
    public bool MatchesOwner(string unit, string process) =>
        Owner.Length == 0
        || string.Equals(process, Owner, StringComparison.Ordinal)
        || string.Equals(unit, Owner, StringComparison.Ordinal)
        || (unit.EndsWith(".service", StringComparison.Ordinal) && unit.Length == Owner.Length + 8 && unit.StartsWith(Owner, StringComparison.Ordinal));

    public bool MatchesNetns(string netns) => Netns.Length == 0 || string.Equals(netns, Netns, StringComparison.Ordinal);

    /// <summary>
    /// Reads <c>?netns=</c> and <c>?owner=</c>. Refused (the reason in <paramref name="error"/>):
    /// a query string over <see cref="MaxQueryLength"/>, any other parameter, a parameter given
    /// twice, a value over <see cref="MaxValueLength"/> or holding a control character or an
    /// invalid escape. Those are not names a page of ours would send.
    /// </summary>
    public static bool TryParse(HttpRequest request, out Selection selection, out string error)
    {
        ArgumentNullException.ThrowIfNull(request);
        selection = All;
        var raw = request.QueryString.Value ?? "";
        if (raw.Length > MaxQueryLength)
        {
            error = $"the query string is longer than {MaxQueryLength} characters";
            return false;
        }

        string netns = "", owner = "";
        foreach (var (key, values) in request.Query)
        {
            if (key is not ("netns" or "owner"))
            {
                error = "unknown parameter (only netns and owner are taken)";
                return false;
            }

            if (values.Count != 1)
            {
                error = $"{key} is given more than once";
                return false;
            }

            var value = values[0] ?? "";
            if (value.Length > MaxValueLength)
            {
                error = $"{key} is longer than {MaxValueLength} characters";
                return false;
            }

            foreach (var c in value)
            {
                // An invalid UTF-8 escape decodes to U+FFFD, which is accepted: a process name
                // read from /proc holds it where its bytes were not UTF-8, and the page sends it back.
                if (char.IsControl(c) || char.IsSurrogate(c))
                {
                    error = $"{key} holds a control character or an invalid character";
                    return false;
                }
            }

            if (key == "netns")
            {
                netns = value;
            }
            else
            {
                owner = value;
            }
        }

        selection = new Selection(netns, owner);
        error = "";
        return true;
    }
}
