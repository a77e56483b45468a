using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace SockWatch.Agent.Web;

/// <summary>
/// In front of every endpoint (/metrics, /, /healthz, /readyz, and unknown paths), in the
/// toolkit's order: the configuration in force (500 while it cannot be used), rate_limit (429),
/// the configured headers, then basic auth (401 with WWW-Authenticate: Basic).
/// </summary>
internal sealed class WebAccessMiddleware(WebConfigSource source, BasicAuthenticator authenticator, TimeProvider time)
{
    /// <summary>Longer Authorization values are refused unread: a user name and a bcrypt password (72 bytes count) fit many times over.</summary>
    private const int MaxCredentialsLength = 4096;

    private readonly Lock _bucketGate = new();
    private TokenBucket? _bucket;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (source.Current is not { } loaded)
        {
            await Refuse(context, StatusCodes.Status500InternalServerError, "Internal Server Error").ConfigureAwait(false);
            return;
        }

        var config = loaded.Config;
        if (config.RateLimit is { } limit && !BucketFor(limit).TryTake())
        {
            await Refuse(context, StatusCodes.Status429TooManyRequests, "Too Many Requests").ConfigureAwait(false);
            return;
        }

        foreach (var (name, value) in config.Headers)
        {
            context.Response.Headers[name] = value;
        }

        if (config.Users.Count == 0 || await IsAuthorizedAsync(context, config.Users).ConfigureAwait(false))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        context.Response.Headers.WWWAuthenticate = "Basic";
        await Refuse(context, StatusCodes.Status401Unauthorized, "Unauthorized").ConfigureAwait(false);
    }

    private async Task<bool> IsAuthorizedAsync(HttpContext context, IReadOnlyDictionary<string, string> users)
    {
        if (!TryReadBasic(context.Request.Headers.Authorization.ToString(), out var user, out var password))
        {
            return false;
        }

        try
        {
            return await authenticator.VerifyAsync(users, user, password).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(password);
        }
    }

    /// <summary>RFC 7617: "Basic" (any case), base64 of user:password; the user is UTF-8, the password stays bytes.</summary>
    internal static bool TryReadBasic(string header, out string user, out byte[] password)
    {
        user = "";
        password = [];
        const string Scheme = "Basic ";
        if (header.Length <= Scheme.Length || header.Length > MaxCredentialsLength || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var encoded = header.AsSpan(Scheme.Length).Trim();
        var buffer = ArrayPool<byte>.Shared.Rent(MaxCredentialsLength);
        try
        {
            if (!Convert.TryFromBase64Chars(encoded, buffer, out var length))
            {
                return false;
            }

            var decoded = buffer.AsSpan(0, length);
            var colon = decoded.IndexOf((byte)':');
            if (colon < 0)
            {
                return false;
            }

            user = Encoding.UTF8.GetString(decoded[..colon]);
            password = decoded[(colon + 1)..].ToArray();
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The bucket of the rate limit in force; a new one when the reloaded file changed it.</summary>
    private TokenBucket BucketFor(RateLimit limit)
    {
        lock (_bucketGate)
        {
            if (_bucket?.Limit != limit)
            {
                _bucket = new TokenBucket(limit, time);
            }

            return _bucket;
        }
    }

    private static Task Refuse(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text + "\n");
    }
}

/// <summary>rate_limit as Go's rate.NewLimiter(rate.Every(interval), burst): starts full, one token back per interval.</summary>
internal sealed class TokenBucket(RateLimit limit, TimeProvider time)
{
    private readonly Lock _gate = new();
    private double _tokens = limit.Burst;
    private long _last = time.GetTimestamp();

    public RateLimit Limit => limit;

    public bool TryTake()
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(limit.Burst, _tokens + (time.GetElapsedTime(_last, now) / limit.Interval));
            _last = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
