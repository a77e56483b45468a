using Microsoft.Extensions.Logging.Abstractions;
using SockWatch.Agent.Configuration;
using SockWatch.Agent.Daemon;
using SockWatch.Agent.Metrics;
using SockWatch.Agent.Polling;
using SockWatch.Agent.Tests.Metrics;
using SockWatch.Core;
using SockWatch.Core.Detection;

namespace SockWatch.ExporterBench;

/// <summary>The polls both exporters are fed: the golden fixture tree, a 100,000-socket poll, and churning owners.</summary>
internal static class Populations
{
    /// <summary>
    /// One poll of tests/fixtures/proc-metrics by the daemon's own poll step (proc collector),
    /// as ScrapeTests' daemon makes it: the population of the golden file scrape-proc-metrics.txt.
    /// </summary>
    public static void PollFixture(string repo, Host host)
    {
        var options = new SockWatchOptions
        {
            Collector = "proc",
            ProcRoot = Path.Combine(repo, "tests", "fixtures", "proc-metrics"),
            PollInterval = TimeSpan.FromHours(1),
        };
        if (host.Pipeline is null)
        {
            throw new InvalidOperationException("the fixture poll goes through the daemon's poll step, which needs our pipeline");
        }

        var loop = new PollLoop(options, host.Store, host.Pipeline, NullLogger<PollLoop>.Instance, TimeProvider.System);
        var settings = PollSettings.For(options, options.Namespaces("all")) with { RedumpAfter = options.NetnsRedumpAfter };
        using var poller = new PollPipeline(settings, NullLogger.Instance);
        loop.PollOnce(poller); // the store publishes the poll to our pipeline
        host.Published(host.Store.Latest ?? throw new InvalidOperationException("the fixture poll failed"));
    }

    /// <summary>
    /// A synthetic poll of <paramref name="sockets"/> sockets in one namespace, every capped label
    /// over its cap (200 owners, 300 destinations, 100 listeners), every state present, with a
    /// poll before it three minutes earlier so that transitions, anomalies and leaks exist.
    /// Tracked, judged and turned into metrics by the daemon's own code.
    /// </summary>
    public static PollResult Large(int sockets, SeriesCaps caps)
    {
        var tracker = new SocketTracker();
        _ = Build(tracker, PollFactory.Start, sockets, moved: false, caps);
        return Build(tracker, PollFactory.Start.AddMinutes(3), sockets, moved: true, caps);
    }

    /// <summary>Poll <paramref name="poll"/> of the churn, as OwnerChurnTests makes it: <paramref name="perPoll"/> owners never seen before, one established and one close_wait socket each.</summary>
    public static PollResult Churn(SocketTracker tracker, int poll, int perPoll, SeriesCaps caps)
    {
        var (records, owners) = PollFactory.ChurnPoll(poll, perPoll);
        return PollFactory.Result(tracker, PollFactory.Start.AddSeconds(15 * (poll + 1)), records, owners, caps);
    }

    private static PollResult Build(SocketTracker tracker, DateTimeOffset at, int count, bool moved, SeriesCaps caps)
    {
        const int Owners = 200, Listeners = 100, Destinations = 300;
        var owners = Enumerable.Range(0, Owners).Select(o => PollFactory.Owner(1000 + o, $"svc{o}", $"svc{o}.service")).ToArray();
        TcpState[] mix =
        [
            TcpState.Established, TcpState.Established, TcpState.Established, TcpState.Established, TcpState.Established,
            TcpState.Established, TcpState.Established, TcpState.Established, TcpState.TimeWait, TcpState.TimeWait,
            TcpState.TimeWait, TcpState.TimeWait, TcpState.CloseWait, TcpState.SynRecv, TcpState.SynSent,
            TcpState.FinWait1, TcpState.FinWait2, TcpState.LastAck, TcpState.Closing, TcpState.Close,
        ];
        var records = new SocketRecord[count];
        var socketOwners = new SocketOwner?[count];
        for (var i = 0; i < count; i++)
        {
            if (i < Listeners)
            {
                records[i] = PollFactory.Socket(TcpState.Listen, "10.0.0.1", 8000 + i, "0.0.0.0", 0, (ulong)i + 1, rx: (uint)(i % 50), tx: 128);
                socketOwners[i] = owners[i % Owners];
                continue;
            }

            var state = mix[i % mix.Length];
            if (moved && i % 97 == 0 && state == TcpState.Established)
            {
                state = TcpState.CloseWait;
            }

            var d = i % Destinations;
            var remote = $"10.2.{d / 250}.{(d % 250) + 1}";
            var timeWait = state == TcpState.TimeWait;
            records[i] = PollFactory.Socket(state, "10.0.0.1", 32768 + (i / Destinations % 28000), remote, 5432, timeWait ? 0 : (ulong)i + 1, rx: state == TcpState.CloseWait ? 1u : 0);
            socketOwners[i] = timeWait ? null : owners[(i * 7) % Owners];
        }

        var facts = new NamespaceFacts
        {
            EphemeralPorts = new PortRange(32768, 60999),
            MaxTimeWaitBuckets = 262144,
            Counters = new Dictionary<string, long> { ["TCPTimeWaitOverflow"] = 2, ["ListenOverflows"] = 5, ["ListenDrops"] = 6 },
        };
        return PollFactory.Result(tracker, at, records, socketOwners, caps, facts, owners.ToDictionary(o => o.Pid, o => new DescriptorUsage(100 + (o.Pid % 900), 1024)));
    }
}
