using System.Text;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>
/// Mutations of an input, stacked 1 to 8 at a time: bit flips, byte insertion and deletion,
/// truncation, splices with another seed, fields replaced by huge, zero or negative numbers,
/// non-hex characters in a field, missing fields, very long lines, a piece repeated many times,
/// embedded NULs, invalid UTF-8, integers overwritten in place; plus the target's own structural
/// mutations (netlink lengths).
/// </summary>
internal sealed class Mutator
{
    /// <summary>Inputs are cut to this: room for a line longer than the 64 KiB read buffer, no more.</summary>
    public const int MaxLength = 160 * 1024;

    /// <summary>Numbers at the edges of every type the parsers read into, and things that only look like numbers.</summary>
    public static readonly string[] Numbers =
    [
        "0", "00", "1", "-1", "-0", "+1", "65535", "65536", "-65536", "2147483647", "2147483648", "-2147483648",
        "-2147483649", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "99999999999999999999999999999", "000000000000000000000000000001", "FFFFFFFF", "ffffffffffffffff",
        "10000000000000000", "1e3", "0x10", "1.5", "\u0661\u0662", "\uff11\uff12", string.Empty,
    ];

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xFE], [0x80], [0xC3], [0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF8, 0x88, 0x80, 0x80, 0x80],
    ];

    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7F, 0x80, 0xFF, .. " \t\n\r:-()/[],=G"u8];

    private static readonly byte[] NotDigits = [.. "GgxXzZ-+.,;_ \t"u8, 0x00, 0xFF];

    private static readonly byte[] RunBytes = [.. " 0Fa:/\t"u8, 0x00];

    private static readonly byte[][] Separators = [.. new[] { " ", "\t", "\n", "\r\n", "", ":", "  " }.Select(Encoding.ASCII.GetBytes)];

    private static readonly ulong[] InterestingIntegers =
    [
        0, 1, 2, 3, 4, 15, 16, 17, 20, 72, 88, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue,
    ];

    private readonly IReadOnlyList<byte[]> _seeds;
    private readonly byte[][] _tokens;
    private readonly Action<Random, List<byte>>[] _operations;

    /// <param name="seeds">Recorded inputs to start from and to splice with.</param>
    /// <param name="tokens">Words of the format (field names, markers, separators) to insert.</param>
    /// <param name="structural">The target's own mutations (netlink lengths and types), about a fifth of the draws.</param>
    public Mutator(IReadOnlyList<byte[]> seeds, IEnumerable<string> tokens, Action<Random, List<byte>>? structural = null)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentOutOfRangeException.ThrowIfZero(seeds.Count);
        _seeds = seeds;
        _tokens = [.. tokens.Concat(Numbers).Select(Encoding.UTF8.GetBytes), .. InvalidUtf8];
        _operations = [.. Operations(structural), (r, d) => Insert(r, d, _tokens[r.Next(_tokens.Length)]), Splice];
    }

    public List<byte> Seed(Random random) => [.. _seeds[random.Next(_seeds.Count)]];

    public void Mutate(Random random, List<byte> data)
    {
        var count = 1 + random.Next(random.Next(2) == 0 ? 2 : 8);
        for (var i = 0; i < count; i++)
        {
            MutateOnce(random, data);
        }

        if (data.Count > MaxLength)
        {
            data.RemoveRange(MaxLength, data.Count - MaxLength);
        }
    }

    private void MutateOnce(Random r, List<byte> d) => _operations[r.Next(_operations.Length)](r, d);

    /// <summary>The mutations, drawn with equal weight; the target's structural ones fill about a fifth of the draws.</summary>
    private static Action<Random, List<byte>>[] Operations(Action<Random, List<byte>>? structural)
    {
        Action<Random, List<byte>>[] generic =
        [
            FlipBit,
            (r, d) => SetByte(r, d, InterestingBytes[r.Next(InterestingBytes.Length)]),
            (r, d) => Insert(r, d, r.Next(2) == 0 ? [0] : InvalidUtf8[r.Next(InvalidUtf8.Length)]),
            (r, d) => Insert(r, d, Noise(r)),
            (r, d) => DeleteRange(r, d, 32),
            Truncate,
            DuplicateRange,
            (r, d) => ReplaceToken(r, d, Encoding.UTF8.GetBytes(Numbers[r.Next(Numbers.Length)])),
            SpoilToken,
            DeleteToken,
            LongRun,
            RepeatRange,
            SwapSeparator,
            DuplicateLine,
            DeleteLine,
            OverwriteInteger,
        ];
        return structural is null ? generic : [.. generic, .. Enumerable.Repeat(structural, generic.Length / 3)];
    }

    public static ulong InterestingInteger(Random random) => InterestingIntegers[random.Next(InterestingIntegers.Length)];

    private static void Insert(Random r, List<byte> d, byte[] bytes) => d.InsertRange(r.Next(d.Count + 1), bytes);

    private static byte[] Noise(Random r)
    {
        var noise = new byte[1 + r.Next(16)];
        r.NextBytes(noise);
        return noise;
    }

    private static void FlipBit(Random r, List<byte> d)
    {
        if (d.Count > 0)
        {
            d[r.Next(d.Count)] ^= (byte)(1 << r.Next(8));
        }
    }

    private static void SetByte(Random r, List<byte> d, byte value)
    {
        if (d.Count > 0)
        {
            d[r.Next(d.Count)] = value;
        }
    }

    private static void Truncate(Random r, List<byte> d)
    {
        var cut = r.Next(d.Count + 1);
        d.RemoveRange(cut, d.Count - cut);
    }

    /// <summary>One character of a field made a non-digit, non-hex one.</summary>
    private static void SpoilToken(Random r, List<byte> d)
    {
        if (TryFindToken(r, d, out var start, out var end))
        {
            d[start + r.Next(end - start)] = NotDigits[r.Next(NotDigits.Length)];
        }
    }

    /// <summary>A missing field: the field and the separator after it.</summary>
    private static void DeleteToken(Random r, List<byte> d)
    {
        if (TryFindToken(r, d, out var start, out var end))
        {
            d.RemoveRange(start, Math.Min(end + 1, d.Count) - start);
        }
    }

    private static void DuplicateLine(Random r, List<byte> d)
    {
        var (start, end) = LineAt(r, d);
        d.InsertRange(start, d.GetRange(start, end - start));
    }

    private static void DeleteLine(Random r, List<byte> d)
    {
        var (start, end) = LineAt(r, d);
        d.RemoveRange(start, end - start);
    }

    public static void DeleteRange(Random random, List<byte> data, int most)
    {
        if (data.Count == 0)
        {
            return;
        }

        var start = random.Next(data.Count);
        data.RemoveRange(start, 1 + random.Next(Math.Min(most, data.Count - start)));
    }

    private static void DuplicateRange(Random r, List<byte> d)
    {
        if (d.Count == 0)
        {
            return;
        }

        var start = r.Next(d.Count);
        var copy = d.GetRange(start, 1 + r.Next(Math.Min(64, d.Count - start)));
        d.InsertRange(r.Next(d.Count + 1), copy);
    }

    /// <summary>A field, line or message repeated up to 8 KiB in all: where a parser's cost grows faster than its input, it shows.</summary>
    private static void RepeatRange(Random r, List<byte> d)
    {
        if (d.Count == 0)
        {
            return;
        }

        var start = r.Next(d.Count);
        var chunk = d.GetRange(start, 1 + r.Next(Math.Min(64, d.Count - start)));
        var copies = new List<byte>();
        for (var n = 1 + r.Next(8 * 1024 / chunk.Count); n > 0; n--)
        {
            copies.AddRange(chunk);
        }

        d.InsertRange(start, copies);
    }

    private void Splice(Random r, List<byte> d)
    {
        var other = _seeds[r.Next(_seeds.Count)];
        var keep = r.Next(d.Count + 1);
        d.RemoveRange(keep, d.Count - keep);
        d.AddRange(other.AsSpan(r.Next(other.Length + 1)));
    }

    private static void ReplaceToken(Random r, List<byte> d, byte[] replacement)
    {
        if (!TryFindToken(r, d, out var start, out var end))
        {
            Insert(r, d, replacement);
            return;
        }

        d.RemoveRange(start, end - start);
        d.InsertRange(start, replacement);
    }

    /// <summary>A line as long as a kernel line may be, a little longer, or longer than the read buffer.</summary>
    private static void LongRun(Random r, List<byte> d)
    {
        var length = r.Next(16) == 0 ? 60_000 + r.Next(10_000) : r.Next(4) == 0 ? 1000 + r.Next(64) : r.Next(300);
        var run = new byte[length];
        Array.Fill(run, RunBytes[r.Next(RunBytes.Length)]);
        d.InsertRange(r.Next(d.Count + 1), run);
    }

    private static void SwapSeparator(Random r, List<byte> d)
    {
        if (d.Count == 0)
        {
            return;
        }

        var i = r.Next(d.Count);
        while (i < d.Count && !IsSeparator(d[i]))
        {
            i++;
        }

        if (i < d.Count)
        {
            d.RemoveAt(i);
            d.InsertRange(i, Separators[r.Next(Separators.Length)]);
        }
    }

    /// <summary>Overwrites 1, 2, 4 or 8 bytes with an integer at the edge of its type, little- or big-endian.</summary>
    private static void OverwriteInteger(Random r, List<byte> d)
    {
        var size = 1 << r.Next(4);
        if (d.Count < size)
        {
            return;
        }

        var at = r.Next(d.Count - size + 1);
        var value = r.Next(4) == 0 ? (ulong)(-r.Next(1, 300)) : InterestingInteger(r);
        var bigEndian = r.Next(4) == 0;
        for (var i = 0; i < size; i++)
        {
            d[at + (bigEndian ? size - 1 - i : i)] = (byte)(value >> (8 * i));
        }
    }

    /// <summary>The field (bytes between separators) around a random position.</summary>
    private static bool TryFindToken(Random r, List<byte> d, out int start, out int end)
    {
        start = end = 0;
        if (d.Count == 0)
        {
            return false;
        }

        var i = r.Next(d.Count);
        while (i < d.Count && IsSeparator(d[i]))
        {
            i++;
        }

        if (i == d.Count)
        {
            return false;
        }

        start = i;
        while (start > 0 && !IsSeparator(d[start - 1]))
        {
            start--;
        }

        end = i;
        while (end < d.Count && !IsSeparator(d[end]))
        {
            end++;
        }

        return true;
    }

    /// <summary>The line around a random position, with its newline.</summary>
    private static (int Start, int End) LineAt(Random r, List<byte> d)
    {
        var i = r.Next(d.Count + 1);
        var start = i;
        while (start > 0 && d[start - 1] != (byte)'\n')
        {
            start--;
        }

        var end = Math.Min(i, d.Count);
        while (end < d.Count && d[end] != (byte)'\n')
        {
            end++;
        }

        return (start, Math.Min(end + 1, d.Count));
    }

    private static bool IsSeparator(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)':'
        or (byte)',' or (byte)'/' or (byte)'(' or (byte)')' or (byte)'[' or (byte)']' or (byte)'=';
}
