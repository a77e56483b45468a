using System.Reflection;

namespace SockWatch.Agent.Diagram;

/// <summary>The page's script and style sheet, embedded in the binary and read once: no request for them leaves the host.</summary>
internal static class PageAssets
{
    private static readonly Dictionary<string, (byte[] Body, string Type)> Assets = new(StringComparer.Ordinal)
    {
        ["sockwatch.js"] = (Load("sockwatch.js"), "text/javascript; charset=utf-8"),
        ["sockwatch.css"] = (Load("sockwatch.css"), "text/css; charset=utf-8"),
    };

    /// <summary>The names served under /static/.</summary>
    public static IEnumerable<string> Names => Assets.Keys;

    public static bool TryGet(string name, out byte[] body, out string type)
    {
        if (Assets.TryGetValue(name, out var asset))
        {
            (body, type) = asset;
            return true;
        }

        (body, type) = ([], "");
        return false;
    }

    private static byte[] Load(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException(name + " is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
