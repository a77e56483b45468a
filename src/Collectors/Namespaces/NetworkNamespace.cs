namespace SockWatch.Collectors.Namespaces;

/// <summary>
/// One network namespace: its nsfs inode (its identity), its name, and the file to open to enter
/// it (<c>/proc/PID/ns/net</c> of a process in it, or <c>/run/netns/NAME</c>).
/// </summary>
/// <param name="Inode">The nsfs inode; 0 when it could not be read (a --proc-root tree without ns links).</param>
/// <param name="Name">The /run/netns name, else the pod or container its processes run in, else netns-INODE; <c>host</c> for the namespace of PID 1; <c>self</c> when nothing else is known.</param>
/// <param name="Path">What to open to enter it; null for the namespace this process is in.</param>
/// <param name="IsSelf">Whether this process is in it (it is then read without setns).</param>
public sealed record NetworkNamespace(ulong Inode, string Name, string? Path, bool IsSelf);
