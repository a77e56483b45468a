using SockWatch.Agent.Metrics;

namespace SockWatch.Agent.Tests.Metrics;

/// <summary>Label values come from what processes and the kernel chose: they are made valid UTF-8, printable and short.</summary>
public sealed class LabelValueTests
{
    [Theory]
    [InlineData("nginx: worker", "nginx: worker")]
    [InlineData("caf\u00e9-\u4e2d\u6587", "caf\u00e9-\u4e2d\u6587")]
    [InlineData("tab\there", "tab\uFFFDhere")]
    [InlineData("nul\0x", "nul\uFFFDx")]
    public void Values_are_valid_and_printable(string raw, string expected) => Assert.Equal(expected, PollMetrics.Label(raw));

    [Fact]
    public void Lone_surrogates_become_replacement_characters()
    {
        // Built at run time: an attribute's strings are stored as UTF-8, which cannot hold them.
        Assert.Equal("lone\uFFFDsurrogate", PollMetrics.Label("lone" + (char)0xD800 + "surrogate"));
        Assert.Equal("\uFFFD", PollMetrics.Label(((char)0xDC00).ToString()));
    }

    [Fact]
    public void Long_values_are_cut_at_a_character_boundary()
    {
        var emoji = string.Concat(Enumerable.Repeat("\U0001F600", 100)); // 200 UTF-16 units, 100 characters
        var cut = PollMetrics.Label(emoji);
        Assert.True(cut.Length <= PollMetrics.MaxLabelLength, $"{cut.Length} units");
        Assert.EndsWith("…", cut, StringComparison.Ordinal);
        Assert.False(char.IsHighSurrogate(cut[^2]), "a surrogate pair was split");
        Assert.Equal(PollMetrics.MaxLabelLength, PollMetrics.Label(new string('a', 500)).Length);
        Assert.Same("short", PollMetrics.Label("short"));
    }
}
