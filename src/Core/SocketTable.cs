namespace SockWatch.Core;

/// <summary>
/// A growable table of socket records, meant to be reused from poll to poll: after the first
/// poll of a given size, filling it again allocates nothing.
/// </summary>
public sealed class SocketTable
{
    private const int MinimumCapacity = 256;
    private SocketRecord[] _items;

    /// <remarks>
    /// The storage is not zeroed when allocated: only records below <see cref="Count"/> are ever
    /// read, and <see cref="Append"/> zeroes each one as it is handed out. At 100,000 sockets
    /// that is 12 MB the GC need not clear first, each poll of a daemon that lets the table go.
    /// </remarks>
    public SocketTable(int capacity = MinimumCapacity)
    {
        _items = GC.AllocateUninitializedArray<SocketRecord>(Math.Max(capacity, MinimumCapacity));
    }

    public int Count { get; private set; }

    public int Capacity => _items.Length;

    public ReadOnlySpan<SocketRecord> Records => _items.AsSpan(0, Count);

    /// <summary>The records as memory, for readers that outlive a stack frame (no copy).</summary>
    public ReadOnlyMemory<SocketRecord> AsMemory() => _items.AsMemory(0, Count);

    /// <summary>The records, writable in place (for collectors that compact or fix up after a fill).</summary>
    public Span<SocketRecord> AsSpan() => _items.AsSpan(0, Count);

    /// <summary>
    /// The storage past <see cref="Count"/>, whose contents mean nothing: for a caller that
    /// prefaults the pages a fill is about to write. Appends do not read it.
    /// </summary>
    public Span<SocketRecord> SpareCapacity => _items.AsSpan(Count);

    public ref SocketRecord this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return ref _items[index];
        }
    }

    /// <summary>
    /// Makes room for <paramref name="count"/> records: when the table must grow, it grows to at
    /// least twice its capacity, as <see cref="Append"/> does. A caller that appends namespace
    /// after namespace calls this once per namespace; growing to the exact count each time would
    /// copy the whole table each time (200 namespaces of 500 sockets: 1.2 GB copied in one poll).
    /// </summary>
    public void EnsureCapacity(int count)
    {
        if (count > _items.Length)
        {
            Grow(Math.Max(count, (int)Math.Min(2L * _items.Length, Array.MaxLength)));
        }
    }

    /// <summary>Appends a zeroed record and returns a reference to fill in place.</summary>
    public ref SocketRecord Append()
    {
        if (Count == _items.Length)
        {
            Grow(_items.Length * 2);
        }

        ref var slot = ref _items[Count++];
        slot = default;
        return ref slot;
    }

    private void Grow(int capacity)
    {
        var bigger = GC.AllocateUninitializedArray<SocketRecord>(capacity);
        Records.CopyTo(bigger);
        _items = bigger;
    }

    /// <summary>Drops the last appended record (a record that turned out malformed).</summary>
    public void RemoveLast()
    {
        if (Count > 0)
        {
            Count--;
        }
    }

    /// <summary>Truncates to <paramref name="count"/> records (used to discard a failed family's partial dump).</summary>
    public void Truncate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)Count, nameof(count));
        Count = count;
    }

    public void Clear() => Count = 0;

    /// <summary>Counts per state, indexed by kernel value (0..13).</summary>
    public int[] CountByState()
    {
        var counts = new int[14];
        foreach (ref readonly var r in Records)
        {
            counts[(int)r.State]++;
        }

        return counts;
    }
}
