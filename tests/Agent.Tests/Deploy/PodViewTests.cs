using System.Diagnostics;
using System.Text.Json;
using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Deploy;

/// <summary>
/// What a pod of deploy/kubernetes/daemonset.yaml sees, without a cluster: the release binary in
/// a private PID and mount namespace (the pod's), in the node's network namespace (hostNetwork),
/// with the node's /proc bind-mounted read-only at /host/proc and given as --proc-root, a /proc
/// and a /run of its own, and only the DaemonSet's capabilities (setpriv's bounding set).
/// </summary>
public sealed class PodViewTests : IDisposable
{
    private readonly ChildProcesses _children = new();
    private readonly TestNamespace _other = new();

    [RootFact]
    public void The_pod_names_node_processes_as_owners_in_the_nodes_namespace_labelled_host()
    {
        // A leak on the node (host network namespace), and a listener in another namespace that
        // a process keeps alive (as a pod with its own network would).
        var leaky = _children.Start("python3", ["-c", LiveScripts.LeakyServer("podview-leaky", leaks: 2, port: 0)], redirectStdin: true);
        Assert.Equal("ready", leaky.StandardOutput.ReadLine());
        var inOther = _children.Start(Conditions.FindExecutable("ip")!, ["netns", "exec", _other.Name, "python3", "-c", LiveScripts.LeakyServer("podview-other", leaks: 1, port: 0)], redirectStdin: true);
        Assert.Equal("ready", inOther.StandardOutput.ReadLine());

        var json = RunInPod("dac_read_search,sys_ptrace");
        var sockets = json;
        var leaked = sockets.Where(s => s.GetProperty("owner").ValueKind == JsonValueKind.Object && s.GetProperty("owner").GetProperty("process").GetString() == "podview-leaky"
            && s.GetProperty("state").GetString() == "close_wait").ToList();
        Assert.Equal(2, leaked.Count);
        // The node's namespace: `host` when the pod may read /host/proc/1/ns/net (a ptrace-read of
        // the node's PID 1), else named by its inode (docs/metrics.md). This machine's PID 1 is
        // not systemd, and refuses that read to a process with only these two capabilities.
        var nodeNetns = NamespaceInode("/proc/self/ns/net");
        Assert.All(leaked, s =>
        {
            Assert.Equal(leaky.Id, s.GetProperty("owner").GetProperty("pid").GetInt32()); // the node's pid, not the pod's
            Assert.Contains(s.GetProperty("netns").GetString(), new[] { "host", "netns-" + nodeNetns });
        });

        // The node's namespace only: a proc root other than /proc is read as one namespace, the
        // process's own (the log says so), and without CAP_SYS_ADMIN no other could be entered.
        Assert.All(sockets, s => Assert.Contains(s.GetProperty("netns").GetString(), new[] { "host", "netns-" + nodeNetns }));
        Assert.DoesNotContain(sockets, s => s.GetProperty("owner").ValueKind == JsonValueKind.Object && s.GetProperty("owner").GetProperty("process").GetString() == "podview-other");
    }

    public void Dispose()
    {
        _children.Dispose();
        _other.Dispose();
    }

    private static string NamespaceInode(string link) => new FileInfo(link).LinkTarget!["net:[".Length..^1];

    /// <summary>`sockwatch snapshot --netns all` as the pod runs it; its sockets (the JSON array).</summary>
    private static List<JsonElement> RunInPod(string capabilities)
    {
        const string Pod = """
            set -e
            mount -t tmpfs -o mode=0755 pod /mnt
            mkdir -p /mnt/host/proc
            mount --rbind /proc /mnt/host/proc
            mount -o remount,bind,ro /mnt/host/proc
            mount -t proc proc /proc
            mount -t tmpfs -o mode=0755 run /run
            exec setpriv --bounding-set=-all,+"$1" --inh-caps=-all -- "$0" snapshot --proc-root /mnt/host/proc --netns all --state close_wait,listen --format json
            """;
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--pid", "--fork", "--mount", "--propagation", "private", "--", "bash", "-c", Pod, ReleaseBinary.Executable, capabilities.Replace(",", ",+", StringComparison.Ordinal) })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, stderr);
        return [.. JsonDocument.Parse(stdout.Result).RootElement.EnumerateArray()];
    }
}
