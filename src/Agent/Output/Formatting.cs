using System.Globalization;
using SockWatch.Core;

namespace SockWatch.Agent.Output;

/// <summary>Text shared by every output format, so a socket reads the same in each.</summary>
internal static class Formatting
{
    public static string Family(SocketFamily family) => SocketFamilies.NameOf(family);

    /// <summary>Timer names; an unknown code (a newer kernel) keeps its number.</summary>
    public static string Timer(SocketTimer timer) => timer switch
    {
        SocketTimer.Off => "off",
        SocketTimer.Retransmit => "retransmit",
        SocketTimer.Keepalive => "keepalive",
        SocketTimer.TimeWait => "time_wait",
        SocketTimer.Probe0 => "zero_window_probe",
        SocketTimer.DelayedAck => "delayed_ack",
        _ => "timer_" + ((int)timer).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Why a socket has no owner, as JSON and tables say it.</summary>
    public static string Reason(UnownedReason reason) => reason switch
    {
        UnownedReason.NoInode => "no_inode",
        UnownedReason.NotFound => "not_found",
        UnownedReason.PermissionDenied => "permission_denied",
        _ => "none",
    };

    /// <summary>host:port, with IPv6 hosts in brackets.</summary>
    public static string Endpoint(SocketFamily family, in IpAddressBytes address, ushort port)
    {
        var host = address.Format(family);
        var p = port.ToString(CultureInfo.InvariantCulture);
        return family == SocketFamily.Inet6 ? $"[{host}]:{p}" : $"{host}:{p}";
    }

    /// <summary>Milliseconds as a short duration: 950ms, 59.6s, 2m05s, 3h12m.</summary>
    public static string Duration(uint ms)
    {
        var inv = CultureInfo.InvariantCulture;
        if (ms < 1000)
        {
            return ms.ToString(inv) + "ms";
        }

        if (ms < 60_000)
        {
            return (ms / 1000.0).ToString("0.0", inv) + "s";
        }

        var seconds = ms / 1000;
        if (seconds < 3600)
        {
            return string.Create(inv, $"{seconds / 60}m{seconds % 60:00}s");
        }

        return string.Create(inv, $"{seconds / 3600}h{seconds / 60 % 60:00}m");
    }
}
