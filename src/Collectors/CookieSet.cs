namespace SockWatch.Collectors;

/// <summary>
/// The set of socket cookies seen in one collection, to drop the sockets a non-atomic dump
/// reports twice. Open addressing over one array that is reused across polls: after the first
/// poll of a given size, deduplicating 100,000 sockets allocates nothing, unless the daemon let
/// the slots go between polls (<see cref="Release"/>). Cookie 0 marks an empty slot; the kernel
/// never hands out cookie 0 (it means "not generated yet"), and sockets without a cookie are
/// never added.
/// </summary>
internal sealed class CookieSet
{
    private ulong[] _slots = new ulong[1024];
    private int _count;

    /// <summary>Empties the set and makes room for <paramref name="expected"/> cookies at a load of at most 1/2.</summary>
    public void Reset(int expected)
    {
        var size = _slots.Length;
        while (size < expected * 2)
        {
            size *= 2;
        }

        if (size != _slots.Length)
        {
            _slots = new ulong[size];
        }
        else
        {
            Array.Clear(_slots);
        }

        _count = 0;
    }

    /// <summary>Lets go of the slots (16 bytes a socket) until the next <see cref="Reset"/> makes them again.</summary>
    public void Release()
    {
        _slots = new ulong[1024];
        _count = 0;
    }

    /// <summary>Adds a cookie; false when it was already there.</summary>
    public bool Add(ulong cookie)
    {
        if (cookie == 0)
        {
            return true;
        }

        if ((_count + 1) * 2 > _slots.Length)
        {
            Grow();
        }

        var mask = _slots.Length - 1;
        // Fibonacci hashing spreads sequential cookies (they are handed out in order).
        var i = (int)((cookie * 0x9E3779B97F4A7C15UL) >> 40) & mask;
        while (true)
        {
            var slot = _slots[i];
            if (slot == 0)
            {
                _slots[i] = cookie;
                _count++;
                return true;
            }

            if (slot == cookie)
            {
                return false;
            }

            i = (i + 1) & mask;
        }
    }

    private void Grow()
    {
        var old = _slots;
        _slots = new ulong[old.Length * 2];
        _count = 0;
        foreach (var c in old)
        {
            if (c != 0)
            {
                Add(c);
            }
        }
    }
}
