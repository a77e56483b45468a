using System.Text.RegularExpressions;
using SockWatch.Core;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Architecture;

/// <summary>
/// Every document the code and the documents cite is in the repository: each Markdown file, each
/// path under bench/results and deploy, and each section cited by its document, a comma and its
/// heading in double quotes.
/// Read from the sources and documents as text, comments and strings alike. A design document
/// and a reference that lived outside the repository were once cited this way; a newcomer could
/// open neither.
/// </summary>
public sealed partial class CitationTests
{
    /// <summary>
    /// Documents of other repositories cited by their own path, each with the repository's name,
    /// which must stand within a line of the mention so that a reader knows where to look.
    /// </summary>
    private static readonly Dictionary<string, string> Upstream = new(StringComparer.Ordinal)
    {
        ["docs/web-configuration.md"] = "exporter-toolkit",
    };

    private static readonly Lazy<IReadOnlyList<string>> Files = new(ListFiles);

    [Fact]
    public void Every_cited_document_and_path_is_in_the_repository()
    {
        var missing = new List<string>();
        foreach (var (file, lines) in Citing())
        {
            for (var i = 0; i < lines.Length; i++)
            {
                foreach (var path in CitedPaths(lines[i]))
                {
                    if (!Resolves(file, path) && !IsNamedUpstream(path, lines, i))
                    {
                        missing.Add($"{Relative(file)}:{i + 1}: {path}");
                    }
                }
            }
        }

        Assert.True(missing.Count == 0, "cited, not in the repository:" + Environment.NewLine + string.Join(Environment.NewLine, missing));
    }

    [Fact]
    public void Every_cited_section_is_a_heading_of_its_document()
    {
        var missing = new List<string>();
        var cited = 0;
        foreach (var (file, lines) in Citing())
        {
            for (var i = 0; i < lines.Length; i++)
            {
                foreach (Match m in SectionCitation().Matches(lines[i]))
                {
                    cited++;
                    var document = Path.Combine(Repo.Root, m.Groups["doc"].Value);
                    var heading = m.Groups["heading"].Value;
                    if (!File.Exists(document) || !Headings(document).Contains(heading))
                    {
                        missing.Add($"{Relative(file)}:{i + 1}: {m.Groups["doc"].Value}, \"{heading}\"");
                    }
                }
            }
        }

        Assert.True(cited >= 10, $"only {cited} section citations found: the pattern no longer matches how the code cites");
        Assert.True(missing.Count == 0, "cited sections that are not headings:" + Environment.NewLine + string.Join(Environment.NewLine, missing));
    }

    [Fact]
    public void No_source_cites_a_section_sign_without_its_document()
    {
        var bare = new List<string>();
        foreach (var file in Sources())
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i];
                // The section sign is written as an escape so that this file does not cite one itself.
                if (line.Contains("reference \u00a7", StringComparison.OrdinalIgnoreCase)
                    || (line.Contains('\u00a7', StringComparison.Ordinal) && !CitedPaths(line).Any(p => p.EndsWith(".md", StringComparison.Ordinal) && Resolves(file, p))))
                {
                    bare.Add($"{Relative(file)}:{i + 1}: {line.Trim()}");
                }
            }
        }

        Assert.True(bare.Count == 0, "section signs without a document of the repository:" + Environment.NewLine + string.Join(Environment.NewLine, bare));
    }

    [Fact]
    public void The_scan_sees_the_citations_it_is_meant_to()
    {
        // A pattern that matched nothing would pass every test above.
        var serializer = Path.Combine(Repo.Root, "src", "Agent", "Metrics", "PrometheusTextSerializer.cs");
        Assert.Contains(serializer, Sources());
        Assert.Contains("docs/exposition.md", File.ReadLines(serializer).SelectMany(CitedPaths));
        Assert.Contains("bench/results/2026-12-07-memory-aot.md", File.ReadLines(Path.Combine(Repo.Root, "README.md")).SelectMany(CitedPaths));
        Assert.DoesNotContain(Sources(), f => f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
    }

    [Fact]
    public void The_design_documents_lifecycle_table_is_the_readmes_and_the_readmes_is_the_code()
    {
        var readme = LifecycleRows(Path.Combine(Repo.Root, "README.md"));
        Assert.Equal(readme, LifecycleRows(Path.Combine(Repo.Root, "docs", "design.md")));

        Assert.Equal(Lifecycle.Entries.Count, readme.Count);
        foreach (var row in readme)
        {
            var cells = row.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            var entry = Lifecycle.Of((TcpState)int.Parse(cells[0], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(entry.Name, cells[1]);
            Assert.Equal(Lifecycle.PhaseName(entry.Phase), cells[2]);
        }
    }

    /// <summary>The files whose citations are checked, with their lines.</summary>
    private static IEnumerable<(string File, string[] Lines)> Citing() =>
        Sources().Concat(Documents()).Select(f => (f, File.ReadAllLines(f)));

    /// <summary>Every C# file of src, tests and bench, build output left out.</summary>
    private static IEnumerable<string> Sources() => Files.Value.Where(f => f.EndsWith(".cs", StringComparison.Ordinal));

    /// <summary>
    /// The README, RELIABILITY.md and every document of docs. Not bench/README.md: it names its
    /// reports by pattern (a date, then the population) and by shortened suffix, which are not paths.
    /// </summary>
    private static IEnumerable<string> Documents() =>
        new[] { "README.md", "RELIABILITY.md" }
            .Select(f => Path.Combine(Repo.Root, f))
            .Concat(Directory.EnumerateFiles(Path.Combine(Repo.Root, "docs"), "*.md"))
            .Order(StringComparer.Ordinal);

    private static List<string> ListFiles()
    {
        var files = new List<string>();
        foreach (var root in new[] { "src", "tests", "bench" })
        {
            files.AddRange(Directory.EnumerateFiles(Path.Combine(Repo.Root, root), "*.cs", SearchOption.AllDirectories)
                .Where(f => !Relative(f).Split('/').Any(part => part is "bin" or "obj")));
        }

        files.Sort(StringComparer.Ordinal);
        return files;
    }

    /// <summary>Markdown files, bench/results paths and deploy paths named on one line (link targets included), anchors dropped.</summary>
    private static IEnumerable<string> CitedPaths(string line)
    {
        foreach (Match m in CitedPath().Matches(line))
        {
            var path = m.Value.TrimEnd('.');
            if (path.Length > 0 && !path.Contains("://", StringComparison.Ordinal))
            {
                yield return path;
            }
        }
    }

    /// <summary>A path resolves from the repository's root or from the citing file's folder, or, bare, names a file somewhere in the repository.</summary>
    private static bool Resolves(string citingFile, string path)
    {
        if (Exists(Path.Combine(Repo.Root, path)) || Exists(Path.Combine(Path.GetDirectoryName(citingFile)!, path)))
        {
            return true;
        }

        return !path.Contains('/', StringComparison.Ordinal) && RepositoryFileNames.Value.Contains(path);
    }

    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    private static readonly Lazy<HashSet<string>> RepositoryFileNames = new(() =>
        Directory.EnumerateFiles(Repo.Root, "*.md", SearchOption.AllDirectories)
            .Where(f => !Relative(f).Split('/').Any(part => part is "bin" or "obj" or ".git"))
            .Select(Path.GetFileName)
            .ToHashSet(StringComparer.Ordinal)!);

    private static bool IsNamedUpstream(string path, string[] lines, int at) =>
        Upstream.TryGetValue(path, out var repository)
        && lines.Skip(Math.Max(0, at - 1)).Take(at == 0 ? 2 : 3).Any(l => l.Contains(repository, StringComparison.Ordinal));

    /// <summary>A document's headings, without their #s and backquotes.</summary>
    private static HashSet<string> Headings(string document) =>
        File.ReadLines(document)
            .Where(l => l.StartsWith('#'))
            .Select(l => l.TrimStart('#').Trim().Replace("`", "", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>The table rows of a document's "The lifecycle" section.</summary>
    private static List<string> LifecycleRows(string document)
    {
        var rows = File.ReadLines(document)
            .SkipWhile(l => l != "## The lifecycle")
            .Skip(1)
            .TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal))
            .Where(l => l.StartsWith('|') && char.IsAsciiDigit(l.TrimStart('|').TrimStart()[0]))
            .ToList();
        Assert.True(rows.Count > 0, $"{Relative(document)}: no lifecycle table under \"## The lifecycle\"");
        return rows;
    }

    private static string Relative(string path) => Path.GetRelativePath(Repo.Root, path).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>
    /// A Markdown file (bare, or with its folders, or relative with ../), or any path under
    /// bench/results or deploy, starting at a word boundary.
    /// </summary>
    [GeneratedRegex(@"(?<![\w/.-])(?:(?:\.\./)*[\w.-]+(?:/[\w.-]+)*\.md\b|bench/results/[\w./-]*|deploy/[\w./-]+)")]
    private static partial Regex CitedPath();

    /// <summary>A section of a document of the repository: the document, a comma, the heading in double quotes.</summary>
    [GeneratedRegex(@"(?<![\w/.-])(?<doc>(?:docs/[\w.-]+|README|RELIABILITY|bench/README)\.md), ""(?<heading>[^""]+)""")]
    private static partial Regex SectionCitation();
}
