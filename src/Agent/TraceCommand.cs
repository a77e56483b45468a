using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Tracing;
using SockWatch.Collectors.Namespaces;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>
/// `sockwatch trace`: every TCP state change as the kernel makes it, one line each, until
/// Ctrl+C or SIGTERM, then a count per transition. Loads the same tracer as the daemon, with
/// every change sent through its ring buffer.
/// </summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = "Output: table (for a person) or json (one object per line).",
            DefaultValueFactory = _ => "table",
            HelpName = "table|json",
        };
        var owner = new Option<string>("--owner") { Description = "Only changes of sockets owned by this process name, pid or systemd unit (with or without .service).", HelpName = "NAME" };
        var port = new Option<int[]>("--port") { Description = "Only changes of sockets with this local or remote port (repeatable).", HelpName = "PORT", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
        var state = new Option<string[]>("--state") { Description = "Only changes from or to this state (repeatable). States: " + string.Join(", ", Lifecycle.Names) + ".", HelpName = "NAME", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
        var netns = new Option<string>("--netns") { Description = "Only these network namespaces: names and patterns, comma-separated (as snapshot names them); default: all.", HelpName = "NAMES" };
        var command = new Command("trace", "Print every TCP state change as the kernel makes it (needs CAP_BPF and CAP_PERFMON, or root), with its owner, endpoints, the time spent in the previous state and its step of the lifecycle; Ctrl+C prints a count per transition.")
        {
            format, owner, port, state, netns,
        };
        command.SetAction(parse =>
        {
            var f = parse.GetValue(format) ?? "table";
            if (f is not ("table" or "json"))
            {
                throw new UsageException($"--format: '{f}' is not a format; accepted: table, json");
            }

            var selection = parse.GetValue(netns) is { } names
                ? NamespaceSelection.TryParse(names, "", out var why) ?? throw new UsageException("--netns: " + why)
                : null;
            var filter = new TraceFilter(parse.GetValue(owner), [.. parse.GetValue(port) ?? []], CommonOptions.ParseStates(parse.GetValue(state)), selection);
            return Run(f == "json", filter, Console.Out, Console.Error, CancellationToken.None);
        });
        return command;
    }

    /// <summary>What `sockwatch trace` prints, by its filters.</summary>
    internal sealed record TraceFilter(string? Owner, IReadOnlyList<int> Ports, IReadOnlyList<TcpState>? States, NamespaceSelection? Namespaces);

    internal static int Run(bool json, TraceFilter filter, TextWriter stdout, TextWriter stderr, CancellationToken token)
    {
        var names = new NamespaceNames();
        var units = new Dictionary<ulong, string?>();
        var summary = new SortedDictionary<(TcpState, TcpState), long>();
        var wallOffsetNs = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000L) - TraceAggregator.MonotonicNow();
        var lines = new System.Collections.Concurrent.BlockingCollection<TraceRecord>(boundedCapacity: 65_536);
        long dropped = 0;

        TraceSession session;
        try
        {
            session = TraceSession.Open(streamAll: true, r =>
            {
                if (!lines.TryAdd(r))
                {
                    Interlocked.Increment(ref dropped);
                }
            });
        }
        catch (TraceUnavailableException e)
        {
            stderr.WriteLine($"sockwatch trace: tracing is impossible here ({e.Reason}): {e.Message}");
            return ExitCodes.Usage;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using (session)
        {
            using var cgroups = new UnitNames();
            session.Start();
            stderr.WriteLine("sockwatch trace: tracing every TCP state change; Ctrl+C stops and prints a count per transition");
            stderr.Flush();
            if (!json)
            {
                stdout.WriteLine("TIME            NETNS                PID     PROCESS          UNIT                     LOCAL                   REMOTE                  FROM -> TO                 IN PREVIOUS   STEP");
            }

            try
            {
                foreach (var r in lines.GetConsumingEnumerable(stop.Token))
                {
                    var ns = names.Of(r.Netns);
                    var netnsName = ns.Name;
                    var process = r.Comm.Text();
                    var unit = r.Cgroup == 0 ? null : units.TryGetValue(r.Cgroup, out var u) ? u : units[r.Cgroup] = cgroups.Of(r.Cgroup);
                    if (!Matches(filter, r, ns, process, unit))
                    {
                        continue;
                    }

                    summary[(r.From, r.To)] = summary.GetValueOrDefault((r.From, r.To)) + 1;
                    var at = DateTimeOffset.FromUnixTimeMilliseconds((wallOffsetNs + r.AtNs) / 1_000_000).AddTicks((wallOffsetNs + r.AtNs) % 1_000_000 / 100);
                    stdout.WriteLine(json ? Json(r, at, netnsName, process, unit) : Row(r, at, netnsName, process, unit));
                }
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: the summary follows.
            }
        }

        stdout.Flush();
        var total = summary.Values.Sum();
        stderr.WriteLine($"sockwatch trace: {total} state changes");
        foreach (var ((from, to), count) in summary)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count,10}  {Lifecycle.NameOf(from)} -> {Lifecycle.NameOf(to)}"));
        }

        if (Interlocked.Read(ref dropped) is > 0 and var d)
        {
            stderr.WriteLine($"sockwatch trace: {d} changes not printed (the output fell behind)");
        }

        return ExitCodes.Ok;
    }

    private static bool Matches(TraceFilter filter, in TraceRecord r, NetworkNamespace netns, string process, string? unit)
    {
        if (filter.Ports.Count > 0 && !filter.Ports.Contains(r.LocalPort) && !filter.Ports.Contains(r.RemotePort))
        {
            return false;
        }

        if (filter.States is { } states && !states.Contains(r.From) && !states.Contains(r.To))
        {
            return false;
        }

        if (filter.Namespaces is { } selection && !selection.Includes(netns))
        {
            return false;
        }

        if (filter.Owner is { } owner)
        {
            var pid = r.Pid.ToString(CultureInfo.InvariantCulture);
            return owner == process || owner == pid || (unit is not null && (owner == unit || owner + ".service" == unit));
        }

        return true;
    }

    private static string Row(in TraceRecord r, DateTimeOffset at, string netns, string process, string? unit)
    {
        var entry = Lifecycle.Of(r.To);
        var transition = $"{Lifecycle.NameOf(r.From)} -> {entry.Name}";
        return string.Create(CultureInfo.InvariantCulture,
            $"{at:HH:mm:ss.ffffff} {Cut(netns, 20),-20} {(r.Pid == 0 ? "-" : r.Pid.ToString(CultureInfo.InvariantCulture)),-7} {Cut(process.Length == 0 ? "-" : process, 16),-16} {Cut(unit ?? "-", 24),-24} {TraceAggregator.Endpoint(r, local: true),-23} {TraceAggregator.Endpoint(r, local: false),-23} {transition,-26} {InPrevious(r),-13} {entry.Step}");
    }

    private static string Json(in TraceRecord r, DateTimeOffset at, string netns, string process, string? unit)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            var entry = Lifecycle.Of(r.To);
            w.WriteStartObject();
            w.WriteString("time", at.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            w.WriteString("netns", netns);
            if (r.Pid == 0)
            {
                w.WriteNull("owner");
            }
            else
            {
                w.WriteStartObject("owner");
                w.WriteNumber("pid", r.Pid);
                w.WriteString("process", process);
                w.WriteString("unit", unit);
                w.WriteEndObject();
            }

            w.WriteString("family", r.IsV6 ? "inet6" : "inet");
            w.WriteString("local_address", r.Local.ToAddress(r.Family).ToString());
            w.WriteNumber("local_port", r.LocalPort);
            w.WriteString("remote_address", r.Remote.ToAddress(r.Family).ToString());
            w.WriteNumber("remote_port", r.RemotePort);
            w.WriteString("from", Lifecycle.NameOf(r.From));
            w.WriteString("to", entry.Name);
            if (r.InStateNs > 0)
            {
                w.WriteNumber("in_previous_seconds", r.InStateNs / 1e9);
            }
            else
            {
                w.WriteNull("in_previous_seconds");
            }

            w.WriteString("step", entry.Step);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string InPrevious(in TraceRecord r) => r.InStateNs <= 0 ? "-"
        : r.InStateNs < 1_000_000 ? string.Create(CultureInfo.InvariantCulture, $"{r.InStateNs / 1e3:0.0} µs")
        : r.InStateNs < 1_000_000_000 ? string.Create(CultureInfo.InvariantCulture, $"{r.InStateNs / 1e6:0.00} ms")
        : string.Create(CultureInfo.InvariantCulture, $"{r.InStateNs / 1e9:0.000} s");

    private static string Cut(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "~";

    /// <summary>Namespaces by inode, named as snapshot names them; discovered again for an inode not seen yet (at most once a second).</summary>
    private sealed class NamespaceNames
    {
        private Dictionary<ulong, NetworkNamespace> _known = [];
        private long? _discoveredAt;

        public NetworkNamespace Of(uint inode)
        {
            if (_known.TryGetValue(inode, out var ns))
            {
                return ns;
            }

            if (_discoveredAt is not { } last || Environment.TickCount64 - last > 1000)
            {
                _discoveredAt = Environment.TickCount64;
                _known = NamespaceDiscovery.Discover().Where(n => n.Inode != 0).GroupBy(n => n.Inode).ToDictionary(g => g.Key, g => g.First());
                if (_known.TryGetValue(inode, out ns))
                {
                    return ns;
                }
            }

            return new NetworkNamespace(inode, "netns-" + inode.ToString(CultureInfo.InvariantCulture), null, false);
        }
    }

    /// <summary>Units of cgroup ids.</summary>
    private sealed class UnitNames : IDisposable
    {
        private readonly Collectors.Ownership.CgroupIdMap? _map = Collectors.Ownership.CgroupIdMap.FindCgroup2Mount() is { } mount ? new(mount) : null;

        public string? Of(ulong cgroup)
        {
            _map?.BeginRound();
            return _map?.Lookup(cgroup) is { } path ? Collectors.Ownership.CgroupParser.Describe(path).Unit : null;
        }

        public void Dispose()
        {
        }
    }
}
