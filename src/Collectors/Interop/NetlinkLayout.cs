namespace SockWatch.Collectors.Interop;

/// <summary>
/// Wire layout of sock_diag messages: include/uapi/linux/netlink.h, inet_diag.h, sock_diag.h
/// and tcp.h. All integers are native-endian except the ports in inet_diag_sockid, which are
/// big-endian (__be16). Offsets were checked against the 6.12 headers and a live 6.18 kernel.
/// </summary>
internal static class NetlinkLayout
{
    public const int NETLINK_SOCK_DIAG = 4;
    public const ushort SOCK_DIAG_BY_FAMILY = 20;
    public const byte IPPROTO_TCP = 6;

    // struct nlmsghdr (16 bytes): len u32 @0, type u16 @4, flags u16 @6, seq u32 @8, pid u32 @12.
    public const int NlMsgHeaderLength = 16;
    public const int NlMsgAlignTo = 4;

    public const ushort NLM_F_REQUEST = 0x1;
    public const ushort NLM_F_MULTI = 0x2;
    public const ushort NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;

    // struct sockaddr_nl (12 bytes): family u16 @0, pad u16 @2, pid u32 @4, groups u32 @8.
    public const int SockAddrNlLength = 12;

    // struct inet_diag_req_v2 (56 bytes): family u8 @0, protocol u8 @1, ext u8 @2, pad u8 @3,
    // states u32 @4, id (struct inet_diag_sockid, 48 bytes) @8.
    public const int InetDiagReqV2Length = 56;
    public const int RequestLength = NlMsgHeaderLength + InetDiagReqV2Length; // 72

    // The legacy request, nlmsg_type TCPDIAG_GETSOCK (18), struct inet_diag_req (60 bytes):
    // family u8 @0, src_len u8 @1, dst_len u8 @2, ext u8 @3, id (48 bytes) @4, states u32 @52,
    // dbs u32 @56. The kernel sets the family to AF_UNSPEC, so one walk of the TCP hash table
    // reports both families; the replies carry nlmsg_type 18 and the same inet_diag_msg.
    public const ushort TCPDIAG_GETSOCK = 18;
    public const int InetDiagReqLength = 60;
    public const int LegacyRequestLength = NlMsgHeaderLength + InetDiagReqLength; // 76

    // struct inet_diag_sockid (48 bytes): sport be16 @0, dport be16 @2, src be32[4] @4,
    // dst be32[4] @20, if u32 @36, cookie u32[2] @40 ([0] low word, [1] high word).
    public const uint INET_DIAG_NOCOOKIE = 0xFFFFFFFF;

    // struct inet_diag_msg (72 bytes):
    public const int MsgFamily = 0;
    public const int MsgState = 1;
    public const int MsgTimer = 2;
    public const int MsgRetrans = 3;
    public const int MsgSport = 4;     // be16
    public const int MsgDport = 6;     // be16
    public const int MsgSrc = 8;       // 16 bytes, network order
    public const int MsgDst = 24;      // 16 bytes, network order
    public const int MsgIf = 40;
    public const int MsgCookie = 44;   // u32 low, u32 high
    public const int MsgExpires = 52;  // ms
    public const int MsgRqueue = 56;
    public const int MsgWqueue = 60;
    public const int MsgUid = 64;
    public const int MsgInode = 68;
    public const int InetDiagMsgLength = 72;

    // idiag_ext request bits: bit = 1 << (attribute type - 1).
    public const byte ExtInfo = 1 << (INET_DIAG_INFO - 1);

    // Attributes (struct rtattr: len u16 @0 unpadded, type u16 @2, payload @4, advance RTA_ALIGN).
    public const int RtAttrHeaderLength = 4;
    public const ushort NlaTypeMask = 0x3FFF; // bit 15 NLA_F_NESTED, bit 14 NLA_F_NET_BYTEORDER
    public const ushort INET_DIAG_INFO = 2;
    public const ushort INET_DIAG_SHUTDOWN = 8;
    public const ushort INET_DIAG_CGROUP_ID = 21;

    // struct tcp_info: only the fields SockWatch reads. The struct grows with the kernel
    // (104 bytes on 2.6, 248 on 6.12, 280 on 6.18): a field exists iff len >= offset + size.
    public const int TcpiLastDataSent = 44;
    public const int TcpiLastDataRecv = 52;
    public const int TcpiLastAckRecv = 56;
    public const int TcpiRtt = 68;
    public const int TcpiTotalRetrans = 100;

    /// <summary>
    /// One receive buffer for the whole dump. The kernel sizes dump datagrams up to the largest
    /// buffer passed to recvmsg, capped at SKB_WITH_OVERHEAD(32768) = 32448 bytes on x86-64,
    /// so 32 KiB fits every datagram; 64 KiB leaves room for larger page sizes and for
    /// min_dump_alloc growth. A datagram larger than the buffer is detected with MSG_TRUNC
    /// and the family's dump is redone with a buffer of the reported size.
    /// </summary>
    public const int ReceiveBufferLength = 64 * 1024;

    public static int Align(int length) => (length + NlMsgAlignTo - 1) & ~(NlMsgAlignTo - 1);
}
