using SockWatch.Agent.Metrics;
using static SockWatch.Agent.Tests.Exposition.Exposition;

namespace SockWatch.Agent.Tests.Exposition;

public sealed class ExpositionSerializerTests
{
    [Fact]
    public void Gauge_is_written_with_help_type_and_labels_in_given_order()
    {
        var family = Gauge("sockwatch_tcp_sockets", "Sockets.", Sample(3, ("state", "listen"), ("family", "inet")), Sample(0));

        Assert.Equal(
            "# HELP sockwatch_tcp_sockets Sockets.\n# TYPE sockwatch_tcp_sockets gauge\n" +
            "sockwatch_tcp_sockets{state=\"listen\",family=\"inet\"} 3\nsockwatch_tcp_sockets 0\n",
            Render004(family));
    }

    [Fact]
    public void Help_escaping_004_leaves_quotes_and_openmetrics_escapes_them()
    {
        var family = Gauge("sockwatch_x", "a \\ b \"q\"\nnext", Sample(1));

        Assert.Contains("# HELP sockwatch_x a \\\\ b \"q\"\\nnext\n", Render004(family), StringComparison.Ordinal);
        Assert.Contains("# HELP sockwatch_x a \\\\ b \\\"q\\\"\\nnext\n", RenderOpenMetrics(family), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Label_values_escape_backslash_quote_and_newline_and_keep_unicode(bool openMetrics)
    {
        var family = Gauge("sockwatch_x", "x", Sample(1, ("process", "C:\\a \"b\"\nc\td é ☕ 𝄞")));

        Assert.Contains("sockwatch_x{process=\"C:\\\\a \\\"b\\\"\\nc\td é ☕ 𝄞\"} 1\n", (openMetrics ? RenderOpenMetrics(family) : Render004(family)), StringComparison.Ordinal);
    }

    [Fact]
    public void Lone_surrogates_become_replacement_characters_so_the_output_is_valid_utf8()
    {
        var family = Gauge("sockwatch_x", "help \uD800", Sample(1, ("process", "a\uDC00b\uD83D")));

        // Render decodes with throwOnInvalidBytes: it would throw on invalid UTF-8.
        var text = Render004(family);

        Assert.Contains("{process=\"a\uFFFDb\uFFFD\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("# HELP sockwatch_x help \uFFFD\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Long_label_values_cross_the_buffer_without_splitting_characters()
    {
        var value = string.Concat(Enumerable.Repeat("é☕𝄞\"", 20_000));
        var family = Gauge("sockwatch_x", "x", Sample(1, ("v", value)));

        var text = Render004(family);

        Assert.Contains("{v=\"" + value.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"} 1\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(-42.0, "-42")]
    [InlineData(1000000.0, "1000000")]
    [InlineData(9007199254740993.0, "9007199254740992")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1.5e300, "1.5e+300")]
    [InlineData(0.1, "0.1")]
    [InlineData(0.0042, "0.0042")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(-1.25e-7, "-1.25e-07")]
    [InlineData(1767225600.25, "1767225600.25")]
    [InlineData(double.Epsilon, "5e-324")]
    [InlineData(double.MaxValue, "1.7976931348623157e+308")]
    public void Values_are_spelled_as_the_spec_says(double value, string expected)
    {
        Assert.Equal(expected, ExpositionNumbers.FormatValue(value));
        Assert.Contains("sockwatch_x " + expected + "\n", Render004(Gauge("sockwatch_x", "x", Sample(value))), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, "0.0")]
    [InlineData(1.0, "1.0")]
    [InlineData(10.0, "10.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(0.005, "0.005")]
    [InlineData(2.5, "2.5")]
    [InlineData(100000.0, "100000.0")]
    [InlineData(1000000.0, "1e+06")]
    [InlineData(1234567.0, "1.234567e+06")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(-1.0, "-1.0")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    public void Bucket_bounds_use_the_openmetrics_canonical_form(double bound, string expected) =>
        Assert.Equal(expected, ExpositionNumbers.FormatBound(bound));

    [Fact]
    public void Negative_zero_is_written_as_zero()
    {
        Assert.Equal("0", ExpositionNumbers.FormatValue(-0.0));
        Assert.Equal("0.0", ExpositionNumbers.FormatBound(-0.0));
    }

    [Fact]
    public void Values_ignore_the_current_culture()
    {
        var saved = Thread.CurrentThread.CurrentCulture;
        try
        {
            // The build runs in invariant-globalization mode, so make a culture that writes like de-DE.
            var comma = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.NegativeSign = "\u2212";
            Thread.CurrentThread.CurrentCulture = comma;
            Assert.Equal("1,5", 1.5.ToString(comma));
            Assert.Equal("-1.5e-07", ExpositionNumbers.FormatValue(-1.5e-7));
            Assert.Equal("1.5", ExpositionNumbers.FormatValue(1.5));
            Assert.Equal("2.5", ExpositionNumbers.FormatBound(2.5));
        }
        finally
        {
            Thread.CurrentThread.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Counter_004_names_type_and_help_with_total()
    {
        var family = new MetricFamily("sockwatch_poll_errors", "Errors.", MetricType.Counter, null, [Sample(5, ("collector", "proc"))]);

        Assert.Equal(
            "# HELP sockwatch_poll_errors_total Errors.\n# TYPE sockwatch_poll_errors_total counter\n" +
            "sockwatch_poll_errors_total{collector=\"proc\"} 5\n",
            Render004(family));
    }

    [Fact]
    public void Counter_openmetrics_names_type_and_help_without_total_and_samples_with_it()
    {
        var family = new MetricFamily("sockwatch_poll_errors", "Errors.", MetricType.Counter, null, [Sample(5, ("collector", "proc"))]);

        Assert.Equal(
            "# TYPE sockwatch_poll_errors counter\n# HELP sockwatch_poll_errors Errors.\n" +
            "sockwatch_poll_errors_total{collector=\"proc\"} 5\n# EOF\n",
            RenderOpenMetrics(family));
    }

    [Fact]
    public void Histogram_writes_cumulative_buckets_up_to_inf_then_sum_and_count()
    {
        var family = new MetricFamily("sockwatch_poll_duration_seconds", "Poll time.", MetricType.Histogram, "seconds",
        [
            MetricSample.OfHistogram(new HistogramValue([0.01, 1, double.PositiveInfinity], [2, 5, 6], 3.25, 6), Labels(("collector", "netlink"))),
            MetricSample.OfHistogram(new HistogramValue([0.01, 1, double.PositiveInfinity], [0, 0, 0], 0, 0), Labels(("collector", "proc"))),
        ]);

        const string Series =
            "sockwatch_poll_duration_seconds_bucket{collector=\"netlink\",le=\"0.01\"} 2\n" +
            "sockwatch_poll_duration_seconds_bucket{collector=\"netlink\",le=\"1.0\"} 5\n" +
            "sockwatch_poll_duration_seconds_bucket{collector=\"netlink\",le=\"+Inf\"} 6\n" +
            "sockwatch_poll_duration_seconds_sum{collector=\"netlink\"} 3.25\n" +
            "sockwatch_poll_duration_seconds_count{collector=\"netlink\"} 6\n" +
            "sockwatch_poll_duration_seconds_bucket{collector=\"proc\",le=\"0.01\"} 0\n" +
            "sockwatch_poll_duration_seconds_bucket{collector=\"proc\",le=\"1.0\"} 0\n" +
            "sockwatch_poll_duration_seconds_bucket{collector=\"proc\",le=\"+Inf\"} 0\n" +
            "sockwatch_poll_duration_seconds_sum{collector=\"proc\"} 0\n" +
            "sockwatch_poll_duration_seconds_count{collector=\"proc\"} 0\n";
        Assert.Equal(
            "# HELP sockwatch_poll_duration_seconds Poll time.\n# TYPE sockwatch_poll_duration_seconds histogram\n" + Series,
            Render004(family));
        Assert.Equal(
            "# TYPE sockwatch_poll_duration_seconds histogram\n# UNIT sockwatch_poll_duration_seconds seconds\n" +
            "# HELP sockwatch_poll_duration_seconds Poll time.\n" + Series + "# EOF\n",
            RenderOpenMetrics(family));
    }

    [Fact]
    public void Histogram_without_labels_has_only_le()
    {
        var family = new MetricFamily("sockwatch_h_seconds", "h", MetricType.Histogram, null,
            [MetricSample.OfHistogram(new HistogramValue([double.PositiveInfinity], [1], 0.5, 1))]);

        Assert.Contains("sockwatch_h_seconds_bucket{le=\"+Inf\"} 1\nsockwatch_h_seconds_sum 0.5\nsockwatch_h_seconds_count 1\n", Render004(family), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 1.0, 2.0 }, new long[] { 1, 2 }, 2L)]
    [InlineData(new[] { 2.0, 1.0, double.PositiveInfinity }, new long[] { 1, 2, 2 }, 2L)]
    [InlineData(new[] { 1.0, double.PositiveInfinity }, new long[] { 3, 2 }, 2L)]
    [InlineData(new[] { 1.0, double.PositiveInfinity }, new long[] { 1, 2 }, 3L)]
    [InlineData(new[] { 1.0, double.PositiveInfinity }, new long[] { 1 }, 1L)]
    [InlineData(new[] { double.NaN, double.PositiveInfinity }, new long[] { 1, 1 }, 1L)]
    public void Histogram_values_must_be_cumulative_end_at_inf_and_match_the_count(double[] bounds, long[] counts, long count) =>
        Assert.Throws<ArgumentException>(() => new HistogramValue(bounds, counts, 0, count));

    [Fact]
    public void OpenMetrics_ends_with_eof_and_writes_unit_only_when_set()
    {
        var withUnit = new MetricFamily("sockwatch_age_seconds", "Age.", MetricType.Gauge, "seconds", [Sample(2)]);
        var withoutUnit = Gauge("sockwatch_sockets", "Sockets.", Sample(1));

        var text = RenderOpenMetrics(withUnit, withoutUnit);

        Assert.Equal(
            "# TYPE sockwatch_age_seconds gauge\n# UNIT sockwatch_age_seconds seconds\n# HELP sockwatch_age_seconds Age.\nsockwatch_age_seconds 2\n" +
            "# TYPE sockwatch_sockets gauge\n# HELP sockwatch_sockets Sockets.\nsockwatch_sockets 1\n# EOF\n",
            text);
        Assert.DoesNotContain("UNIT", Render004(withUnit), StringComparison.Ordinal);
        Assert.DoesNotContain("EOF", Render004(withUnit), StringComparison.Ordinal);
        Assert.Equal("# EOF\n", RenderOpenMetrics());
        Assert.Equal("", Render004());
    }

    [Fact]
    public void Info_is_an_info_type_in_openmetrics_and_a_gauge_in_004()
    {
        var family = new MetricFamily("sockwatch_build", "Build.", MetricType.Info, null, [Sample(1, ("version", "0.1.0"))]);

        Assert.Equal("# HELP sockwatch_build_info Build.\n# TYPE sockwatch_build_info gauge\nsockwatch_build_info{version=\"0.1.0\"} 1\n", Render004(family));
        Assert.Equal("# TYPE sockwatch_build info\n# HELP sockwatch_build Build.\nsockwatch_build_info{version=\"0.1.0\"} 1\n# EOF\n", RenderOpenMetrics(family));
    }

    [Fact]
    public void Unknown_is_untyped_in_004_and_unknown_in_openmetrics_and_empty_help_has_no_line()
    {
        var family = new MetricFamily("sockwatch_thing", "", MetricType.Unknown, null, [Sample(1)]);

        Assert.Equal("# TYPE sockwatch_thing untyped\nsockwatch_thing 1\n", Render004(family));
        Assert.Equal("# TYPE sockwatch_thing unknown\nsockwatch_thing 1\n# EOF\n", RenderOpenMetrics(family));
    }

    [Fact]
    public void Output_has_no_bom_and_no_carriage_returns()
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(Render004(Exposition.GoldenSet()));

        Assert.NotEqual(0xEF, bytes[0]);
        Assert.DoesNotContain((byte)'\r', bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1sockwatch")]
    [InlineData("sockwatch-x")]
    [InlineData("sockwatch.x")]
    [InlineData("sockwatch:x")]
    [InlineData("_sockwatch")]
    [InlineData("sockwätch")]
    [InlineData("sockwatch x")]
    [InlineData("sockwatch_x_total")]
    [InlineData("sockwatch_x_count")]
    [InlineData("sockwatch_x_bucket")]
    [InlineData("sockwatch_x_sum")]
    [InlineData("sockwatch_x_created")]
    public void Invalid_metric_names_throw(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => Gauge(name, "x", Sample(1)));
        Assert.Contains("metric name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Counter_given_with_total_and_info_given_with_info_throw()
    {
        var counter = Assert.Throws<ArgumentException>(() => new MetricFamily("sockwatch_errors_total", "x", MetricType.Counter, null, [Sample(1)]));
        Assert.Contains("without _total", counter.Message, StringComparison.Ordinal);
        var info = Assert.Throws<ArgumentException>(() => new MetricFamily("sockwatch_build_info", "x", MetricType.Info, null, [Sample(1)]));
        Assert.Contains("without _info", info.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1a")]
    [InlineData("a-b")]
    [InlineData("a:b")]
    [InlineData("__name__")]
    [InlineData("ünit")]
    public void Invalid_label_names_throw(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => Sample(1, (name, "v")));
        Assert.Contains("label name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_label_names_throw()
    {
        var e = Assert.Throws<ArgumentException>(() => Sample(1, ("state", "listen"), ("unit", "a"), ("state", "close")));
        Assert.Contains("Duplicate label name \"state\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_label_sets_in_a_family_throw_in_any_order()
    {
        var e = Assert.Throws<ArgumentException>(() => Gauge("sockwatch_x", "x", Sample(1, ("a", "1"), ("b", "2")), Sample(2, ("b", "2"), ("a", "1"))));
        Assert.Contains("same labels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Le_label_on_a_histogram_throws()
    {
        var sample = MetricSample.OfHistogram(new HistogramValue([double.PositiveInfinity], [0], 0, 0), Labels(("le", "1")));

        var e = Assert.Throws<ArgumentException>(() => new MetricFamily("sockwatch_h_seconds", "h", MetricType.Histogram, null, [sample]));
        Assert.Contains("le", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sockwatch_age_seconds", "bytes")]
    [InlineData("sockwatch_age_seconds", "")]
    [InlineData("sockwatch_agee_seconds", "e_seconds")]
    [InlineData("sockwatch_age_seconds", "age seconds")]
    public void Unit_must_be_a_suffix_of_the_name(string name, string unit)
    {
        var e = Assert.Throws<ArgumentException>(() => new MetricFamily(name, "x", MetricType.Gauge, unit, [Sample(1)]));
        Assert.Contains("unit", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Counter_values_must_be_neither_negative_nor_nan(double value) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetricFamily("sockwatch_errors", "x", MetricType.Counter, null, [Sample(value)]));

    [Fact]
    public void Sample_kind_must_match_the_family_type()
    {
        var histogramSample = MetricSample.OfHistogram(new HistogramValue([double.PositiveInfinity], [0], 0, 0));

        Assert.Throws<ArgumentException>(() => Gauge("sockwatch_x", "x", histogramSample));
        Assert.Throws<ArgumentException>(() => new MetricFamily("sockwatch_h_seconds", "h", MetricType.Histogram, null, [Sample(1)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetricFamily("sockwatch_build", "x", MetricType.Info, null, [Sample(2)]));
    }

    [Fact]
    public void Families_exposing_the_same_name_throw_when_written()
    {
        var info = new MetricFamily("sockwatch_build", "x", MetricType.Info, null, [Sample(1)]);
        var gauge = Gauge("sockwatch_build_info", "x", Sample(1));

        Assert.Throws<ArgumentException>(() => Render004(Gauge("sockwatch_x", "x"), Gauge("sockwatch_x", "y")));
        Assert.Throws<ArgumentException>(() => Render004(info, gauge));
    }
}
