using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SockWatch.Agent.Daemon;

/// <summary>
/// The endpoints' error boundary: an unexpected exception in a handler is one log line and a
/// 500, never a stack trace in the journal and never the process. A request the client gave up
/// on is not an error.
/// </summary>
internal static partial class HttpErrorBoundary
{
    public static RequestDelegate Wrap(RequestDelegate handler, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(logger);
        return async context =>
        {
            try
            {
                await handler(context).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the boundary: whatever a handler throws becomes a 500 and one line
            catch (Exception e) when (!(e is OperationCanceledException && context.RequestAborted.IsCancellationRequested))
#pragma warning restore CA1031
            {
                LogFailed(logger, context.Request.Path.Value ?? "", e.GetType().Name, e.Message.ReplaceLineEndings(" "));
                if (context.Response.HasStarted)
                {
                    context.Abort(); // the status line is gone: cut the response short rather than end it as if whole
                    return;
                }

                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("internal error: see the daemon's log\n").ConfigureAwait(false);
            }
        };
    }

    [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "{Path} failed, answered 500: {Error}: {Message}")]
    private static partial void LogFailed(ILogger logger, string path, string error, string message);
}
