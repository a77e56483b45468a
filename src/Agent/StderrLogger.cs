using Microsoft.Extensions.Logging;

namespace SockWatch.Agent;

/// <summary>
/// The one-shot commands' logger: warnings and errors as single lines on stderr, so stdout
/// stays clean for the table, JSON or summary a script reads.
/// </summary>
internal sealed class StderrLogger(LogLevel minimum = LogLevel.Warning) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var level = logLevel switch
        {
            LogLevel.Warning => "warning",
            LogLevel.Error or LogLevel.Critical => "error",
            _ => "info",
        };
        Console.Error.WriteLine($"sockwatch: {level}: {formatter(state, exception)}");
    }
}
