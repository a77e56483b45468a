namespace SockWatch.Core;

/// <summary>How a socket was tied to its owner.</summary>
public enum OwnerVia : byte
{
    /// <summary>A process holds a descriptor for the socket's inode (/proc/PID/fd).</summary>
    Descriptor,

    /// <summary>
    /// No descriptor exists (time_wait, syn_recv request sockets): the socket's local port
    /// belongs to a listener, and the listener's owner is reported.
    /// </summary>
    Listener,
}

/// <summary>Why a socket has no owner.</summary>
public enum UnownedReason : byte
{
    /// <summary>Attributed: not unowned.</summary>
    None,

    /// <summary>No inode (time_wait, request sockets, orphans) and no local listener on its port.</summary>
    NoInode,

    /// <summary>It has an inode, but no process we could read holds it (it exited, or the descriptor was closed).</summary>
    NotFound,

    /// <summary>Some processes' descriptors could not be read (no CAP_SYS_PTRACE / CAP_DAC_READ_SEARCH).</summary>
    PermissionDenied,
}

/// <summary>
/// The process that holds a socket: what an operator needs to find the code that leaks it.
/// Immutable and shared: every socket of one process points at the same instance.
/// </summary>
/// <param name="Pid">Process id (never a metric label).</param>
/// <param name="StartTime">Start time from /proc/PID/stat (clock ticks after boot), to tell a reused pid from the old process.</param>
/// <param name="Process">comm, decoded as UTF-8 with replacement.</param>
/// <param name="Uid">Real uid of the process.</param>
/// <param name="User">User name from the password database, or the uid as text.</param>
/// <param name="Unit">The systemd unit (service, scope, or slice) from the cgroup path, or null.</param>
/// <param name="Container">Container id when the cgroup path names one (docker, containerd/CRI, CRI-O, podman, kubepods), else null.</param>
/// <param name="CgroupPath">The cgroup path the unit and container were read from.</param>
public sealed record SocketOwner(
    int Pid,
    ulong StartTime,
    string Process,
    uint Uid,
    string User,
    string? Unit,
    string? Container,
    string? CgroupPath);
