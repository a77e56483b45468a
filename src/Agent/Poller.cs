using Microsoft.Extensions.Logging;
using SockWatch.Agent.Configuration;
using SockWatch.Collectors;
using SockWatch.Collectors.Facts;
using SockWatch.Collectors.Ownership;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.Agent;

/// <summary>What one poll produced.</summary>
internal sealed record PollOutcome(SocketTable Table, CollectionStats Stats, SocketOwnership Ownership, PollInput Input);

/// <summary>
/// One poll of the namespace this thread is in: the socket table (tcp_info only for close_wait
/// and fin_wait2, whose ages it bounds), the owners, the namespace's sysctls and counters, and
/// the descriptor use of every process that holds a close_wait socket.
/// </summary>
internal sealed class Poller : IDisposable
{
    private static readonly uint TcpInfoStates = TcpStateMask.Of([TcpState.CloseWait, TcpState.FinWait2]);

    private readonly ISocketCollector _collector;
    private readonly OwnerResolver _owners;
    private readonly NamespaceFactsReader _facts;
    private readonly DescriptorUsageReader _descriptors;
    private readonly string _procRoot;

    public Poller(SockWatchOptions options, ILogger logger)
    {
        _procRoot = options.ProcRoot;
        var kind = CollectorKinds.TryParse(options.Collector, out var k) ? k : CollectorKind.Auto; // validated at start
        _collector = CollectorKinds.Create(kind, options.ProcRoot, logger);
        _owners = new OwnerResolver(options.ProcRoot, logger);
        _facts = new NamespaceFactsReader(options.ProcRoot);
        _descriptors = new DescriptorUsageReader(options.ProcRoot);
    }

    public string CollectorName => _collector.Name;

    /// <exception cref="CollectorException">The socket table or /proc could not be read.</exception>
    public PollOutcome Poll(DateTimeOffset at)
    {
        var table = new SocketTable(4096);
        var hint = SocketCountHint.Read(_procRoot);
        table.EnsureCapacity(hint + (hint / 10) + 256);
        var stats = _collector.Collect(table, new CollectRequest { TcpInfoStateMask = TcpInfoStates });
        var ownership = _owners.Resolve(table);

        var descriptors = new Dictionary<int, DescriptorUsage>();
        var records = table.Records;
        for (var i = 0; i < records.Length; i++)
        {
            if (records[i].State == TcpState.CloseWait && ownership.Owners[i] is { } owner && !descriptors.ContainsKey(owner.Pid)
                && _descriptors.Read(owner.Pid) is { } usage)
            {
                descriptors[owner.Pid] = usage;
            }
        }

        var input = new PollInput
        {
            At = at,
            Sockets = table.AsMemory(),
            Owners = ownership.Owners,
            Facts = _facts.Read(),
            Descriptors = descriptors,
        };
        return new PollOutcome(table, stats, ownership, input);
    }

    public void Dispose() => _collector.Dispose();
}
