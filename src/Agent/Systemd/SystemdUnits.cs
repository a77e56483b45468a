using System.Globalization;
using Microsoft.Extensions.Logging;
using SockWatch.Core;
using SockWatch.Core.Detection;
using Tmds.DBus.Protocol;

namespace SockWatch.Agent.Systemd;

/// <summary>What systemd says about one service unit: how often it restarted it, its state, its descriptor limit.</summary>
/// <param name="Unit">The unit's name.</param>
/// <param name="Restarts">NRestarts: automatic restarts since the unit was last started by hand or reset.</param>
/// <param name="ActiveState">ActiveState: active, activating, deactivating, failed, inactive, ...</param>
/// <param name="DescriptorLimit">LimitNOFILESoft, the soft RLIMIT_NOFILE its processes start with; null when unlimited.</param>
internal sealed record UnitFacts(string Unit, uint Restarts, string ActiveState, ulong? DescriptorLimit);

/// <summary>A unit's restart count in one namespace, as <c>sockwatch_unit_restarts</c> exports it.</summary>
internal readonly record struct UnitRestarts(string Netns, string Unit, uint Restarts);

/// <summary>
/// Asks systemd, over the system bus (org.freedesktop.systemd1, through Tmds.DBus.Protocol), about
/// the service units that own close_wait leaks: a leak's story often includes systemd restarting
/// the service when it ran out of descriptors, and the restart count says so. One connection,
/// made when first needed and made again after it broke. Nothing here fails a poll: without a
/// bus, without systemd on it, or for a unit that vanished, the facts are absent and one debug
/// line says why (again only when the reason changes).
/// </summary>
internal sealed partial class SystemdUnits : IDisposable
{
    private const string Systemd1 = "org.freedesktop.systemd1";

    /// <summary>One call's limit: systemd answers in microseconds, a hung bus must not hold a poll.</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);

    private readonly string? _address;
    private readonly ILogger _logger;
    private DBusConnection? _connection;
    private string? _lastReason;

    /// <param name="address">The bus address (<see cref="DBusAddress.System"/>); null: there is no system bus.</param>
    /// <param name="logger">Where the debug lines go.</param>
    public SystemdUnits(string? address, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _address = address;
        _logger = logger;
    }

    /// <summary>On the system bus (DBUS_SYSTEM_BUS_ADDRESS, else /run/dbus/system_bus_socket).</summary>
    public static SystemdUnits System(ILogger logger) => new(DBusAddress.System, logger);

    /// <summary>
    /// The close_wait leak findings whose owner runs in a service unit, with the unit's restart
    /// count added to the sentence and to the values; every other finding as it was. The units'
    /// restart counts, per namespace, go to <paramref name="restarts"/>.
    /// </summary>
    public IReadOnlyList<Finding> Annotate(IReadOnlyList<Finding> findings, string defaultNetns, List<UnitRestarts> restarts)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(restarts);
        Finding[]? annotated = null;
        var asked = new Dictionary<string, UnitFacts?>(StringComparer.Ordinal);
        for (var i = 0; i < findings.Count; i++)
        {
            var f = findings[i];
            if (f.Kind != FindingKind.CloseWaitLeak || f.Owner?.Unit is not { } unit || !unit.EndsWith(".service", StringComparison.Ordinal))
            {
                continue;
            }

            if (!asked.TryGetValue(unit, out var facts))
            {
                asked[unit] = facts = Query(unit);
            }

            if (facts is null)
            {
                continue;
            }

            var netns = f.Netns ?? defaultNetns;
            if (!restarts.Exists(r => r.Netns == netns && r.Unit == unit))
            {
                restarts.Add(new UnitRestarts(netns, unit, facts.Restarts));
            }

            annotated ??= [.. findings];
            annotated[i] = With(f, facts);
        }

        return annotated ?? findings;
    }

    /// <summary>The finding with systemd's facts in its sentence and values.</summary>
    internal static Finding With(Finding finding, UnitFacts facts)
    {
        ArgumentNullException.ThrowIfNull(finding);
        ArgumentNullException.ThrowIfNull(facts);
        var values = new Dictionary<string, double>(finding.Values, StringComparer.Ordinal) { [FindingValues.UnitRestarts] = facts.Restarts };
        var limit = "";
        if (facts.DescriptorLimit is { } l)
        {
            values[FindingValues.UnitDescriptorLimit] = l;
            limit = string.Create(CultureInfo.InvariantCulture, $", LimitNOFILE {l}");
        }

        var text = string.Create(CultureInfo.InvariantCulture, $"{finding.Explanation}; systemd restarted {facts.Unit} {Text.Count(facts.Restarts, "time", "times")} ({facts.ActiveState}{limit})");
        return finding with { Explanation = text, Values = values };
    }

    /// <summary>systemd's facts about <paramref name="unit"/>; null, with one debug line, when they cannot be had.</summary>
    public UnitFacts? Query(string unit)
    {
        ArgumentNullException.ThrowIfNull(unit);

        // On the thread pool: the connection's replies complete on it, and a caller's
        // synchronization context (a test runner's) must not be the one they wait for.
        return Task.Run(() => QueryOnPool(unit)).GetAwaiter().GetResult();
    }

    private UnitFacts? QueryOnPool(string unit)
    {
        if (_address is null)
        {
            Unavailable("there is no system bus address");
            return null;
        }

        try
        {
            var connection = Connect();
            var path = Call(connection, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "GetUnit", [unit], (m, _) => m.GetBodyReader().ReadObjectPathAsString());
            var restarts = Call(connection, path, "org.freedesktop.DBus.Properties", "Get", ["org.freedesktop.systemd1.Service", "NRestarts"], (m, _) => m.GetBodyReader().ReadVariantValue().GetUInt32());
            var state = Call(connection, path, "org.freedesktop.DBus.Properties", "Get", ["org.freedesktop.systemd1.Unit", "ActiveState"], (m, _) => m.GetBodyReader().ReadVariantValue().GetString());
            var limit = Call(connection, path, "org.freedesktop.DBus.Properties", "Get", ["org.freedesktop.systemd1.Service", "LimitNOFILESoft"], (m, _) => m.GetBodyReader().ReadVariantValue().GetUInt64());
            _lastReason = null;
            return new UnitFacts(unit, restarts, state, limit == ulong.MaxValue ? null : limit);
        }
        catch (DBusErrorReplyException e)
        {
            // org.freedesktop.systemd1.NoSuchUnit (the unit vanished), ServiceUnknown (no systemd on the bus), ...
            Unavailable(string.Create(CultureInfo.InvariantCulture, $"{unit}: {e.ErrorName}"));
            return null;
        }
        catch (Exception e) when (e is DBusConnectionException or TimeoutException or IOException or global::System.Net.Sockets.SocketException or InvalidOperationException or ObjectDisposedException)
        {
            // No bus, a bus that went away, or one that does not answer: connect afresh next time.
            _connection?.Dispose();
            _connection = null;
            Unavailable(e.Message);
            return null;
        }
    }

    public void Dispose() => _connection?.Dispose();

    /// <summary>One method call whose arguments are all strings, its reply read by <paramref name="read"/>.</summary>
    private static T Call<T>(DBusConnection connection, string path, string iface, string member, string[] args, MessageValueReader<T> read)
    {
        // The writer is a mutable struct: written through this local only. Through a delegate, or
        // as a `using` variable (read-only, so each call works on a copy), the body is lost and
        // the bus drops the connection for a message whose signature promises one.
        MessageBuffer message;
        var writer = connection.GetMessageWriter();
        try
        {
            writer.WriteMethodCallHeader(destination: Systemd1, path: path, @interface: iface, member: member, signature: new string('s', args.Length));
            foreach (var a in args)
            {
                writer.WriteString(a);
            }

            message = writer.CreateMessage();
        }
        finally
        {
            writer.Dispose();
        }

        return connection.CallMethodAsync(message, read).WaitAsync(CallTimeout).GetAwaiter().GetResult();
    }

    private DBusConnection Connect()
    {
        if (_connection is null)
        {
            var connection = new DBusConnection(_address!);
            try
            {
                connection.ConnectAsync().AsTask().WaitAsync(CallTimeout).GetAwaiter().GetResult();
            }
            catch
            {
                connection.Dispose();
                throw;
            }

            _connection = connection;
        }

        return _connection;
    }

    private void Unavailable(string reason)
    {
        if (reason != _lastReason)
        {
            _lastReason = reason;
            LogUnavailable(_logger, reason);
        }
    }

    [LoggerMessage(EventId = 3501, Level = LogLevel.Debug, Message = "systemd's unit facts (restarts, state, descriptor limit) are not available, so sockwatch_unit_restarts is absent: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string reason);
}
