using SockWatch.Agent.Configuration;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests;

/// <summary>The README's configuration table is the settings table: the same keys in the same order, flags, commands, rules and defaults.</summary>
public class ConfigurationReadmeTests
{
    [Fact]
    public void The_readme_lists_exactly_the_settings_of_the_table()
    {
        var rows = ReadmeRows();
        Assert.Equal(Settings.All.Select(s => s.Key), rows.Select(r => r.Key));
        foreach (var (s, row) in Settings.All.Zip(rows))
        {
            Assert.Equal(s.Flag, row.Flag);
            Assert.Equal(CommandsCell(s.Commands), row.Commands);
            Assert.True(row.Accepts.StartsWith(s.Accepts, StringComparison.Ordinal), $"{s.Key}: README says '{row.Accepts}', the table '{s.Accepts}'");
            Assert.Equal(s.DefaultText(), row.Default);
        }
    }

    private static string CommandsCell(SockWatchCommands commands) => commands switch
    {
        SockWatchCommands.All => "all",
        SockWatchCommands.CheckAndRun => "check, run",
        SockWatchCommands.Run => "run",
        _ => commands.ToString(),
    };

    /// <summary>The rows of the first table under "## Configuration", backticks removed.</summary>
    private static List<(string Key, string Flag, string Commands, string Accepts, string Default)> ReadmeRows()
    {
        var lines = File.ReadAllLines(Path.Combine(Repo.Root, "README.md"));
        var section = lines.SkipWhile(l => l != "## Configuration").Skip(1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal));
        var table = section.SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.Equal("| key | flag | commands | accepts | default |", table[0]);
        return
        [
            .. table.Skip(2).Select(l =>
            {
                var cells = l.Trim('|').Split(" | ").Select(c => c.Replace("`", "", StringComparison.Ordinal).Trim()).ToArray();
                Assert.True(cells.Length == 5, l);
                return (cells[0], cells[1], cells[2], cells[3], cells[4]);
            }),
        ];
    }
}
