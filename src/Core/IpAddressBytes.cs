using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;

namespace SockWatch.Core;

/// <summary>Address family of a socket record, with the kernel's values.</summary>
public enum SocketFamily : byte
{
    Inet = 2,
    Inet6 = 10,
}

/// <summary>
/// Sixteen address bytes in network order, stored inline so a socket record holds no
/// reference and 100,000 of them cost no objects. IPv4 uses the first four bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct IpAddressBytes : IEquatable<IpAddressBytes>
{
    private readonly ulong _first;  // bytes 0..7 as they lie in memory
    private readonly ulong _second; // bytes 8..15

    public IpAddressBytes(ReadOnlySpan<byte> networkOrder)
    {
        Span<byte> buffer = stackalloc byte[16];
        buffer.Clear();
        networkOrder[..Math.Min(16, networkOrder.Length)].CopyTo(buffer);
        _first = MemoryMarshal.Read<ulong>(buffer);
        _second = MemoryMarshal.Read<ulong>(buffer[8..]);
    }

    private IpAddressBytes(ulong first, ulong second)
    {
        _first = first;
        _second = second;
    }

    /// <summary>An IPv4 address from its four network-order bytes as they lie in memory (read as one native u32).</summary>
    public static IpAddressBytes FromIpv4Raw(uint fourBytesInMemoryOrder)
    {
        // Bytes 0..3 of the first ulong are the u32's bytes in memory order on either endianness.
        ulong first = BitConverter.IsLittleEndian ? fourBytesInMemoryOrder : (ulong)fourBytesInMemoryOrder << 32;
        return new IpAddressBytes(first, 0);
    }

    /// <summary>Builds an address from 16 bytes read straight from a kernel structure.</summary>
    public static IpAddressBytes FromRaw16(ReadOnlySpan<byte> sixteen) =>
        new(MemoryMarshal.Read<ulong>(sixteen), MemoryMarshal.Read<ulong>(sixteen[8..]));

    public static IpAddressBytes FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> b = stackalloc byte[16];
        b.Clear();
        address.TryWriteBytes(b, out _);
        return new IpAddressBytes(b);
    }

    public bool IsZero => _first == 0 && _second == 0;

    public void CopyTo(Span<byte> destination)
    {
        MemoryMarshal.Write(destination, in _first);
        MemoryMarshal.Write(destination[8..], in _second);
    }

    public IPAddress ToIPAddress(SocketFamily family)
    {
        Span<byte> b = stackalloc byte[16];
        CopyTo(b);
        return family == SocketFamily.Inet ? new IPAddress(b[..4]) : new IPAddress(b);
    }

    /// <summary>
    /// Formats as the kernel has it: dotted quad for inet, RFC 5952 text for inet6, so an
    /// IPv4-mapped address prints as <c>::ffff:127.0.0.1</c>.
    /// </summary>
    public bool TryFormat(SocketFamily family, Span<char> destination, out int written)
    {
        Span<byte> b = stackalloc byte[16];
        CopyTo(b);
        if (family == SocketFamily.Inet)
        {
            written = 0;
            for (var i = 0; i < 4; i++)
            {
                if (i > 0)
                {
                    if (written >= destination.Length)
                    {
                        return false;
                    }

                    destination[written++] = '.';
                }

                if (!b[i].TryFormat(destination[written..], out var n, default, System.Globalization.CultureInfo.InvariantCulture))
                {
                    return false;
                }

                written += n;
            }

            return true;
        }

        return new IPAddress(b).TryFormat(destination, out written);
    }

    public string Format(SocketFamily family)
    {
        Span<char> buffer = stackalloc char[64];
        return TryFormat(family, buffer, out var n) ? new string(buffer[..n]) : string.Empty;
    }

    /// <summary>The first 32 bits as a big-endian value (IPv4 addresses, for sorting and tests).</summary>
    public uint Ipv4Value
    {
        get
        {
            Span<byte> b = stackalloc byte[16];
            CopyTo(b);
            return BinaryPrimitives.ReadUInt32BigEndian(b);
        }
    }

    public bool Equals(IpAddressBytes other) => _first == other._first && _second == other._second;

    public override bool Equals(object? obj) => obj is IpAddressBytes other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_first, _second);

    public static bool operator ==(IpAddressBytes left, IpAddressBytes right) => left.Equals(right);

    public static bool operator !=(IpAddressBytes left, IpAddressBytes right) => !left.Equals(right);
}
