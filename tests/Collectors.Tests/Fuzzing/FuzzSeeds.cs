using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>The recorded fixtures under tests/fixtures, as seeds to mutate, in a fixed order.</summary>
internal static class FuzzSeeds
{
    /// <summary>Every fixture file with one of these names (<c>tcp</c>, <c>stat</c>, ...), ordered by path.</summary>
    public static List<byte[]> Named(params string[] names) =>
        [.. Directory.EnumerateFiles(Repo.Fixture(), "*", SearchOption.AllDirectories)
            .Where(p => names.Contains(Path.GetFileName(p), StringComparer.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes)];

    /// <summary>Every file of one fixture directory, ordered by name.</summary>
    public static List<byte[]> In(string directory) =>
        [.. Directory.EnumerateFiles(Repo.Fixture(directory)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];

    /// <summary>
    /// The datagrams of the recorded live-6.18 dumps (each file: u32 length, datagram, ...), and
    /// each of their messages alone as a datagram of its own.
    /// </summary>
    public static List<byte[]> NetlinkDatagrams()
    {
        var seeds = new List<byte[]>();
        foreach (var file in new[] { "netlink-inet.bin", "netlink-inet6.bin", "netlink-info-inet.bin" })
        {
            var bytes = File.ReadAllBytes(Repo.Fixture("live-6.18", file));
            for (var off = 0; off + 4 <= bytes.Length;)
            {
                var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(off));
                var datagram = bytes.AsSpan(off + 4, length);
                seeds.Add(datagram.ToArray());
                for (var m = 0; m + 16 <= datagram.Length;)
                {
                    var messageLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram[m..]);
                    seeds.Add(datagram.Slice(m, messageLength).ToArray());
                    m += (messageLength + 3) & ~3;
                }

                off += 4 + length;
            }
        }

        return seeds;
    }
}

/// <summary>Helpers for generators that write kernel text.</summary>
internal static class TextBuilding
{
    public static List<byte> Text(this List<byte> data, string text)
    {
        if (Ascii.IsValid(text))
        {
            foreach (var c in text)
            {
                data.Add((byte)c); // no array per field: generators write millions of them
            }
        }
        else
        {
            data.AddRange(Encoding.UTF8.GetBytes(text));
        }

        return data;
    }

    public static List<byte> Decimal(this List<byte> data, long value) => data.Text(value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Upper-case hex, zero-padded to <paramref name="digits"/> like the kernel's %0NX (wider when the value is).</summary>
    public static List<byte> Hex(this List<byte> data, ulong value, int digits) =>
        data.Text(value.ToString(HexFormats[digits], CultureInfo.InvariantCulture));

    private static readonly string[] HexFormats = [.. Enumerable.Range(0, 17).Select(n => "X" + n.ToString(CultureInfo.InvariantCulture))];

    public static T Pick<T>(this Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    /// <summary>Mostly an ordinary number below <paramref name="most"/>; one time in five, one at the edge of a type or not a number at all.</summary>
    public static string Number(this Random random, long most = 100_000) =>
        random.Next(5) == 0 ? random.Pick(Mutator.Numbers) : random.NextInt64(most).ToString(CultureInfo.InvariantCulture);

    /// <summary>Random lower-case hex digits (container ids, pod uids).</summary>
    public static string LowerHex(this Random random, int digits)
    {
        var chars = new char[digits];
        for (var i = 0; i < digits; i++)
        {
            chars[i] = "0123456789abcdef"[random.Next(16)];
        }

        return new string(chars);
    }
}
