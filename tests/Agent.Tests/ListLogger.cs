using Microsoft.Extensions.Logging;

namespace SockWatch.Agent.Tests;

/// <summary>A logger that keeps every line it is given, with its event id, for tests that count log lines.</summary>
internal sealed class ListLogger : ILogger
{
    public List<string> Lines { get; } = [];

    public List<EventId> Events { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        lock (Lines)
        {
            Lines.Add(formatter(state, exception));
            Events.Add(eventId);
        }
    }
}
