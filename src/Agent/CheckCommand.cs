using SockWatch.Core;
using System.CommandLine;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Output;
using SockWatch.Agent.Polling;
using SockWatch.Collectors;
using SockWatch.Core.Detection;

namespace SockWatch.Agent;

/// <summary>`sockwatch check`: one poll (or two, --interval apart), findings printed, the exit status says whether there were any.</summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var format = new Option<string>("--format")
        {
            Description = "Output: table (for a person) or json (an array of findings).",
            DefaultValueFactory = _ => "table",
            HelpName = "table|json",
        };
        var interval = new Option<string>("--interval")
        {
            Description = "Poll twice, this long apart (like 5s), so ages and rising counters are measured over it.",
            HelpName = "DURATION",
        };
        var settings = CommonOptions.For(SockWatchCommands.Check);

        var command = new Command("check", "Poll the socket table and report what is stuck: close_wait leaks, ephemeral-port and time_wait pressure, full accept queues, stuck closes. Exit 0: none; 1: findings; 2: bad usage or configuration; 3: tables unreadable.")
        {
            format, interval,
        };
        settings.AddTo(command);

        command.SetAction(parse =>
        {
            var fmt = (parse.GetValue(format) ?? "table").Trim().ToLowerInvariant();
            if (fmt is not ("table" or "json"))
            {
                throw new UsageException($"--format: '{parse.GetValue(format)}' is not a format; accepted: table, json");
            }

            TimeSpan? wait = null;
            if (parse.GetValue(interval) is { } text)
            {
                wait = Durations.TryParse(text, out var d) && d > TimeSpan.Zero
                    ? d
                    : throw new UsageException($"--interval: '{text}' is not a duration above 0 (like 5s, 1m)");
            }

            var options = settings.Load(parse);
            return Run(options, wait, fmt, Console.OpenStandardOutput());
        });
        return command;
    }

    private static int Run(SockWatchOptions options, TimeSpan? interval, string format, Stream stdout)
    {
        var logger = new StderrLogger();
        IReadOnlyList<Finding> findings;
        int sockets;
        int namespaces;
        try
        {
            using var pipeline = new PollPipeline(PollSettings.For(options, options.Namespaces("self")), logger);
            var poll = pipeline.Run(DateTimeOffset.UtcNow);
            if (interval is { } wait)
            {
                Thread.Sleep(wait);
                poll = pipeline.Run(DateTimeOffset.UtcNow);
            }

            findings = poll.Findings;
            sockets = poll.Count;
            namespaces = poll.Namespaces.Count;
        }
        catch (CollectorException e)
        {
            Console.Error.WriteLine($"sockwatch: cannot read the TCP socket tables through {e.Collector}: {e.Message}");
            return ExitCodes.TablesUnreadable;
        }

        if (format == "json")
        {
            using var buffered = new BufferedStream(stdout, 64 * 1024);
            FindingsWriter.WriteJson(buffered, findings);
        }
        else
        {
            using var writer = new StreamWriter(stdout, new System.Text.UTF8Encoding(false), 16 * 1024);
            FindingsWriter.WriteTable(writer, findings, sockets, namespaces);
        }

        return findings.Count > 0 ? ExitCodes.Findings : ExitCodes.Ok;
    }
}
