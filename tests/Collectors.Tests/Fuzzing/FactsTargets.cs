using System.Text;
using SockWatch.Collectors.Facts;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>NamespaceFactsReader.ParseNetstat over /proc/net/netstat: "TcpExt: names" then "TcpExt: values".</summary>
/// <remarks>Oracle: no exception; every counter name returned is a field of the text.</remarks>
internal sealed class NetstatTarget() : GeneratedTarget(new Mutator(FuzzSeeds.Named("netstat"), ["TcpExt:", "IpExt:", "TcpExt: ", "\n"]))
{
    private static readonly string[] Prefixes = ["TcpExt:", "TcpExt:", "IpExt:", "MPTcpExt:", "Tcp:", "TcpExt"];

    private static readonly string[] Names =
        ["SyncookiesSent", "ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow", "TCPAbortOnTimeout", "TW", "PruneCalled", "TCPOrphanQueued"];

    public override string Name => "netstat";

    public override string Drives => "NamespaceFactsReader.ParseNetstat";

    public override Verdict Run(FuzzInput input)
    {
        var text = Encoding.UTF8.GetString(input.Data);
        var counters = NamespaceFactsReader.ParseNetstat(text, "TcpExt:");
        var verdict = Verdict.Of(counters.Count > 0);
        foreach (var name in counters.Keys)
        {
            verdict = verdict.Require(name.Length > 0 && !name.Contains(' ', StringComparison.Ordinal) && text.Contains(name, StringComparison.Ordinal), "a counter name that is not a field of the text");
        }

        return verdict;
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>();
        for (var block = 1 + random.Next(4); block > 0; block--)
        {
            var prefix = random.Pick(Prefixes);
            var names = random.Next(1, Names.Length + 1);
            d.Text(prefix);
            for (var i = 0; i < names; i++)
            {
                d.Text(" ").Text(random.Next(10) == 0 ? random.Number() : Names[i]);
            }

            d.Text("\n").Text(prefix);
            for (var i = names + random.Next(-1, 2); i > 0; i--)
            {
                d.Text(" ").Text(random.Number(long.MaxValue));
            }

            d.Text("\n");
        }

        return d;
    }
}

/// <summary>NamespaceFactsReader.ParsePortRange over net.ipv4.ip_local_port_range ("32768\t60999").</summary>
/// <remarks>Oracle: no exception; a range only with 0 &lt;= low &lt;= high.</remarks>
internal sealed class PortRangeTarget() : GeneratedTarget(new Mutator([.. FuzzSeeds.Named("ip_local_port_range"), "32768\t60999\n"u8.ToArray()], ["\t", " "]))
{
    public override string Name => "port-range";

    public override string Drives => "NamespaceFactsReader.ParsePortRange";

    public override Verdict Run(FuzzInput input)
    {
        var range = NamespaceFactsReader.ParsePortRange(Encoding.UTF8.GetString(input.Data));
        return Verdict.Of(range is not null).Require(range is null || (range.Value.Low >= 0 && range.Value.Low <= range.Value.High), "a range with low > high or below 0");
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>();
        for (var n = random.Next(8) == 0 ? random.Next(4) : 2; n > 0; n--)
        {
            d.Text(random.Number(70_000)).Text(n > 1 ? random.Pick(["\t", " ", "  ", "\t\t", "\n"]) : string.Empty);
        }

        return random.Next(4) == 0 ? d : d.Text("\n");
    }
}

/// <summary>NamespaceFactsReader.ParseReservedPorts over net.ipv4.ip_local_reserved_ports ("8080,9000-9010").</summary>
/// <remarks>Oracle: no exception; no more ranges than comma-separated items; every range 0 &lt;= low &lt;= high.</remarks>
internal sealed class ReservedPortsTarget() : GeneratedTarget(new Mutator([.. FuzzSeeds.Named("ip_local_reserved_ports"), "8080,9000-9010\n"u8.ToArray()], [",", "-", " "]))
{
    public override string Name => "reserved-ports";

    public override string Drives => "NamespaceFactsReader.ParseReservedPorts";

    public override Verdict Run(FuzzInput input)
    {
        var text = Encoding.UTF8.GetString(input.Data);
        var ranges = NamespaceFactsReader.ParseReservedPorts(text);
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length;
        var verdict = new Verdict(ranges.Count == items ? Outcome.Parsed : Outcome.Malformed, items, ranges.Count, Math.Max(0, items - ranges.Count))
            .Require(ranges.Count <= items, "more ranges than comma-separated items");
        foreach (var range in ranges)
        {
            verdict = verdict.Require(range.Low >= 0 && range.Low <= range.High, "a range with low > high or below 0");
        }

        return verdict;
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>();
        for (var n = random.Next(10); n > 0; n--)
        {
            d.Text(random.Number(70_000));
            if (random.Next(2) == 0)
            {
                d.Text("-").Text(random.Number(70_000));
            }

            d.Text(n > 1 ? random.Pick([",", ", ", ",,", " ,"]) : string.Empty);
        }

        return d.Text("\n");
    }
}

/// <summary>DescriptorUsageReader.ParseOpenFilesLimit over /proc/PID/limits: the soft limit of "Max open files".</summary>
/// <remarks>Oracle: no exception; a limit only at 0 or above.</remarks>
internal sealed class LimitsTarget() : GeneratedTarget(new Mutator(FuzzSeeds.Named("limits"), ["Max open files", "unlimited", "files", "\n"]))
{
    private static readonly string[] Rows = ["Max cpu time", "Max file size", "Max processes", "Max locked memory", "Max open files", "Max open file", "Max open filesX"];

    public override string Name => "limits";

    public override string Drives => "DescriptorUsageReader.ParseOpenFilesLimit";

    public override Verdict Run(FuzzInput input)
    {
        var limit = DescriptorUsageReader.ParseOpenFilesLimit(Encoding.UTF8.GetString(input.Data));
        return Verdict.Of(limit is not null).Require(limit is null || limit >= 0, "a negative limit");
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>().Text("Limit                     Soft Limit           Hard Limit           Units     \n");
        for (var n = random.Next(10); n > 0; n--)
        {
            var soft = random.Next(4) == 0 ? "unlimited" : random.Number(1L << 40);
            d.Text(random.Pick(Rows).PadRight(26)).Text(soft.PadRight(21)).Text(random.Number(1L << 40).PadRight(21)).Text("files     \n");
        }

        return d;
    }
}
