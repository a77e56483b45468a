using System.Globalization;
using Microsoft.Extensions.Logging;
using SockWatch.Core;

namespace SockWatch.Collectors.Ownership;

/// <summary>The owner of every socket of one table, by index.</summary>
public sealed class SocketOwnership
{
    internal SocketOwnership(SocketOwner?[] owners, OwnerVia[] via, UnownedReason[] reasons, string?[] cgroupUnits, OwnerScanStats stats)
    {
        CgroupUnits = cgroupUnits;
        Owners = owners;
        Via = via;
        Reasons = reasons;
        Stats = stats;
    }

    public IReadOnlyList<SocketOwner?> Owners { get; }

    public IReadOnlyList<OwnerVia> Via { get; }

    public IReadOnlyList<UnownedReason> Reasons { get; }

    /// <summary>
    /// The unit of the socket's own cgroup (INET_DIAG_CGROUP_ID, netlink only), found without
    /// walking processes and without privileges; null when unknown.
    /// </summary>
    public IReadOnlyList<string?> CgroupUnits { get; }

    public OwnerScanStats Stats { get; }

    /// <summary>Unowned sockets by reason (index: <see cref="UnownedReason"/>).</summary>
    public int CountUnowned(UnownedReason reason)
    {
        var n = 0;
        foreach (var r in Reasons)
        {
            if (r == reason)
            {
                n++;
            }
        }

        return n;
    }
}

/// <summary>
/// Names the process, user, unit and container behind each socket: descriptors first
/// (<see cref="ProcessScanner"/>); then sockets without an inode (time_wait, syn_recv requests,
/// orphans closed by their application, children not yet accepted) whose local port is a local
/// listener's, attributed to that listener's owner and marked <see cref="OwnerVia.Listener"/>.
/// The rest stay unowned, with the reason counted.
/// </summary>
public sealed partial class OwnerResolver
{
    private const int CapDacReadSearch = 2;
    private const int CapSysPtrace = 19;

    private readonly ProcessScanner _scanner;
    private readonly CgroupIdMap? _cgroups;
    private readonly Dictionary<ulong, string?> _unitOfCgroup = [];
    private bool _prepared;

    public OwnerResolver(string procRoot, ILogger logger, string passwdPath = "/etc/passwd")
    {
        ArgumentNullException.ThrowIfNull(logger);
        _scanner = new ProcessScanner(procRoot, passwdPath);
        _cgroups = CgroupIdMap.FindCgroup2Mount() is { } mount ? new CgroupIdMap(mount) : null;
        // The capabilities are this process's, whatever tree is being read.
        var missing = MissingCapabilities("/proc");
        if (missing.Count > 0)
        {
            LogBlind(logger, string.Join(" and ", missing));
        }
    }

    public SocketOwnership Resolve(SocketTable table) => Resolve(table, null);

    /// <summary>
    /// The part of the next <see cref="Resolve(SocketTable, IReadOnlyList{ValueTuple{int, int}})"/>
    /// that needs no table: the walk of /proc and the descriptors of new and changed processes.
    /// A poll runs it beside its dump, on another thread, and then resolves.
    /// </summary>
    /// <exception cref="CollectorException">/proc cannot be listed.</exception>
    public void Prepare()
    {
        _scanner.Refresh();
        _prepared = true;
    }

    /// <summary>
    /// Owners of every socket of <paramref name="table"/>. Descriptors and processes are
    /// host-wide (a socket's inode is unique across network namespaces), so one scan serves every
    /// namespace; listener attribution stays within each <paramref name="segments"/> entry (the
    /// sockets of one namespace), since port 8080 of one namespace is not port 8080 of another.
    /// </summary>
    public SocketOwnership Resolve(SocketTable table, IReadOnlyList<(int Start, int Count)>? segments)
    {
        ArgumentNullException.ThrowIfNull(table);
        var stats = _prepared ? _scanner.Place(table) : _scanner.Scan(table);
        _prepared = false;
        var records = table.Records;
        var owners = new SocketOwner?[records.Length];
        var via = new OwnerVia[records.Length];
        var reasons = new UnownedReason[records.Length];
        var all = segments ?? [(0, records.Length)];
        var denied = _scanner.DeniedProcesses > 0;
        Dictionary<ushort, SocketOwner>? listeners = null;
        foreach (var (start, count) in all)
        {
            // Listeners of this namespace by local port. A time_wait or request socket on that
            // port was accepted by it (or is on its way to be); a client's time_wait sits on an
            // ephemeral port no listener has. Port 8080 of one namespace is not another's.
            listeners?.Clear();
            for (var i = start; i < start + count; i++)
            {
                ref readonly var r = ref records[i];
                if (r.Inode == 0)
                {
                    continue;
                }

                owners[i] = _scanner.OwnerOf(r.Inode);
                if (owners[i] is { } owner && r.State == TcpState.Listen)
                {
                    listeners ??= [];
                    listeners.TryAdd(r.LocalPort, owner);
                }
            }

            for (var i = start; i < start + count; i++)
            {
                ref readonly var r = ref records[i];
                if (owners[i] is not null)
                {
                    via[i] = OwnerVia.Descriptor;
                    continue;
                }

                if (r.Inode == 0)
                {
                    if (listeners is not null && listeners.TryGetValue(r.LocalPort, out var listener))
                    {
                        owners[i] = listener;
                        via[i] = OwnerVia.Listener;
                    }
                    else
                    {
                        reasons[i] = UnownedReason.NoInode;
                    }

                    continue;
                }

                reasons[i] = denied ? UnownedReason.PermissionDenied : UnownedReason.NotFound;
            }
        }

        return new SocketOwnership(owners, via, reasons, UnitsByCgroupId(records), stats);
    }

    /// <summary>Units from the sockets' cgroup ids, one lookup per distinct id.</summary>
    internal string?[] UnitsByCgroupId(ReadOnlySpan<SocketRecord> records)
    {
        var units = new string?[records.Length];
        if (_cgroups is null)
        {
            return units;
        }

        _cgroups.BeginRound();
        _unitOfCgroup.Clear();
        for (var i = 0; i < records.Length; i++)
        {
            var id = records[i].CgroupId;
            if (id == 0)
            {
                continue;
            }

            if (!_unitOfCgroup.TryGetValue(id, out var unit))
            {
                unit = _cgroups.Lookup(id) is { } path ? CgroupParser.Describe(path).Unit : null;
                _unitOfCgroup[id] = unit;
            }

            units[i] = unit;
        }

        return units;
    }

    /// <summary>What of CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH this process lacks (from CapEff in /proc/self/status).</summary>
    internal static List<string> MissingCapabilities(string procRoot)
    {
        var missing = new List<string>(2);
        ulong effective = 0;
        try
        {
            foreach (var line in File.ReadLines(Path.Join(procRoot, "self", "status")))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                {
                    ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out effective);
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unknown: say nothing rather than something wrong.
            return missing;
        }

        if ((effective & (1UL << CapSysPtrace)) == 0)
        {
            missing.Add("CAP_SYS_PTRACE");
        }

        if ((effective & (1UL << CapDacReadSearch)) == 0)
        {
            missing.Add("CAP_DAC_READ_SEARCH");
        }

        return missing;
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning,
        Message = "without {Capabilities}, sockets held by other users' processes cannot be tied to a process; they are reported unowned (permission_denied)")]
    private static partial void LogBlind(ILogger logger, string capabilities);
}
