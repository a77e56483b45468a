using System.CommandLine;
using System.Reflection;

namespace SockWatch.Agent;

internal static class Program
{
    public static int Main(string[] args)
    {
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
            SnapshotCommand.Create(),
            CheckCommand.Create(),
        };
        root.SetAction(_ =>
        {
            Console.Error.WriteLine("sockwatch: no command given; the daemon (`sockwatch run`) is not built yet. Try `sockwatch snapshot` or `sockwatch --help`.");
            return ExitCodes.Usage;
        });
        return root;
    }

    internal static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
