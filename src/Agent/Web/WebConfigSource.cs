using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SockWatch.Agent.Web;

/// <summary>
/// The web configuration in force. The toolkit re-reads its file on every request and every
/// handshake, so that rotated certificates apply at once; here every request and handshake looks
/// at the modification time and size of the file and of the certificate, key and client CA files
/// it names (a few stat calls), and reloads them all when one changed. A broken reload fails
/// closed, as the toolkit does: requests get 500 and handshakes are refused until the files are
/// good again, because serving on with the old file could keep a revoked user or certificate in.
/// Turning TLS on or off, and http2, need a restart: the listener is built at start.
/// </summary>
internal sealed partial class WebConfigSource
{
    private readonly string _path;
    private readonly bool _tlsAtStart;
    private readonly Lock _reload = new();
    private Snapshot _current;

    /// <exception cref="WebConfigException">The file cannot be used; the message names it and the setting.</exception>
    public WebConfigSource(string path)
    {
        _path = Path.GetFullPath(path);
        var files = FilesOf(null);
        var stamps = Stamp(files);
        Initial = WebConfigLoader.Load(_path);
        _tlsAtStart = Initial.Config.Tls is not null;
        _current = Settle(Initial, files, stamps);
    }

    /// <summary>What was loaded at start; the listener is built from it.</summary>
    public LoadedWebConfig Initial { get; }

    public string FilePath => _path;

    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>The configuration in force, reloaded first if a file changed; null while the files cannot be used (logged once per change).</summary>
    public LoadedWebConfig? Current
    {
        get
        {
            var snapshot = Volatile.Read(ref _current);
            if (IsCurrent(snapshot))
            {
                return snapshot.Loaded;
            }

            lock (_reload)
            {
                snapshot = _current;
                if (!IsCurrent(snapshot))
                {
                    snapshot = Reload(snapshot);
                    Volatile.Write(ref _current, snapshot);
                }

                return snapshot.Loaded;
            }
        }
    }

    private Snapshot Reload(Snapshot previous)
    {
        // Stamped before reading: a change made while loading is seen by the next request. A
        // broken file keeps watching the files of the last good one (a key half-way through
        // its rotation must be seen when it is complete).
        var files = previous.Loaded is null ? previous.Files : FilesOf(previous.Loaded);
        var stamps = Stamp(files);
        try
        {
            var loaded = WebConfigLoader.Load(_path);
            if ((loaded.Config.Tls is not null) != _tlsAtStart)
            {
                throw new WebConfigException($"{_path}: tls_server_config: turning TLS {(_tlsAtStart ? "off" : "on")} needs a restart of sockwatch");
            }

            LogReloaded(Logger, _path);
            return Settle(loaded, files, stamps);
        }
        catch (WebConfigException e)
        {
            LogReloadFailed(Logger, e.Message);
            return new Snapshot(null, files, stamps);
        }
    }

    /// <summary>A snapshot of <paramref name="loaded"/>, stamped again for the files it names that were not stamped before it was read.</summary>
    private Snapshot Settle(LoadedWebConfig loaded, string[] files, FileStamp[] stamps)
    {
        var now = FilesOf(loaded);
        return now.SequenceEqual(files, StringComparer.Ordinal) ? new Snapshot(loaded, files, stamps) : new Snapshot(loaded, now, Stamp(now));
    }

    private string[] FilesOf(LoadedWebConfig? loaded) => [_path, .. loaded?.Config.ReferencedFiles ?? []];

    private static bool IsCurrent(Snapshot snapshot)
    {
        for (var i = 0; i < snapshot.Files.Length; i++)
        {
            if (FileStamp.Of(snapshot.Files[i]) != snapshot.Stamps[i])
            {
                return false;
            }
        }

        return true;
    }

    private static FileStamp[] Stamp(string[] files) => [.. files.Select(FileStamp.Of)];

    private sealed record Snapshot(LoadedWebConfig? Loaded, string[] Files, FileStamp[] Stamps);

    /// <summary>What tells that a file changed: existence, modification time (nanoseconds on Linux) and size.</summary>
    private readonly record struct FileStamp(bool Exists, long ModifiedTicks, long Length)
    {
        public static FileStamp Of(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(true, info.LastWriteTimeUtc.Ticks, info.Length) : default;
        }
    }

    [LoggerMessage(EventId = 3302, Level = LogLevel.Information, Message = "web configuration {Path} reloaded")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Error, Message = "web configuration cannot be used, refusing every request until it is fixed: {Problem}")]
    private static partial void LogReloadFailed(ILogger logger, string problem);
}
