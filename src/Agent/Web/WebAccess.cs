using System.Security.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SockWatch.Agent.Web;

/// <summary>
/// --web.config.file on the daemon: TLS on every listener and basic auth, headers and the rate
/// limit on every endpoint. Two calls from RunCommand: <see cref="AddTo"/> before Kestrel's
/// listeners are declared, <see cref="UseIn"/> once the app is built.
/// </summary>
internal static partial class WebAccess
{
    /// <summary>Loads the file and, when it configures TLS, makes every listener declared after this call HTTPS. No file (empty): nothing.</summary>
    /// <exception cref="WebConfigException">The file is not valid (it was validated at start, so it changed in the meantime).</exception>
    public static void AddTo(WebApplicationBuilder builder, string webConfigFile)
    {
        ArgumentNullException.ThrowIfNull(webConfigFile);
        if (webConfigFile.Length == 0)
        {
            return;
        }

        var source = new WebConfigSource(webConfigFile);

        builder.Services.AddSingleton(source);
        builder.Services.AddSingleton<BasicAuthenticator>();
        if (source.Initial.Config.Tls is null)
        {
            return;
        }

        var http2 = source.Initial.Config.Http2;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen =>
        {
            // ALPN offers h2 only when http2 is on; like the toolkit, this is fixed at start.
            listen.Protocols = http2 ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(TlsPolicy.ServerOptions(
                    source.Current ?? throw new AuthenticationException("the web configuration cannot be used; see the log"))),
            });
        }));
    }

    /// <summary>Puts the access checks in front of every endpoint and says once what is in force.</summary>
    public static void UseIn(WebApplication app)
    {
        if (app.Services.GetService<WebConfigSource>() is not { } source)
        {
            return;
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SockWatch.Agent.Web");
        source.Logger = logger;
        var config = source.Initial.Config;
        var clientAuth = config.Tls is null ? "none" : Enum.GetName(config.Tls.ClientAuth)!;
        LogInForce(logger, source.FilePath, config.Tls is null ? "off" : "on", clientAuth, config.Users.Count);
        if (config.Users.Count > 0 && config.Tls is null)
        {
            LogCleartextPasswords(logger);
        }

        foreach (var note in config.Notes)
        {
            LogIgnored(logger, note);
        }

        var middleware = new WebAccessMiddleware(source, app.Services.GetRequiredService<BasicAuthenticator>(), TimeProvider.System);
        app.Use(middleware.InvokeAsync);
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information, Message = "web configuration {Path}: TLS {Tls}, client certificates {ClientAuth}, basic auth users {Users}")]
    private static partial void LogInForce(ILogger logger, string path, string tls, string clientAuth, int users);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Warning, Message = "web configuration: basic auth without TLS; passwords cross the network in the clear")]
    private static partial void LogCleartextPasswords(ILogger logger);

    [LoggerMessage(EventId = 3305, Level = LogLevel.Warning, Message = "web configuration: {Note}")]
    private static partial void LogIgnored(ILogger logger, string note);
}
