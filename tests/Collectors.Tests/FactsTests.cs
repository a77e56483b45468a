using SockWatch.Collectors.Facts;
using SockWatch.Core.Detection;

namespace SockWatch.Collectors.Tests;

public class FactsTests
{
    [Theory]
    [InlineData("32768\t60999\n", 32768, 60999)]
    [InlineData("1024 65535", 1024, 65535)]
    public void Port_ranges_parse(string text, int low, int high) =>
        Assert.Equal(new PortRange(low, high), NamespaceFactsReader.ParsePortRange(text));

    [Theory]
    [InlineData("60999 32768")]
    [InlineData("abc def")]
    [InlineData("1")]
    [InlineData(null)]
    public void Bad_port_ranges_are_null(string? text) => Assert.Null(NamespaceFactsReader.ParsePortRange(text));

    [Fact]
    public void Reserved_ports_parse_and_come_off_the_usable_range()
    {
        var reserved = NamespaceFactsReader.ParseReservedPorts("40000,40100-40199,junk,9-1\n");
        Assert.Equal([new PortRange(40000, 40000), new PortRange(40100, 40199)], reserved);
        Assert.Empty(NamespaceFactsReader.ParseReservedPorts("\n"));

        var facts = new NamespaceFacts { EphemeralPorts = new PortRange(40000, 40999), ReservedPorts = [.. reserved, new PortRange(1, 100)] };
        Assert.Equal(1000 - 1 - 100, facts.UsableEphemeralPorts);
        Assert.Null(new NamespaceFacts().UsableEphemeralPorts);
    }

    [Fact]
    public void Netstat_counters_are_matched_to_names_by_position()
    {
        var text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeWaitOverflow\nTcpExt: 1 22 23 -0\n" +
                   "IpExt: InNoRoutes ListenDrops\nIpExt: 5 999\n";
        var counters = NamespaceFactsReader.ParseNetstat(text, "TcpExt:");
        Assert.Equal(22, counters["ListenOverflows"]);
        Assert.Equal(23, counters["ListenDrops"]); // not IpExt's
        Assert.Equal(0, counters["TCPTimeWaitOverflow"]);
        Assert.Equal(4, counters.Count);
        Assert.Empty(NamespaceFactsReader.ParseNetstat(null, "TcpExt:"));
    }

    [Fact]
    public void The_live_namespace_has_facts()
    {
        var facts = new NamespaceFactsReader().Read();
        Assert.NotNull(facts.EphemeralPorts);
        Assert.NotNull(facts.MaxTimeWaitBuckets);
        Assert.NotNull(facts.FinTimeoutSeconds);
        Assert.True(facts.Counters.ContainsKey("ListenOverflows"));
    }

    [Fact]
    public void The_live_facts_are_what_the_files_say()
    {
        var facts = new NamespaceFactsReader().Read();
        var ipv4 = "/proc/sys/net/ipv4/";
        Assert.Equal(NamespaceFactsReader.ParsePortRange(File.ReadAllText(ipv4 + "ip_local_port_range")), facts.EphemeralPorts);
        Assert.Equal(long.Parse(File.ReadAllText(ipv4 + "tcp_max_tw_buckets").Trim(), System.Globalization.CultureInfo.InvariantCulture), facts.MaxTimeWaitBuckets);
        Assert.Equal(int.Parse(File.ReadAllText(ipv4 + "tcp_fin_timeout").Trim(), System.Globalization.CultureInfo.InvariantCulture), facts.FinTimeoutSeconds);
        Assert.Equal(
            NamespaceFactsReader.ParseNetstat(File.ReadAllText("/proc/net/netstat"), "TcpExt:").Keys.Order(StringComparer.Ordinal),
            facts.Counters.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_netstat_longer_than_the_first_buffer_is_read_whole()
    {
        var root = Directory.CreateTempSubdirectory("sockwatch-facts-");
        try
        {
            var names = Enumerable.Range(0, 3000).Select(i => "Counter" + i).ToList();
            var text = "TcpExt: " + string.Join(' ', names) + "\nTcpExt: " + string.Join(' ', names.Select((_, i) => i)) + "\n";
            Assert.True(text.Length > 40_000);
            Directory.CreateDirectory(Path.Combine(root.FullName, "net"));
            File.WriteAllText(Path.Combine(root.FullName, "net", "netstat"), text);

            var counters = new NamespaceFactsReader(root.FullName).Read().Counters;

            Assert.Equal(3000, counters.Count);
            Assert.Equal(2999, counters["Counter2999"]);
            Assert.Null(new NamespaceFactsReader(root.FullName).Read().EphemeralPorts); // no sysctl files: null, not a failure
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n", 1024L)]
    [InlineData("Max open files            unlimited            unlimited            files\n", null)]
    [InlineData("Max processes 10 10 processes\n", null)]
    public void The_soft_descriptor_limit_is_read(string text, long? expected) =>
        Assert.Equal(expected, DescriptorUsageReader.ParseOpenFilesLimit(text));

    [Fact]
    public void This_process_has_descriptors_and_a_limit()
    {
        var usage = new DescriptorUsageReader().Read(Environment.ProcessId);
        Assert.NotNull(usage);
        Assert.True(usage.Value.Open > 2);
        Assert.True(usage.Value.Limit > 0);
        Assert.Null(new DescriptorUsageReader().Read(int.MaxValue));
    }

    [SockWatch.Tests.LiveFact]
    public void On_procfs_the_descriptor_count_is_the_fd_directory_size_and_agrees_with_a_listing()
    {
        Assert.True(DescriptorUsageReader.IsProcFs("/proc"));
        Assert.False(DescriptorUsageReader.IsProcFs(SockWatch.Tests.Repo.Fixture("proc-owners")));
        var before = Directory.GetFileSystemEntries($"/proc/{Environment.ProcessId}/fd").Length;
        var counted = new DescriptorUsageReader().Read(Environment.ProcessId)!.Value.Open;
        var after = Directory.GetFileSystemEntries($"/proc/{Environment.ProcessId}/fd").Length;
        Assert.InRange(counted, Math.Min(before, after) - 4, Math.Max(before, after) + 4); // other test threads open and close files
    }

    [Fact]
    public void In_a_fixture_tree_the_descriptors_are_counted_by_listing()
    {
        var usage = new DescriptorUsageReader(SockWatch.Tests.Repo.Fixture("proc-metrics")).Read(100);
        Assert.Equal(new DescriptorUsage(8, 1024), usage);
    }
}
