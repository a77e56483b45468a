using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SockWatch.Agent.Interop;
using SockWatch.Core;

namespace SockWatch.Agent.Tracing;

/// <summary>Tracing cannot run here: <see cref="Reason"/> is the <c>reason</c> label, the message says why in words.</summary>
internal sealed class TraceUnavailableException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}

/// <summary>
/// The TCP lifecycle tracer of bpf/sockwatch.bpf.c, loaded through the system's libbpf: the
/// object embedded in this binary is opened from memory, loaded (CO-RE against the kernel's
/// BTF), its three tracepoint programs attached, and its ring buffer consumed on a thread of
/// its own. Nothing is pinned: every program, map and link lives only through this process's
/// descriptors, so the kernel unloads all of it when the process ends, SIGKILL included.
/// </summary>
internal sealed unsafe class TraceSession : IDisposable
{
    /// <summary>The embedded object's resource name (SockWatch.Agent.csproj).</summary>
    internal const string ObjectResource = "sockwatch.bpf.o";

    private const string KernelBtf = "/sys/kernel/btf/vmlinux";
    /// <summary>
    /// How often the consumer drains the ring buffer. The program submits without waking the
    /// consumer (a wakeup per record costs a context switch per record at tens of thousands a
    /// second); 20 ms at 50,000 records a second is 1,000 records of the ring's 87,000.
    /// </summary>
    private const int DrainEveryMs = 20;

    /// <summary>
    /// The ring buffer's size for the daemon, which gets only connect failures: 2 MiB holds
    /// 20,000 records, a second of failed connects at 20,000 a second (the consumer drains it
    /// fifty times a second). The mapping of a BPF ring buffer counts twice its
    /// size in the process's RSS (its data pages are mapped twice, for records that wrap), so
    /// the program's 8 MiB would be 16 MiB of the daemon's RSS.
    /// </summary>
    internal const uint DaemonRingBytes = 2 * 1024 * 1024;

    /// <summary>The ring buffer's size for <c>sockwatch trace</c>, which gets every change (the program's own, 8 MiB).</summary>
    internal const uint StreamRingBytes = 8 * 1024 * 1024;
    private const int StatLost = 0;
    private const int StatEntryMisses = 1;
    private const int StatEvictions = 2;
    private const int StatNoRoom = 3;

    /// <summary>struct bpf_prog_info (linux/bpf.h): its size this build knows, and where recursion_misses is.</summary>
    private const int ProgramInfoSize = 232;
    private const int RecursionMissesOffset = 208;

    private static readonly string[] Programs = ["on_state", "on_send_reset", "on_receive_reset"];

    private readonly SafeBpfObjectHandle _object;
    private readonly List<SafeBpfLinkHandle> _links = [];
    private readonly SafeRingBufferHandle? _ring;
    private readonly Action<TraceRecord> _sink;
    private readonly Dictionary<string, int> _maps = new(StringComparer.Ordinal);
    private readonly byte* _image;
    private readonly int _cpus;
    private readonly List<int> _programFds = [];
    private GCHandle _self;
    private Thread? _consumer;
    private volatile bool _stopping;
    private int _disposed;

    private TraceSession(SafeBpfObjectHandle obj, byte* image, Action<TraceRecord> sink)
    {
        _object = obj;
        _image = image;
        _sink = sink;
        try
        {
            var loaded = LibbpfNative.ObjectLoad(obj);
            if (loaded < 0)
            {
                throw LoadFailure(-loaded);
            }

            foreach (var name in Programs)
            {
                var program = LibbpfNative.FindProgram(obj, name);
                var link = program == 0 ? 0 : LibbpfNative.ProgramAttach(program);
                if (link == 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw errno is 1 or 13
                        ? LoadFailure(errno)
                        : new TraceUnavailableException("attach_failed", $"cannot attach {name}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }

                _links.Add(new SafeBpfLinkHandle(link));
                _programFds.Add(LibbpfNative.ProgramFd(program));
            }

            _cpus = LibbpfNative.NumPossibleCpus();
            if (_cpus <= 0)
            {
                throw new TraceUnavailableException("load_failed", "cannot tell how many CPUs the per-CPU maps hold");
            }

            foreach (var map in new[] { "netstats", "sockets", "opens", "closes", "close_delays", "stats", "config", "events" })
            {
                var m = LibbpfNative.FindMap(obj, map);
                _maps[map] = m == 0 ? -1 : LibbpfNative.MapFd(m);
            }

            _self = GCHandle.Alloc(this);
            var ring = LibbpfNative.RingBufferNew(_maps["events"], &OnSample, (void*)GCHandle.ToIntPtr(_self), null);
            if (ring == 0)
            {
                throw new TraceUnavailableException("load_failed", "cannot open the ring buffer: " + Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
            }

            _ring = new SafeRingBufferHandle(ring);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads and attaches the tracer; <paramref name="streamAll"/> sends every state change to
    /// <paramref name="sink"/> (<c>sockwatch trace</c>), else only connect failures. Records reach the sink on the consumer thread after <see cref="Start"/>.
    /// </summary>
    /// <exception cref="TraceUnavailableException">Tracing is not possible here; the reason says why.</exception>
    public static TraceSession Open(bool streamAll, Action<TraceRecord> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (!File.Exists(KernelBtf))
        {
            throw new TraceUnavailableException("no_btf", $"the kernel has no BTF ({KernelBtf} missing): the tracer's CO-RE relocations cannot be resolved");
        }

        try
        {
            LibbpfNative.SetPrint(&Quiet);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new TraceUnavailableException("no_libbpf", $"{LibbpfNative.LibraryName} not found (apt-get install libbpf1)");
        }

        using var stream = typeof(TraceSession).Assembly.GetManifestResourceStream(ObjectResource)
            ?? throw new TraceUnavailableException("no_object", "the tracer's object is not embedded in this build");
        var length = (int)stream.Length;
        var image = (byte*)NativeMemory.Alloc((nuint)length);
        stream.ReadExactly(new Span<byte>(image, length));
        var obj = LibbpfNative.ObjectOpenMem(image, (nuint)length, null);
        if (obj == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            NativeMemory.Free(image);
            throw new TraceUnavailableException("load_failed", "cannot open the tracer's object: " + Marshal.GetPInvokeErrorMessage(errno));
        }

        var handle = new SafeBpfObjectHandle(obj);
        var events = LibbpfNative.FindMap(handle, "events");
        if (events != 0)
        {
            _ = LibbpfNative.MapSetMaxEntries(events, streamAll ? StreamRingBytes : DaemonRingBytes);
        }

        var session = new TraceSession(handle, image, sink);
        session.StreamAll(streamAll);
        return session;
    }

    /// <summary>Starts the ring buffer's consumer thread.</summary>
    public void Start()
    {
        _consumer = new Thread(Consume) { IsBackground = true, Name = "sockwatch trace" };
        _consumer.Start();
    }

    /// <summary>Whether every state change goes to the ring buffer (config[0]).</summary>
    public void StreamAll(bool on)
    {
        var key = 0u;
        var value = on ? 1u : 0u;
        _ = LibbpfNative.MapUpdate(_maps["config"], &key, &value, 0);
    }

    /// <summary>The kernel's counters now, each per-CPU copy summed; the consumer's own aggregates are the caller's (<paramref name="connectFailures"/>).</summary>
    public TraceCounters Read(IReadOnlyDictionary<Peer, long> connectFailures)
    {
        var transitions = new List<TransitionCount>();
        var durations = new List<StateDurations>();
        var resets = new List<ResetCount>();
        var cpuValue = new byte[NetStatsLayout.Size * _cpus];
        var summed = new ulong[NetStatsLayout.Size / sizeof(ulong)];
        foreach (var netns in Keys<uint>(_maps["netstats"]))
        {
            var key = netns;
            fixed (byte* value = cpuValue)
            {
                if (LibbpfNative.MapLookup(_maps["netstats"], &key, value) != 0)
                {
                    continue; // gone between the key and its value
                }
            }

            Array.Clear(summed);
            for (var cpu = 0; cpu < _cpus; cpu++)
            {
                var copy = MemoryMarshal.Cast<byte, ulong>(cpuValue.AsSpan(cpu * NetStatsLayout.Size, NetStatsLayout.Size));
                for (var i = 0; i < summed.Length; i++)
                {
                    summed[i] += copy[i];
                }
            }

            AddNamespace(netns, summed, transitions, durations, resets);
        }

        var opens = new List<OpenCount>();
        foreach (var (k, v) in PerCpuCounts<OpenKey>(_maps["opens"]))
        {
            opens.Add(new(k.Netns, TraceDirections.OpenName(k.Direction), k.Cgroup, k.Comm.Text(), v));
        }

        var closes = new Dictionary<Peer, long>();
        foreach (var (k, v) in PerCpuCounts<PeerKey>(_maps["closes"]))
        {
            var peer = new Peer(k.Netns, k.Address.ToAddress(k.Family).ToString(), k.Port);
            closes[peer] = closes.GetValueOrDefault(peer) + v;
        }

        return new TraceCounters(
            [.. transitions.OrderBy(t => t.Netns).ThenBy(t => t.From).ThenBy(t => t.To)],
            [.. durations.OrderBy(d => d.Netns).ThenBy(d => d.State)],
            [.. resets.OrderBy(r => r.Netns).ThenBy(r => r.State).ThenBy(r => r.Direction, StringComparer.Ordinal)],
            opens,
            closes,
            connectFailures,
            Stat(StatLost),
            Stat(StatEntryMisses),
            Stat(StatNoRoom) + RecursionMisses(),
            Stat(StatEvictions));
    }

    /// <summary>
    /// When the socket <paramref name="cookie"/>, which a poll found in close_wait, entered it
    /// (CLOCK_MONOTONIC ns), from the socket table; false when the table does not hold that
    /// entry: the peer's FIN came before tracing started, the socket's entry was evicted, or it
    /// has left close_wait since.
    /// </summary>
    public bool TryCloseWaitEntry(ulong cookie, out long enteredNs)
    {
        var index = SocketTableLayout.SetOf(cookie);
        const int words = SocketTableLayout.Ways * 2;
        var set = stackalloc ulong[words];
        if (LibbpfNative.MapLookup(_maps["sockets"], &index, set) != 0)
        {
            enteredNs = 0;
            return false;
        }

        return SocketTableLayout.TryEntry(new ReadOnlySpan<ulong>(set, words), cookie, TcpState.CloseWait, out enteredNs);
    }

    /// <summary>
    /// How long each application (namespace, comm) took to close after the peer's FIN since
    /// tracing started: log2 slots of ns (<see cref="NetStatsLayout.Slots"/>), the CPUs' copies summed.
    /// </summary>
    public Dictionary<(uint Netns, string Process), long[]> CloseDelays()
    {
        const int slots = NetStatsLayout.Slots;
        var delays = new Dictionary<(uint, string), long[]>();
        var values = new ulong[slots * _cpus];
        foreach (var k in Keys<DelayKey>(_maps["close_delays"]))
        {
            var key = k;
            fixed (ulong* value = values)
            {
                if (LibbpfNative.MapLookup(_maps["close_delays"], &key, value) != 0)
                {
                    continue; // evicted between the key and its value
                }
            }

            var owner = (k.Netns, k.Comm.Text());
            if (!delays.TryGetValue(owner, out var summed))
            {
                delays[owner] = summed = new long[slots];
            }

            for (var i = 0; i < values.Length; i++)
            {
                summed[i % slots] += (long)values[i];
            }
        }

        return delays;
    }

    /// <summary>One namespace's summed <c>struct netstats</c> as counts, histograms and resets.</summary>
    internal static void AddNamespace(uint netns, ReadOnlySpan<ulong> stats, List<TransitionCount> transitions, List<StateDurations> durations, List<ResetCount> resets)
    {
        const int states = NetStatsLayout.States;
        for (var from = 0; from < states; from++)
        {
            for (var to = 0; to < states; to++)
            {
                var count = stats[(NetStatsLayout.ChangesOffset / sizeof(ulong)) + (from * states) + to];
                if (count > 0)
                {
                    transitions.Add(new(netns, (TcpState)from, (TcpState)to, (long)count));
                }
            }

            var slots = new long[NetStatsLayout.Slots];
            var any = false;
            for (var k = 0; k < slots.Length; k++)
            {
                slots[k] = (long)stats[(NetStatsLayout.SlotsOffset / sizeof(ulong)) + (from * NetStatsLayout.Slots) + k];
                any |= slots[k] > 0;
            }

            if (any)
            {
                durations.Add(new(netns, (TcpState)from, slots, stats[(NetStatsLayout.SumOffset / sizeof(ulong)) + from] / 1e9));
            }

            for (byte direction = 0; direction < 2; direction++)
            {
                var count = stats[(NetStatsLayout.ResetsOffset / sizeof(ulong)) + (from * 2) + direction];
                if (count > 0)
                {
                    resets.Add(new(netns, (TcpState)from, TraceDirections.ResetName(direction), (long)count));
                }
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _consumer?.Join();
        _ring?.Dispose();
        foreach (var link in _links)
        {
            link.Dispose();
        }

        _object.Dispose();
        NativeMemory.Free(_image);
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    private static TraceUnavailableException LoadFailure(int errno) => errno is 1 or 13
        ? new TraceUnavailableException("permission_denied", "the kernel refused to load the tracer (needs CAP_BPF and CAP_PERFMON, or root): " + Marshal.GetPInvokeErrorMessage(errno))
        : new TraceUnavailableException("load_failed", "the kernel refused the tracer: " + Marshal.GetPInvokeErrorMessage(errno));

    /// <summary>One entry of the per-CPU <c>stats</c> array, summed over the CPUs.</summary>
    private long Stat(int index)
    {
        var key = (uint)index;
        var values = stackalloc ulong[_cpus];
        if (LibbpfNative.MapLookup(_maps["stats"], &key, values) != 0)
        {
            return 0;
        }

        ulong sum = 0;
        for (var cpu = 0; cpu < _cpus; cpu++)
        {
            sum += values[cpu];
        }

        return (long)sum;
    }

    /// <summary>Runs of the programs the kernel skipped because one was already running on that CPU.</summary>
    private long RecursionMisses()
    {
        long sum = 0;
        var info = stackalloc byte[ProgramInfoSize];
        foreach (var fd in _programFds)
        {
            new Span<byte>(info, ProgramInfoSize).Clear();
            var length = (uint)ProgramInfoSize;
            if (LibbpfNative.ObjectInfo(fd, info, &length) == 0 && length >= RecursionMissesOffset + sizeof(ulong))
            {
                sum += (long)Unsafe.ReadUnaligned<ulong>(info + RecursionMissesOffset);
            }
        }

        return sum;
    }

    private static List<TKey> Keys<TKey>(int fd)
        where TKey : unmanaged
    {
        var keys = new List<TKey>();
        TKey key = default;
        TKey next = default;
        var first = true;
        while (LibbpfNative.MapGetNextKey(fd, first ? null : &key, &next) == 0)
        {
            first = false;
            key = next;
            keys.Add(key);
        }

        return keys;
    }

    /// <summary>The keys of a per-CPU map of u64 counters, each with its copies summed.</summary>
    private List<(TKey Key, long Count)> PerCpuCounts<TKey>(int fd)
        where TKey : unmanaged
    {
        var counts = new List<(TKey, long)>();
        var values = new ulong[_cpus];
        foreach (var k in Keys<TKey>(fd))
        {
            var key = k;
            fixed (ulong* value = values)
            {
                if (LibbpfNative.MapLookup(fd, &key, value) != 0)
                {
                    continue;
                }
            }

            ulong sum = 0;
            foreach (var v in values)
            {
                sum += v;
            }

            counts.Add((k, (long)sum));
        }

        return counts;
    }

    private void Consume()
    {
        while (!_stopping)
        {
            if (LibbpfNative.RingBufferConsume(_ring!) < 0)
            {
                return; // the ring is gone
            }

            Thread.Sleep(DrainEveryMs);
        }

        _ = LibbpfNative.RingBufferConsume(_ring!); // what came before the stop
    }

    [UnmanagedCallersOnly]
    private static int OnSample(void* context, void* data, nuint size)
    {
        if (size < (nuint)sizeof(TraceRecord))
        {
            return 0;
        }

        var session = (TraceSession)GCHandle.FromIntPtr((nint)context).Target!;
        try
        {
            session._sink(Unsafe.ReadUnaligned<TraceRecord>(data));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A sink that throws must not unwind through libbpf; the record is dropped.
        }

        return 0;
    }

    /// <summary>libbpf's own messages go nowhere: a failure is reported once, by the caller, with its reason.</summary>
    [UnmanagedCallersOnly]
    private static int Quiet(int level, byte* format, nint args) => 0;
}
