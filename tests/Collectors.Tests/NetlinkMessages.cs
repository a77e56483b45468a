using System.Buffers.Binary;

namespace SockWatch.Collectors.Tests;

/// <summary>Builds netlink datagrams by hand, field by field, for the parser's error paths.</summary>
internal sealed class NetlinkMessages
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    public NetlinkMessages Message(ushort type, uint seq, byte[] payload, ushort flags = 0x2, int? lengthOverride = null)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)(lengthOverride ?? (16 + payload.Length)));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), seq);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), 1234);
        _bytes.AddRange(header);
        _bytes.AddRange(payload);
        while (_bytes.Count % 4 != 0)
        {
            _bytes.Add(0);
        }

        return this;
    }

    public NetlinkMessages Done(uint seq, int status = 0) => Message(3, seq, Int(status));

    public NetlinkMessages Error(uint seq, int negativeErrno)
    {
        var payload = new byte[4 + 16 + 56];
        BinaryPrimitives.WriteInt32LittleEndian(payload, negativeErrno);
        return Message(2, seq, payload, flags: 0);
    }

    public static byte[] Int(int value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        return b;
    }

    /// <summary>A struct inet_diag_msg for an IPv4 socket, followed by the given attributes.</summary>
    public static byte[] InetDiagMsg(byte state, ushort sport, ushort dport, uint inode, ulong cookie, params byte[][] attributes)
    {
        var msg = new byte[72];
        msg[0] = 2; // AF_INET
        msg[1] = state;
        msg[2] = 1; // timer: retransmit
        msg[3] = 2; // retrans
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(4), sport);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(6), dport);
        msg[8] = 127; msg[11] = 1;   // src 127.0.0.1
        msg[24] = 10; msg[25] = 0; msg[26] = 0; msg[27] = 7; // dst 10.0.0.7
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(40), 3);           // if
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(44), (uint)cookie); // cookie low
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(48), (uint)(cookie >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(52), 200);  // expires ms
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(56), 17);   // rqueue
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(60), 4096); // wqueue
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(64), 1000); // uid
        BinaryPrimitives.WriteUInt32LittleEndian(msg.AsSpan(68), inode);
        var all = new List<byte>(msg);
        foreach (var a in attributes)
        {
            all.AddRange(a);
        }

        return [.. all];
    }

    /// <summary>An rtattr: u16 length (unpadded), u16 type, payload, padded to 4.</summary>
    public static byte[] Attribute(ushort type, byte[] payload, int? lengthOverride = null)
    {
        var len = 4 + payload.Length;
        var padded = (len + 3) & ~3;
        var a = new byte[padded];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)(lengthOverride ?? len));
        BinaryPrimitives.WriteUInt16LittleEndian(a.AsSpan(2), type);
        payload.CopyTo(a, 4);
        return a;
    }
}
