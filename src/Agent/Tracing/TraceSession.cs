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
    private const int StatLost = 0;
    private const int StatEntryMisses = 1;

    private static readonly string[] Programs = ["on_state", "on_send_reset", "on_receive_reset"];

    private readonly SafeBpfObjectHandle _object;
    private readonly List<SafeBpfLinkHandle> _links = [];
    private readonly SafeRingBufferHandle? _ring;
    private readonly Action<TraceRecord> _sink;
    private readonly Dictionary<string, int> _maps = new(StringComparer.Ordinal);
    private readonly byte* _image;
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
            }

            foreach (var map in new[] { "transitions", "durations", "resets", "opens", "closes", "stats", "config", "events" })
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
    /// <paramref name="sink"/> (<c>sockwatch trace</c>), else only close_wait entries and exits
    /// and connect failures. Records reach the sink on the consumer thread after <see cref="Start"/>.
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

        var session = new TraceSession(new SafeBpfObjectHandle(obj), image, sink);
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

    /// <summary>The kernel's counters now; the consumer's own aggregates are the caller's (<paramref name="connectFailures"/>).</summary>
    public TraceCounters Read(IReadOnlyDictionary<Peer, long> connectFailures)
    {
        var transitions = new List<TransitionCount>();
        ForEach<TransitionKey, ulong>(_maps["transitions"], (k, v) => transitions.Add(new(k.Netns, (TcpState)k.From, (TcpState)k.To, (long)v)));
        var durations = new List<StateDurations>();
        ForEach<StateKey, KernelHistogram>(_maps["durations"], (k, v) =>
        {
            var slots = new long[KernelHistogram.Slots];
            for (var i = 0; i < slots.Length; i++)
            {
                slots[i] = (long)v.Counts[i];
            }

            durations.Add(new(k.Netns, (TcpState)k.State, slots, v.SumNs / 1e9));
        });
        var resets = new List<ResetCount>();
        ForEach<ResetKey, ulong>(_maps["resets"], (k, v) => resets.Add(new(k.Netns, (TcpState)k.State, TraceDirections.ResetName(k.Direction), (long)v)));
        var opens = new List<OpenCount>();
        ForEach<OpenKey, ulong>(_maps["opens"], (k, v) => opens.Add(new(k.Netns, TraceDirections.OpenName(k.Direction), k.Cgroup, k.Comm.Text(), (long)v)));
        var closes = new Dictionary<Peer, long>();
        ForEach<PeerKey, ulong>(_maps["closes"], (k, v) =>
        {
            var peer = new Peer(k.Netns, k.Address.ToAddress(k.Family).ToString(), k.Port);
            closes[peer] = closes.GetValueOrDefault(peer) + (long)v;
        });
        return new TraceCounters(
            [.. transitions.OrderBy(t => t.Netns).ThenBy(t => t.From).ThenBy(t => t.To)],
            [.. durations.OrderBy(d => d.Netns).ThenBy(d => d.State)],
            [.. resets.OrderBy(r => r.Netns).ThenBy(r => r.State).ThenBy(r => r.Direction, StringComparer.Ordinal)],
            opens,
            closes,
            connectFailures,
            Stat(StatLost),
            Stat(StatEntryMisses));
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

    private long Stat(int index)
    {
        var key = (uint)index;
        ulong value = 0;
        return LibbpfNative.MapLookup(_maps["stats"], &key, &value) == 0 ? (long)value : 0;
    }

    private static void ForEach<TKey, TValue>(int fd, Action<TKey, TValue> visit)
        where TKey : unmanaged
        where TValue : unmanaged
    {
        TKey key = default;
        TKey next = default;
        TValue value = default;
        var first = true;
        while (LibbpfNative.MapGetNextKey(fd, first ? null : &key, &next) == 0)
        {
            first = false;
            key = next;
            if (LibbpfNative.MapLookup(fd, &key, &value) == 0)
            {
                visit(key, value);
            }
        }
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
