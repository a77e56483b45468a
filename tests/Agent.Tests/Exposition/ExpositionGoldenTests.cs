using System.Text;
using SockWatch.Agent.Metrics;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Exposition;

/// <summary>
/// The golden set rendered in both formats, byte for byte against checked-in files.
/// SOCKWATCH_UPDATE_GOLDEN=1 rewrites the files instead (review the diff before committing).
/// promtool 2.42 parses only 0.0.4 (on the OpenMetrics file it stops at HELP's <c>\"</c>), so only
/// that file is linted here; the OpenMetrics file was checked by a real Prometheus 2.42 scraping it
/// with the OpenMetrics Content-Type: target up, the same 25 series as the 0.0.4 file, unit and
/// info metadata read.
/// </summary>
public sealed class ExpositionGoldenTests
{
    private static readonly string Golden004 = Repo.Fixture("exposition", "golden-004.txt");
    private static readonly string GoldenOpenMetrics = Repo.Fixture("exposition", "golden-openmetrics.txt");

    [Fact]
    public void Text_004_matches_the_golden_file() => Compare(ExpositionFormat.PrometheusText004, Golden004);

    [Fact]
    public void OpenMetrics_matches_the_golden_file() => Compare(ExpositionFormat.OpenMetrics100, GoldenOpenMetrics);

    [PromtoolFact]
    public void Promtool_finds_no_problem_in_the_004_golden_file() => Promtool.AssertLintClean(File.ReadAllBytes(Golden004));

    private static void Compare(ExpositionFormat format, string path)
    {
        using var stream = new MemoryStream();
        PrometheusTextSerializer.Write(stream, Exposition.GoldenSet(), format);
        var actual = stream.ToArray();
        if (Environment.GetEnvironmentVariable("SOCKWATCH_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllBytes(path, actual);
        }

        var expected = File.ReadAllBytes(path);
        if (!expected.AsSpan().SequenceEqual(actual))
        {
            // Strings give a readable diff; the byte check above is what decides.
            Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(actual));
            Assert.Fail($"{path} differs from the output in bytes that decode alike.");
        }
    }
}
