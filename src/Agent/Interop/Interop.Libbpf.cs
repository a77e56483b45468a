using System.Runtime.InteropServices;

namespace SockWatch.Agent.Interop;

/// <summary>
/// The system's libbpf (libbpf.so.1; /usr/include/bpf/libbpf.h and bpf.h of libbpf-dev), looked
/// up at run time: a host without it runs SockWatch poll-only, so it is never bound at link time
/// (no DirectPInvoke). libbpf 1.x returns NULL with errno set from its constructors and a
/// negative errno from the rest. Callers go through <see cref="Libbpf"/>'s handles.
/// </summary>
internal static unsafe partial class LibbpfNative
{
    internal const string LibraryName = "libbpf.so.1";

    /// <summary>libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn): the previous printer.</summary>
    [LibraryImport(LibraryName, EntryPoint = "libbpf_set_print")]
    internal static partial nint SetPrint(delegate* unmanaged<int, byte*, nint, int> print);

    /// <summary>struct bpf_object *bpf_object__open_mem(const void *obj_buf, size_t obj_buf_sz, const struct bpf_object_open_opts *opts).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_object__open_mem", SetLastError = true)]
    internal static partial nint ObjectOpenMem(byte* buffer, nuint size, void* options);

    /// <summary>int bpf_object__load(struct bpf_object *obj).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_object__load")]
    internal static partial int ObjectLoad(SafeBpfObjectHandle obj);

    /// <summary>void bpf_object__close(struct bpf_object *obj): unloads its programs and maps (their last descriptors).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_object__close")]
    internal static partial void ObjectClose(nint obj);

    /// <summary>struct bpf_program *bpf_object__find_program_by_name(const struct bpf_object *obj, const char *name).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint FindProgram(SafeBpfObjectHandle obj, string name);

    /// <summary>struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint FindMap(SafeBpfObjectHandle obj, string name);

    /// <summary>int bpf_map__fd(const struct bpf_map *map).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_map__fd")]
    internal static partial int MapFd(nint map);

    /// <summary>struct bpf_link *bpf_program__attach(const struct bpf_program *prog).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_program__attach", SetLastError = true)]
    internal static partial nint ProgramAttach(nint program);

    /// <summary>int bpf_link__destroy(struct bpf_link *link): detaches and frees.</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_link__destroy")]
    internal static partial int LinkDestroy(nint link);

    /// <summary>int bpf_map_get_next_key(int fd, const void *key, void *next_key): -ENOENT after the last key.</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_map_get_next_key")]
    internal static partial int MapGetNextKey(int fd, void* key, void* nextKey);

    /// <summary>int bpf_map_lookup_elem(int fd, const void *key, void *value).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_map_lookup_elem")]
    internal static partial int MapLookup(int fd, void* key, void* value);

    /// <summary>int bpf_map__set_max_entries(struct bpf_map *map, __u32 max_entries): before the object is loaded.</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_map__set_max_entries")]
    internal static partial int MapSetMaxEntries(nint map, uint maxEntries);

    /// <summary>int libbpf_num_possible_cpus(void): the CPUs a per-CPU map holds a value for.</summary>
    [LibraryImport(LibraryName, EntryPoint = "libbpf_num_possible_cpus")]
    internal static partial int NumPossibleCpus();

    /// <summary>int bpf_program__fd(const struct bpf_program *prog).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_program__fd")]
    internal static partial int ProgramFd(nint program);

    /// <summary>int bpf_obj_get_info_by_fd(int bpf_fd, void *info, __u32 *info_len).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_obj_get_info_by_fd")]
    internal static partial int ObjectInfo(int fd, void* info, uint* length);

    /// <summary>int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags).</summary>
    [LibraryImport(LibraryName, EntryPoint = "bpf_map_update_elem")]
    internal static partial int MapUpdate(int fd, void* key, void* value, ulong flags);

    /// <summary>
    /// struct ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn sample_cb, void *ctx,
    /// const struct ring_buffer_opts *opts); the callback is int (*)(void *ctx, void *data, size_t size).
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "ring_buffer__new", SetLastError = true)]
    internal static partial nint RingBufferNew(int mapFd, delegate* unmanaged<void*, void*, nuint, int> sample, void* context, void* options);

    /// <summary>int ring_buffer__poll(struct ring_buffer *rb, int timeout_ms): records consumed, or a negative errno.</summary>
    [LibraryImport(LibraryName, EntryPoint = "ring_buffer__poll")]
    internal static partial int RingBufferPoll(SafeRingBufferHandle ring, int timeoutMs);

    /// <summary>int ring_buffer__consume(struct ring_buffer *rb): consumes what is there without waiting; records consumed, or a negative errno.</summary>
    [LibraryImport(LibraryName, EntryPoint = "ring_buffer__consume")]
    internal static partial int RingBufferConsume(SafeRingBufferHandle ring);

    /// <summary>void ring_buffer__free(struct ring_buffer *rb).</summary>
    [LibraryImport(LibraryName, EntryPoint = "ring_buffer__free")]
    internal static partial void RingBufferFree(nint ring);
}

/// <summary>A libbpf <c>struct bpf_object</c>: closing it unloads every program and map it loaded.</summary>
internal sealed class SafeBpfObjectHandle : SafeHandle
{
    public SafeBpfObjectHandle()
        : base(0, ownsHandle: true)
    {
    }

    internal SafeBpfObjectHandle(nint obj)
        : this() => SetHandle(obj);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibbpfNative.ObjectClose(handle);
        return true;
    }
}

/// <summary>A libbpf <c>struct bpf_link</c>: an attached program; destroying it detaches it.</summary>
internal sealed class SafeBpfLinkHandle : SafeHandle
{
    public SafeBpfLinkHandle()
        : base(0, ownsHandle: true)
    {
    }

    internal SafeBpfLinkHandle(nint link)
        : this() => SetHandle(link);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => LibbpfNative.LinkDestroy(handle) == 0;
}

/// <summary>A libbpf <c>struct ring_buffer</c> consumer with its epoll descriptor.</summary>
internal sealed class SafeRingBufferHandle : SafeHandle
{
    public SafeRingBufferHandle()
        : base(0, ownsHandle: true)
    {
    }

    internal SafeRingBufferHandle(nint ring)
        : this() => SetHandle(ring);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibbpfNative.RingBufferFree(handle);
        return true;
    }
}
