using System.CommandLine;
using SockWatch.Agent.Configuration;

namespace SockWatch.Agent;

internal static class Program
{
    public static int Main(string[] args)
    {
        // Bare `sockwatch`, or `sockwatch --flag ...` without a command, is the daemon.
        if (args.Length == 0 || (args[0].StartsWith('-') && args[0] is not ("--help" or "-h" or "-?" or "--version")))
        {
            args = ["run", .. args];
        }

        var root = BuildRoot();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line: what is wrong and what is accepted. Never a stack trace, never the help page.
            var command = parse.CommandResult.Command;
            var accepted = string.Join(", ", command.Options.Where(o => !o.Hidden).Select(o => o.Name));
            var where = command == root ? "sockwatch" : "sockwatch " + command.Name;
            Console.Error.WriteLine($"{where}: {parse.Errors[0].Message} Accepted: {accepted}.");
            return ExitCodes.Usage;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"sockwatch {parse.CommandResult.Command.Name}: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "SockWatch watches the kernel's TCP sockets, places each on the TCP lifecycle (handshake, data transfer, four-way close) and finds what is stuck.")
        {
            RunCommand.Create(),
            SnapshotCommand.Create(),
            CheckCommand.Create(),
            TraceCommand.Create(),
        };
        return root;
    }

}
