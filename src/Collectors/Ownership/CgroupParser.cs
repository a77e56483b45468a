using System.Buffers;

namespace SockWatch.Collectors.Ownership;

/// <summary>What a cgroup path says about the processes in it.</summary>
/// <param name="Path">The path, without a trailing newline or the kernel's <c> (deleted)</c> marker.</param>
/// <param name="Unit">
/// The innermost <c>*.service</c> or <c>*.scope</c> component; when there is none, the innermost slice
/// (a process placed directly in a slice is reported as that slice). Null for <c>/</c> and for paths
/// that name no systemd unit (<c>/docker/ID</c>, <c>/kubepods/...</c>). systemd's escaping
/// (<c>\x2d</c>) is kept as it appears in the path.
/// </param>
/// <param name="Slice">The innermost <c>*.slice</c> component other than <c>-.slice</c>, or null.</param>
/// <param name="ContainerId">The 64-hex container id when the path names a container, else null.</param>
/// <param name="ContainerRuntime">
/// Who made the container: <c>docker</c>, <c>containerd</c>, <c>cri-o</c>, <c>podman</c>, or
/// <c>kubepods</c> for a bare id under a kubelet pod cgroup (cgroupfs driver), where the runtime
/// cannot be told from the path. Null when <paramref name="ContainerId"/> is.
/// </param>
/// <param name="PodUid">The Kubernetes pod uid (with '-', as the API shows it) when the path lies in a kubelet pod cgroup.</param>
public sealed record CgroupInfo(string Path, string? Unit, string? Slice, string? ContainerId, string? ContainerRuntime, string? PodUid);

/// <summary>
/// Reads the text of /proc/PID/cgroup and names the systemd unit, slice, container and pod a cgroup
/// path belongs to. Pure: text in, values out; malformed input gives null, never an exception.
/// </summary>
/// <remarks>
/// <para>
/// kernel/cgroup/cgroup.c proc_cgroup_show prints one line per hierarchy,
/// <c>hierarchy-ID:controller-list:cgroup-path</c> (cgroups(7)). The v2 (unified) hierarchy is ID 0
/// with an empty controller list, and is listed only once cgroup2 has been mounted somewhere
/// (cgrp_dfl_visible), so a pure v1 host has no <c>0::</c> line. A v1 hierarchy's list is its
/// controllers' legacy names joined by ',' then, for a named hierarchy, <c>name=NAME</c>: systemd's
/// is <c>name=systemd</c>, normally alone (<c>1:name=systemd:/system.slice/cron.service</c>).
/// </para>
/// <para>
/// The path is everything after the second ':' (a cgroup name may hold ':') and is relative to the
/// reader's cgroup namespace, so it can start with <c>/..</c>. On v2, a zombie whose cgroup has been
/// removed gets <c> (deleted)</c> appended; on v1, an exiting task shows <c>/</c>.
/// </para>
/// </remarks>
public static class CgroupParser
{
    /// <summary>Appended by proc_cgroup_show when the task's v2 cgroup is dead (cgroup_is_dead).</summary>
    private const string DeletedMarker = " (deleted)";

    /// <summary>The controller-list entry of systemd's own v1 hierarchy (mounted with -o name=systemd).</summary>
    private const string SystemdHierarchy = "name=systemd";

    /// <summary>docker, containerd, CRI-O and podman all print ids as 32 random bytes in lower-case hex.</summary>
    private const int ContainerIdLength = 64;

    /// <summary>Paths this deep split on the stack; deeper ones (up to PATH_MAX) on the heap.</summary>
    private const int StackComponents = 64;

    private const string ScopeSuffix = ".scope";
    private const string ServiceSuffix = ".service";
    private const string SliceSuffix = ".slice";

    /// <summary>The root slice: it is the root cgroup, so a path never needs to name it.</summary>
    private const string RootSlice = "-.slice";

    /// <summary>The digits of a container id.</summary>
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    /// <summary>A pod uid as kubelet's cgroupfs driver prints it.</summary>
    private static readonly SearchValues<char> UidChars = SearchValues.Create("0123456789abcdef-");

    /// <summary>A pod uid as kubelet's systemd driver escapes it ('-' to '_').</summary>
    private static readonly SearchValues<char> EscapedUidChars = SearchValues.Create("0123456789abcdef_");

    /// <summary>
    /// Container cgroup names, as <c>PREFIX-ID.scope</c> (systemd cgroup driver) or <c>PREFIX-ID</c>
    /// (cgroupfs driver: CRI-O <c>crio-ID</c>, podman <c>libpod-ID</c>). A null runtime marks conmon, the
    /// monitor CRI-O and podman run beside each container in its own cgroup: it is not the container.
    /// Checked in order, so the conmon prefixes win over the shorter container prefixes they start with.
    /// (The id check alone would refuse them too, "conmon-ID" not being 64 hex digits; the entries say so outright.)
    /// </summary>
    private static readonly (string Prefix, string? Runtime)[] ContainerPrefixes =
    [
        ("crio-conmon-", null),
        ("libpod-conmon-", null),
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];

    /// <summary>
    /// From the text of /proc/PID/cgroup, the path that names systemd units: the v2 path when there is
    /// one and it is not just <c>/</c> while a v1 <c>name=systemd</c> line exists; else the
    /// <c>name=systemd</c> path; null when neither line exists.
    /// </summary>
    /// <remarks>
    /// On a hybrid host systemd keeps its tree in both the name=systemd hierarchy and the v2 one, so
    /// the two paths agree; the v2 one wins when both are real paths. v2 is <c>/</c> while name=systemd
    /// is real where systemd runs in legacy mode and something else mounted cgroup2. name=systemd is
    /// <c>/</c> while v2 is real for an exiting task (v1 shows exiting tasks in the root). Malformed and
    /// empty lines are skipped; the first of duplicate lines counts. The result has no
    /// <c> (deleted)</c> marker.
    /// </remarks>
    public static string? SystemdPath(ReadOnlySpan<char> cgroupFile)
    {
        ReadOnlySpan<char> unified = default;
        ReadOnlySpan<char> named = default;
        var hasUnified = false;
        var hasNamed = false;

        foreach (var range in cgroupFile.Split('\n'))
        {
            if (!TrySplitLine(cgroupFile[range], out var hierarchy, out var controllers, out var path))
            {
                continue;
            }

            if (hierarchy is "0")
            {
                // The unified hierarchy has no controller list; "0:cpu:/x" is not kernel output.
                if (!hasUnified && controllers.IsEmpty)
                {
                    unified = path;
                    hasUnified = true;
                }
            }
            else if (!hasNamed && HasEntry(controllers, ',', SystemdHierarchy))
            {
                named = path;
                hasNamed = true;
            }
        }

        if (hasUnified && (!hasNamed || unified is not "/"))
        {
            return unified.ToString();
        }

        return hasNamed ? named.ToString() : null;
    }

    /// <summary>
    /// From a cgroup path: the systemd unit and slice, and the container and pod when the path names them.
    /// </summary>
    /// <remarks>
    /// <para>Containers recognised (ID is 64 lower-case hex digits; the innermost match wins, so a process
    /// in a sub-cgroup of a container, <c>.../docker-ID.scope/init</c>, still yields the id):</para>
    /// <list type="bullet">
    /// <item>docker: <c>/docker/ID</c> (cgroupfs driver), <c>docker-ID.scope</c> (systemd driver).</item>
    /// <item>containerd through the CRI: <c>cri-containerd-ID.scope</c>.</item>
    /// <item>CRI-O: <c>crio-ID.scope</c>, <c>crio-ID</c> (cgroupfs); <c>crio-conmon-ID</c> is conmon.</item>
    /// <item>podman: <c>libpod-ID.scope</c> under machine.slice or a user manager, <c>/libpod_parent/libpod-ID</c>
    /// (cgroupfs); <c>libpod-conmon-ID.scope</c> is conmon, and so is a <c>conmon</c> child of <c>libpod-ID</c>,
    /// where older podman releases put it with the cgroupfs driver.</item>
    /// <item>kubelet, cgroupfs driver: a bare ID directly under <c>pod&lt;uid&gt;</c> below <c>kubepods</c>
    /// (<c>/kubepods/burstable/pod&lt;uid&gt;/ID</c>, <c>/kubepods/pod&lt;uid&gt;/ID</c> for guaranteed QoS):
    /// runtime <c>kubepods</c>, since containerd and docker both name it bare.</item>
    /// </list>
    /// <para>
    /// A bare ID is claimed only under those known parents (<c>docker</c>, a kubelet pod). containerd
    /// without Kubernetes names cgroups <c>/NAMESPACE/ID</c> with any namespace name, so a hex name under an
    /// unknown parent could be anything and is not claimed. Nor is one directly under <c>libpod_parent</c>:
    /// podman's cgroupfs driver makes that the cgroup of a pod (<c>/libpod_parent/POD-ID</c>, its containers
    /// below as <c>libpod-ID</c>), and a pod id is not a container id.
    /// </para>
    /// <para>
    /// Pods: kubelet's systemd driver joins its cgroup names with '-' after escaping '-' inside a name
    /// to '_' (<c>kubepods-burstable-pod1a2b_3c4d.slice</c>), so the uid's '_' become '-' again; the cgroupfs
    /// driver uses <c>pod&lt;uid&gt;</c> as is. A uid is lower-case hex and '-' (a UUID, or a static pod's
    /// 32-hex hash). Pod and container are read apart, each from its innermost match: a conmon in a
    /// pod's cgroup has a pod uid and no container.
    /// </para>
    /// </remarks>
    public static CgroupInfo Describe(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var trimmed = StripDeleted(path.AsSpan().TrimEnd("\r\n"));
        var clean = trimmed.Length == path.Length ? path : trimmed.ToString();
        var text = clean.AsSpan();

        var most = text.Count('/') + 1;
        var buffer = most <= StackComponents ? stackalloc Range[most] : new Range[most];
        var parts = (ReadOnlySpan<Range>)buffer[..text.Split(buffer, '/', StringSplitOptions.RemoveEmptyEntries)];

        string? unit = null;
        string? slice = null;
        string? podUid = null;
        string? containerId = null;
        string? runtime = null;
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            var name = text[parts[i]];
            if (unit is null && (HasSuffix(name, ServiceSuffix) || HasSuffix(name, ScopeSuffix)))
            {
                unit = name.ToString();
            }

            if (slice is null && HasSuffix(name, SliceSuffix) && name is not RootSlice)
            {
                slice = name.ToString();
            }

            podUid ??= PodUid(text, parts, i);
            if (containerId is null && TryContainer(text, parts, i, out var id, out var by))
            {
                containerId = id.ToString();
                runtime = by;
            }
        }

        return new CgroupInfo(clean, unit ?? slice, slice, containerId, runtime, podUid);
    }

    /// <summary>Splits one line into its three fields; false for anything the kernel would not print.</summary>
    private static bool TrySplitLine(
        ReadOnlySpan<char> line,
        out ReadOnlySpan<char> hierarchy,
        out ReadOnlySpan<char> controllers,
        out ReadOnlySpan<char> path)
    {
        hierarchy = controllers = path = default;
        line = line.TrimEnd('\r');
        var first = line.IndexOf(':');
        if (first <= 0 || !IsDecimal(line[..first]))
        {
            return false;
        }

        var rest = line[(first + 1)..];
        var second = rest.IndexOf(':');
        if (second < 0)
        {
            return false;
        }

        hierarchy = line[..first];
        controllers = rest[..second];
        path = StripDeleted(rest[(second + 1)..]);
        return !path.IsEmpty && path[0] == '/';
    }

    private static ReadOnlySpan<char> StripDeleted(ReadOnlySpan<char> path) =>
        path.EndsWith(DeletedMarker, StringComparison.Ordinal) ? path[..^DeletedMarker.Length] : path;

    /// <summary>
    /// The container named by component <paramref name="i"/>, from its runtime prefix or, for a bare id,
    /// from its parent.
    /// </summary>
    private static bool TryContainer(ReadOnlySpan<char> text, ReadOnlySpan<Range> parts, int i, out ReadOnlySpan<char> id, out string? runtime)
    {
        id = default;
        runtime = null;
        var name = text[parts[i]];
        var isScope = name.EndsWith(ScopeSuffix, StringComparison.Ordinal);
        var body = isScope ? name[..^ScopeSuffix.Length] : name;
        foreach (var (prefix, by) in ContainerPrefixes)
        {
            if (!body.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (by is null || !IsContainerId(body[prefix.Length..]))
            {
                return false;
            }

            if (by == "podman" && !isScope && i + 1 < parts.Length && text[parts[i + 1]] is "conmon")
            {
                return false;
            }

            id = body[prefix.Length..];
            runtime = by;
            return true;
        }

        if (i == 0 || !IsContainerId(name))
        {
            return false;
        }

        if (text[parts[i - 1]] is "docker")
        {
            runtime = "docker";
        }
        else if (PodUid(text, parts, i - 1) is not null)
        {
            runtime = "kubepods";
        }
        else
        {
            return false;
        }

        id = name;
        return true;
    }

    /// <summary>The pod uid when component <paramref name="i"/> is a kubelet pod cgroup, else null.</summary>
    private static string? PodUid(ReadOnlySpan<char> text, ReadOnlySpan<Range> parts, int i)
    {
        var name = text[parts[i]];
        if (HasSuffix(name, SliceSuffix))
        {
            // systemd driver: kubepods-pod<uid>.slice, kubepods-<qos>-pod<uid>.slice, or under a
            // --cgroup-root, kubelet-kubepods-<qos>-pod<uid>.slice.
            var body = name[..^SliceSuffix.Length];
            var dash = body.LastIndexOf('-');
            if (dash < 0 || !HasEntry(body[..dash], '-', "kubepods"))
            {
                return null;
            }

            var pod = body[(dash + 1)..];
            return pod.StartsWith("pod", StringComparison.Ordinal) && IsPodUid(pod[3..], '_')
                ? pod[3..].ToString().Replace('_', '-')
                : null;
        }

        // cgroupfs driver: /kubepods[/<qos>]/pod<uid>, kubepods possibly below a --cgroup-root.
        if (!name.StartsWith("pod", StringComparison.Ordinal) || !IsPodUid(name[3..], '-'))
        {
            return null;
        }

        for (var k = 0; k < i; k++)
        {
            if (text[parts[k]] is "kubepods")
            {
                return name[3..].ToString();
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="list"/>, split on <paramref name="separator"/>, has <paramref name="entry"/>.</summary>
    private static bool HasEntry(ReadOnlySpan<char> list, char separator, string entry)
    {
        foreach (var range in list.Split(separator))
        {
            if (list[range].SequenceEqual(entry))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A unit name needs a name before its suffix: ".service" alone is not one.</summary>
    private static bool HasSuffix(ReadOnlySpan<char> name, string suffix) =>
        name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal);

    private static bool IsContainerId(ReadOnlySpan<char> text) =>
        text.Length == ContainerIdLength && !text.ContainsAnyExcept(LowerHex);

    private static bool IsPodUid(ReadOnlySpan<char> text, char separator) =>
        !text.IsEmpty
        && char.IsAsciiHexDigitLower(text[0])
        && char.IsAsciiHexDigitLower(text[^1])
        && !text.ContainsAnyExcept(separator == '-' ? UidChars : EscapedUidChars);

    private static bool IsDecimal(ReadOnlySpan<char> text) =>
        text.Length is > 0 and <= 10 && !text.ContainsAnyExceptInRange('0', '9');
}
