namespace SockWatch.Tests;

/// <summary>Paths in the repository, found from the test binary's location.</summary>
internal static class Repo
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SockWatch.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("SockWatch.sln not found above " + AppContext.BaseDirectory);
    });

    public static string Root => RootPath.Value;

    public static string Fixture(params string[] parts) => Path.Combine([Root, "tests", "fixtures", .. parts]);
}
