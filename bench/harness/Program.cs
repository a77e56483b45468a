using System.Diagnostics;
using System.Globalization;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Collectors;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;

namespace SockWatch.Bench;

/// <summary>
/// Measures one collection at a time, in process, after warm-up: process CPU time (user +
/// system, getrusage(RUSAGE_SELF), so kernel time spent producing the dump counts), wall
/// time, and managed bytes allocated. Prints one JSON line per item for bench/bench.py.
/// Usage: SockWatch.Bench [--iterations N] [--proc-root DIR] [--items netlink,proc,dotnet_ipglobalproperties]
///        SockWatch.Bench --ownership [--iterations N]
///        SockWatch.Bench --netns PATTERN [--netns-dump NAME | --breakdown [--netns-empty NAME]] [--iterations N] (see Netns.cs)
/// </summary>
internal static partial class Program
{
    private static readonly string[] DefaultItems = ["netlink", "proc", "dotnet_ipglobalproperties"];

    /// <summary>
    /// Items run only when named: netlink_daemon is the daemon's request (tcp_info for
    /// close_wait and fin_wait2) in one walk; netlink_by_family the same request as a kernel
    /// without the legacy request answers it (a dump a family, each split in two).
    /// </summary>
    private static readonly string[] ExtraItems = ["netlink_daemon", "netlink_by_family"];

    private static int Main(string[] args)
    {
        var iterations = 15;
        var procRoot = "/proc";
        var ownership = false;
        var items = DefaultItems;
        string? netns = null;
        string? netnsDump = null;
        string? netnsEmpty = null;
        var breakdown = false;
        var netnsInterval = TimeSpan.FromSeconds(15); // the daemon's poll_interval
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--iterations" when i + 1 < args.Length:
                    iterations = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--proc-root" when i + 1 < args.Length:
                    procRoot = args[++i];
                    break;
                case "--ownership":
                    ownership = true;
                    break;
                case "--items" when i + 1 < args.Length:
                    items = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    break;
                case "--netns" when i + 1 < args.Length:
                    netns = args[++i];
                    break;
                case "--netns-dump" when i + 1 < args.Length:
                    netnsDump = args[++i];
                    break;
                case "--netns-empty" when i + 1 < args.Length:
                    netnsEmpty = args[++i];
                    break;
                case "--breakdown":
                    breakdown = true;
                    break;
                case "--netns-interval" when i + 1 < args.Length:
                    netnsInterval = TimeSpan.FromSeconds(double.Parse(args[++i], CultureInfo.InvariantCulture));
                    break;
                default:
                    Console.Error.WriteLine($"SockWatch.Bench: unknown argument '{args[i]}'; accepted: --iterations N, --proc-root DIR, --ownership, --items A,B, --netns PATTERN, --netns-dump NAME, --netns-empty NAME, --breakdown, --netns-interval SECONDS");
                    return 2;
            }
        }

        if (items.Except(DefaultItems).Except(ExtraItems).FirstOrDefault() is { } unknown)
        {
            Console.Error.WriteLine($"SockWatch.Bench: unknown item '{unknown}'; known: {string.Join(", ", DefaultItems.Concat(ExtraItems))}");
            return 2;
        }

        if (netns is not null)
        {
            return Netns(netns, netnsDump, netnsEmpty, breakdown, iterations, netnsInterval);
        }

        var table = new SocketTable(1024);
        if (ownership)
        {
            return Ownership(iterations, procRoot, table);
        }

        if (items.Contains("netlink"))
        {
            using var netlink = new NetlinkCollector();
            Emit("netlink", iterations, () => netlink.Collect(table, CollectRequest.All), () => table.Count);
        }

        var daemonRequest = new CollectRequest { TcpInfoStateMask = TcpStateMask.Of([SockWatch.Core.TcpState.CloseWait, SockWatch.Core.TcpState.FinWait2]) };
        if (items.Contains("netlink_daemon"))
        {
            using var netlink = new NetlinkCollector();
            Emit("netlink_daemon", iterations, () => netlink.Collect(table, daemonRequest), () => table.Count);
        }

        if (items.Contains("netlink_by_family"))
        {
            using var netlink = new NetlinkCollector { LegacyRefused = true };
            Emit("netlink_by_family", iterations, () => netlink.Collect(table, daemonRequest), () => table.Count);
        }

        if (items.Contains("proc"))
        {
            using var proc = new ProcNetTcpCollector(procRoot);
            Emit("proc", iterations, () => proc.Collect(table, CollectRequest.All), () => table.Count);
        }

        if (items.Contains("dotnet_ipglobalproperties"))
        {
            var connections = 0;
            Emit("dotnet_ipglobalproperties", iterations, () => connections = IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpConnections().Length, () => connections);
        }

        return 0;
    }

    /// <summary>
    /// owners_cold: a new resolver each time, so every process's stat, status, cgroup and
    /// descriptors are read (what a one-shot snapshot pays; the JIT is already warm here).
    /// owners_steady: one resolver across polls, as the daemon runs it.
    /// </summary>
    private static int Ownership(int iterations, string procRoot, SocketTable table)
    {
        using (var netlink = new NetlinkCollector())
        {
            netlink.Collect(table, CollectRequest.All);
        }

        var attributed = 0;
        Emit("owners_cold", iterations, () => attributed = Count(new OwnerResolver(procRoot, NullLogger.Instance).Resolve(table)), () => attributed);
        var resolver = new OwnerResolver(procRoot, NullLogger.Instance);
        Emit("owners_steady", iterations, () => attributed = Count(resolver.Resolve(table)), () => attributed);

        // The other path: units from the sockets' cgroup ids, no process walked.
        if (CgroupIdMap.FindCgroup2Mount() is { } mount)
        {
            var units = 0;
            Emit("cgroup_units_cold", iterations, () => units = UnitsFromIds(new CgroupIdMap(mount), table), () => units);
            var map = new CgroupIdMap(mount);
            Emit("cgroup_units_steady", iterations, () => units = UnitsFromIds(map, table), () => units);
        }

        return 0;

        static int UnitsFromIds(CgroupIdMap map, SocketTable table)
        {
            map.BeginRound();
            var found = 0;
            var seen = new Dictionary<ulong, bool>();
            foreach (ref readonly var r in table.Records)
            {
                if (r.CgroupId == 0)
                {
                    continue;
                }

                if (!seen.TryGetValue(r.CgroupId, out var known))
                {
                    known = map.Lookup(r.CgroupId) is { } path && CgroupParser.Describe(path).Unit is not null;
                    seen[r.CgroupId] = known;
                }

                found += known ? 1 : 0;
            }

            return found;
        }

        static int Count(SocketOwnership o) => o.Owners.Count(x => x is not null);
    }

    private static void Emit(string name, int iterations, Action collect, Func<int> count, int warmups = 3, Dictionary<string, object>? extras = null)
    {
        // Warm-up: JIT, buffer and table growth, hash set capacity. What remains is the steady state.
        for (var i = 0; i < warmups; i++)
        {
            collect();
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var cpu = new List<double>();
        var wall = new List<double>();
        var alloc = new List<long>();
        for (var i = 0; i < iterations; i++)
        {
            var a0 = GC.GetAllocatedBytesForCurrentThread();
            var c0 = CpuMilliseconds();
            var w0 = Stopwatch.GetTimestamp();
            collect();
            var w1 = Stopwatch.GetTimestamp();
            var c1 = CpuMilliseconds();
            var a1 = GC.GetAllocatedBytesForCurrentThread();
            cpu.Add(c1 - c0);
            wall.Add(Stopwatch.GetElapsedTime(w0, w1).TotalMilliseconds);
            alloc.Add(a1 - a0);
        }

        var doc = new Dictionary<string, object>
        {
            ["name"] = name,
            ["sockets"] = count(),
            ["cpu_ms"] = cpu,
            ["wall_ms"] = wall,
            ["alloc_bytes"] = alloc,
        };
        foreach (var (key, value) in extras ?? [])
        {
            doc[key] = value;
        }

        Console.WriteLine(JsonSerializer.Serialize(doc));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
        // The rest of struct rusage (14 longs) is not read but must be there to be written into.
        public long R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13;
    }

    private static double CpuMilliseconds()
    {
        if (GetRUsage(0 /* RUSAGE_SELF */, out var u) != 0)
        {
            throw new InvalidOperationException("getrusage failed: errno " + Marshal.GetLastPInvokeError());
        }

        return ((u.UserSeconds + u.SystemSeconds) * 1000.0) + ((u.UserMicroseconds + u.SystemMicroseconds) / 1000.0);
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int GetRUsage(int who, out RUsage usage);
}
