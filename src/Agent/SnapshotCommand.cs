using System.CommandLine;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Output;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Core;

namespace SockWatch.Agent;

/// <summary>`sockwatch snapshot`: one poll, printed.</summary>
internal static class SnapshotCommand
{
    public static readonly IReadOnlyList<string> Formats = ["table", "json", "summary", "diagram"];

    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = "Output: table (for a person), json (one object per socket), summary (one `state count` line per state), diagram (the TCP state diagram with each state's count, drawn with box-drawing characters).",
            DefaultValueFactory = _ => "table",
            HelpName = "table|json|summary|diagram",
        };
        var state = new Option<string[]>("--state")
        {
            Description = "Only sockets in this state (repeatable). Netlink filters in the kernel. States: " + string.Join(", ", Lifecycle.Names) + ".",
            HelpName = "NAME",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var owner = new Option<string>("--owner")
        {
            Description = "Only sockets owned by this process name, systemd unit (with or without .service), or container id (12 characters or more).",
            HelpName = "NAME",
        };
        var settings = CommonOptions.For(Configuration.SockWatchCommands.Snapshot);

        var command = new Command("snapshot", "Read the kernel's TCP socket table once and print every socket with its owner and its place in the lifecycle.")
        {
            format, state, owner,
        };
        settings.AddTo(command);
        command.SetAction(parse =>
        {
            var configured = settings.Load(parse);
            var options = new SnapshotOptions(
                ParseFormat(parse.GetValue(format)),
                CommonOptions.ParseStates(parse.GetValue(state)),
                configured.CollectorKind,
                configured.ProcRoot,
                ParseOwner(parse.GetValue(owner)),
                configured.Namespaces("self"));
            return Run(options, Console.OpenStandardOutput());
        });
        return command;
    }

    internal sealed record SnapshotOptions(
        string Format, IReadOnlyList<TcpState>? States, CollectorKind Collector, string ProcRoot, string? Owner = null, Collectors.Namespaces.NamespaceSelection? Namespaces = null);

    internal static int Run(SnapshotOptions options, Stream stdout)
    {
        // Owners cost a walk of /proc/PID/fd: the state counts of a summary or a diagram do not need them.
        var owners = options.Format is not ("summary" or "diagram") || options.Owner is not null;
        var settings = new PollSettings
        {
            Collector = options.Collector,
            ProcRoot = options.ProcRoot,
            Namespaces = options.Namespaces ?? Collectors.Namespaces.NamespaceSelection.Self,
            Request = new CollectRequest { StateMask = options.States is null ? TcpStateMask.All : TcpStateMask.Of(options.States) },
            Owners = owners,
            Facts = false,
        };

        Poll poll;
        var logger = new StderrLogger();
        using var pipeline = new PollPipeline(settings, logger);
        try
        {
            poll = pipeline.Run(DateTimeOffset.UtcNow);
        }
        catch (CollectorException e)
        {
            Console.Error.WriteLine($"sockwatch: cannot read the TCP socket tables through {e.Collector}: {e.Message}");
            return ExitCodes.TablesUnreadable;
        }

        if (options.Owner is not null && !poll.HasOwners)
        {
            // The owners stage said why on stderr; without owners no socket can match.
            Console.Error.WriteLine("sockwatch: cannot read the processes, so no socket can be matched to --owner");
            return ExitCodes.TablesUnreadable;
        }

        var view = SnapshotView.Of(poll);
        if (options.Owner is not null)
        {
            view = view.WhereOwner(options.Owner);
        }

        var stats = poll.Stats;
        switch (options.Format)
        {
            case "json":
                {
                    using var buffered = new BufferedStream(stdout, 64 * 1024);
                    SnapshotJsonWriter.Write(buffered, view);
                    break;
                }

            case "diagram":
                {
                    using var writer = NewWriter(stdout);
                    Diagram.TextDiagram.Write(writer, view.CountByState(), view.Namespaces);
                    break;
                }

            case "summary":
                {
                    using var writer = NewWriter(stdout);
                    SnapshotSummaryWriter.Write(writer, view, options.States ?? Lifecycle.Entries.Select(e => e.State).ToArray());
                    break;
                }

            default:
                {
                    using var writer = NewWriter(stdout);
                    SnapshotTableWriter.Write(writer, view);
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

    private static string? ParseOwner(string? value) =>
        value is null ? null
        : string.IsNullOrWhiteSpace(value) ? throw new UsageException("--owner: empty; give a process name, a unit, or a container id")
        : value.Trim();

    private static string ParseFormat(string? value)
    {
        var v = (value ?? "table").Trim().ToLowerInvariant();
        return Formats.Contains(v)
            ? v
            : throw new UsageException($"--format: '{value}' is not a format; accepted: {string.Join(", ", Formats)}");
    }
}
