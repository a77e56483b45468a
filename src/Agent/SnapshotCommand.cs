using System.CommandLine;
using SockWatch.Agent.Output;
using SockWatch.Collectors;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>`sockwatch snapshot`: one poll, printed.</summary>
internal static class SnapshotCommand
{
    public static readonly IReadOnlyList<string> Formats = ["table", "json", "summary"];

    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = "Output: table (for a person), json (one object per socket), summary (one `state count` line per state).",
            DefaultValueFactory = _ => "table",
            HelpName = "table|json|summary",
        };
        var state = new Option<string[]>("--state")
        {
            Description = "Only sockets in this state (repeatable). Netlink filters in the kernel. States: " + string.Join(", ", Lifecycle.Names) + ".",
            HelpName = "NAME",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var collector = CommonOptions.Collector();
        var procRoot = CommonOptions.ProcRoot();

        var command = new Command("snapshot", "Read the kernel's TCP socket table once and print every socket with its place in the lifecycle.")
        {
            format, state, collector, procRoot,
        };
        command.SetAction(parse =>
        {
            var options = new SnapshotOptions(
                ParseFormat(parse.GetValue(format)),
                CommonOptions.ParseStates(parse.GetValue(state)),
                CommonOptions.ParseCollector(parse.GetValue(collector)),
                CommonOptions.ParseProcRoot(parse.GetValue(procRoot)));
            return Run(options, Console.OpenStandardOutput());
        });
        return command;
    }

    internal sealed record SnapshotOptions(string Format, IReadOnlyList<TcpState>? States, CollectorKind Collector, string ProcRoot);

    internal static int Run(SnapshotOptions options, Stream stdout)
    {
        var request = new CollectRequest
        {
            StateMask = options.States is null ? TcpStateMask.All : TcpStateMask.Of(options.States),
        };

        // One allocation of the right size: 10% headroom for sockets that arrive during the dump
        // and for request sockets, which sockstat does not count.
        var table = new SocketTable(4096);
        var hint = SocketCountHint.Read(options.ProcRoot);
        table.EnsureCapacity(hint + (hint / 10) + 256);
        CollectionStats stats;
        using (var collector = CollectorKinds.Create(options.Collector, options.ProcRoot, new StderrLogger()))
        {
            try
            {
                stats = collector.Collect(table, request);
            }
            catch (CollectorException e)
            {
                Console.Error.WriteLine($"sockwatch: cannot read the TCP socket tables through {e.Collector}: {e.Message}");
                return ExitCodes.TablesUnreadable;
            }
        }

        switch (options.Format)
        {
            case "json":
                {
                    using var buffered = new BufferedStream(stdout, 64 * 1024);
                    SnapshotJsonWriter.Write(buffered, table);
                    break;
                }

            case "summary":
                {
                    using var writer = NewWriter(stdout);
                    SnapshotSummaryWriter.Write(writer, table, options.States ?? Lifecycle.Entries.Select(e => e.State).ToArray());
                    break;
                }

            default:
                {
                    using var writer = NewWriter(stdout);
                    SnapshotTableWriter.Write(writer, table, stats);
                    break;
                }
        }

        if (options.Format != "table")
        {
            // Notes go to stderr so that the JSON or summary on stdout stays machine-readable.
            foreach (var note in SnapshotTableWriter.Notes(stats))
            {
                Console.Error.WriteLine("sockwatch: note: " + note);
            }
        }

        return ExitCodes.Ok;
    }

    private static StreamWriter NewWriter(Stream stdout) =>
        new(stdout, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 64 * 1024) { AutoFlush = false };

    private static string ParseFormat(string? value)
    {
        var v = (value ?? "table").Trim().ToLowerInvariant();
        return Formats.Contains(v)
            ? v
            : throw new UsageException($"--format: '{value}' is not a format; accepted: {string.Join(", ", Formats)}");
    }
}
