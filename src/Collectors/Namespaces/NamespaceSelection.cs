namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// Which network namespaces to watch: <c>self</c> (the one this process is in), <c>all</c>, or
/// a comma-separated list of names and glob patterns (<c>*</c>, <c>?</c>), less those matching
/// an exclude pattern.
/// </summary>
public sealed class NamespaceSelection
{
    private readonly string[] _include;
    private readonly string[] _exclude;

    private NamespaceSelection(bool selfOnly, string[] include, string[] exclude)
    {
        SelfOnly = selfOnly;
        _include = include;
        _exclude = exclude;
    }

    public static NamespaceSelection Self { get; } = new(true, [], []);

    public static NamespaceSelection All { get; } = new(false, ["*"], []);

    /// <summary>Only the namespace this process is in: no discovery, no setns.</summary>
    public bool SelfOnly { get; }

    /// <summary>Parses a selection (<c>self</c>, <c>all</c>, or names and patterns) and exclude patterns; null with a reason when invalid.</summary>
    public static NamespaceSelection? TryParse(string? value, string? exclude, out string reason)
    {
        reason = "";
        var items = Split(value);
        var excluded = Split(exclude);
        if (items.Length == 0)
        {
            reason = "empty; give self, all, or namespace names or patterns (comma-separated)";
            return null;
        }

        if (items.Length == 1 && items[0] == "self")
        {
            if (excluded.Length > 0)
            {
                reason = "self watches one namespace: there is nothing to exclude";
                return null;
            }

            return Self;
        }

        foreach (var item in items.Concat(excluded))
        {
            if (item.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '/'))
            {
                reason = $"'{item}' is not a namespace name or pattern";
                return null;
            }
        }

        return new NamespaceSelection(false, [.. items.Select(i => i == "all" ? "*" : i)], excluded);
    }

    /// <summary>Whether the namespace named <paramref name="name"/> is watched (the namespace this process is in is, under <c>self</c>).</summary>
    public bool Includes(NetworkNamespace ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        if (SelfOnly)
        {
            return ns.IsSelf;
        }

        return _include.Any(p => Glob(p, ns.Name) || (p == "self" && ns.IsSelf)) && !_exclude.Any(p => Glob(p, ns.Name));
    }

    /// <summary>Glob matching: <c>*</c> any run of characters, <c>?</c> one character, the rest literally.</summary>
    public static bool Glob(string pattern, string name)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(name);
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n]))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static string[] Split(string? value) =>
        (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
