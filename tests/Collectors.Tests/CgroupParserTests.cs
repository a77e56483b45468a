using SockWatch.Collectors.Ownership;
using SockWatch.Tests;

namespace SockWatch.Collectors.Tests;

public class CgroupParserTests
{
    // The ids and uids in tests/fixtures/cgroup.
    private const string DockerId = "3be302ee94c2fd6572714a99651cd40c4b6cfbc2fbc4e5488cd42f94bcc2f7ac";
    private const string DockerSystemdId = "24bb66f0ddeabcefbf839764c7735b70ff20fb1c082641ce92a205de70c18f95";
    private const string ContainerdId = "430cfd2c7ffdad4b2d8938bb272c08c550f6412e23634c6466fb57038b76087a";
    private const string CrioId = "4f16d790fd6d1bcbc33b4ca82804977a2b56cc4971f73bc0f1dea0453f9438b2";
    private const string KubepodsId = "c5f1a73a013a8bb4122aa0e010d0d22d7745c59d0f7b03dcd8a1a8aa135ef01b";
    private const string PodmanId = "70b6f14d9d72d118d5cf540674ed3a5af0211cf005b10673c873397c316e681e";
    private const string PodmanPodId = "c065ed260897756bcd0680b25779c23c2062b9728566e66b1db2b9187b16d1bc";
    private const string OuterId = "6f8cba84534e69e4fe493b96687ff280544be12cb833a96d7e7bc0655d5b20aa";
    private const string BurstableUid = "23c70b13-0985-46c1-b06a-72cc8f0421bc";
    private const string BurstableUidEscaped = "23c70b13_0985_46c1_b06a_72cc8f0421bc";
    private const string BestEffortUid = "be11fd1a-6c38-40b7-87f7-6836faf275b1";
    private const string BestEffortUidEscaped = "be11fd1a_6c38_40b7_87f7_6836faf275b1";
    private const string CgroupfsUid = "48e6b975-4cc7-445b-8e9e-d713b269d4b8";
    private const string StaticPodUid = "a873e74e5ef932e21eca096740c1509e";

    private const string ContainerdPath =
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + BurstableUidEscaped + ".slice/cri-containerd-" + ContainerdId + ".scope";

    private const string CrioPodSlice = "kubepods-besteffort-pod" + BestEffortUidEscaped + ".slice";
    private const string CrioPath = "/kubepods.slice/kubepods-besteffort.slice/" + CrioPodSlice + "/crio-" + CrioId + ".scope";
    private const string CrioConmonPath = "/kubepods.slice/kubepods-besteffort.slice/" + CrioPodSlice + "/crio-conmon-" + CrioId + ".scope";
    private const string KubepodsPath = "/kubepods/burstable/pod" + CgroupfsUid + "/" + KubepodsId;
    private const string PodmanPath = "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + PodmanId + ".scope";

    private static string Read(string name) => File.ReadAllText(Repo.Fixture("cgroup", name));

    [Theory]
    [InlineData("v2-service.txt", "/system.slice/nginx.service")]
    [InlineData("v2-deleted.txt", "/system.slice/backup.service")]
    [InlineData("v1-only.txt", "/system.slice/cron.service")]
    [InlineData("hybrid.txt", "/system.slice/ssh.service")]
    [InlineData("hybrid-root-v2.txt", "/system.slice/postgresql@14-main.service")]
    [InlineData("docker-cgroupfs.txt", "/docker/" + DockerId)]
    [InlineData("docker-systemd.txt", "/system.slice/docker-" + DockerSystemdId + ".scope")]
    [InlineData("containerd-cri.txt", ContainerdPath)]
    [InlineData("crio.txt", CrioPath)]
    [InlineData("crio-conmon.txt", CrioConmonPath)]
    [InlineData("kubepods-cgroupfs.txt", KubepodsPath)]
    [InlineData("podman.txt", PodmanPath)]
    [InlineData("podman-conmon.txt", "/machine.slice/libpod-conmon-" + PodmanId + ".scope")]
    [InlineData("user-session.txt", "/user.slice/user-1000.slice/session-3.scope")]
    [InlineData("user-service.txt", "/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service")]
    [InlineData("empty.txt", null)]
    [InlineData("garbage.txt", null)]
    public void SystemdPath_of_each_fixture(string fixture, string? expected)
    {
        var text = Read(fixture);
        Assert.Equal(expected, CgroupParser.SystemdPath(text));
    }

    [Fact]
    public void Fixtures_are_what_their_names_say()
    {
        // Guards the fixtures themselves, so the tests above test the layouts they claim to.
        Assert.Equal(0, new FileInfo(Repo.Fixture("cgroup", "empty.txt")).Length);
        Assert.DoesNotContain("\n0::", "\n" + Read("v1-only.txt"), StringComparison.Ordinal);
        Assert.Equal(11, Read("v1-only.txt").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("0::/system.slice/nginx.service\n", Read("v2-service.txt"));
        Assert.Contains("\n1:name=systemd:/system.slice/ssh.service\n0::/system.slice/ssh.service\n", Read("hybrid.txt"), StringComparison.Ordinal);
        Assert.EndsWith("\n0::/\n", Read("hybrid-root-v2.txt"), StringComparison.Ordinal);
        Assert.Contains(Read("garbage.txt").Split('\n'), line => line.Split(':').Length < 3 && line.Length > 0);
    }

    [Theory]
    [InlineData("v2-service.txt", "nginx.service", "system.slice", null, null, null)]
    [InlineData("v2-deleted.txt", "backup.service", "system.slice", null, null, null)]
    [InlineData("v1-only.txt", "cron.service", "system.slice", null, null, null)]
    [InlineData("hybrid.txt", "ssh.service", "system.slice", null, null, null)]
    [InlineData("hybrid-root-v2.txt", "postgresql@14-main.service", "system.slice", null, null, null)]
    [InlineData("docker-cgroupfs.txt", null, null, DockerId, "docker", null)]
    [InlineData("docker-systemd.txt", "docker-" + DockerSystemdId + ".scope", "system.slice", DockerSystemdId, "docker", null)]
    [InlineData("containerd-cri.txt", "cri-containerd-" + ContainerdId + ".scope", "kubepods-burstable-pod" + BurstableUidEscaped + ".slice", ContainerdId, "containerd", BurstableUid)]
    [InlineData("crio.txt", "crio-" + CrioId + ".scope", CrioPodSlice, CrioId, "cri-o", BestEffortUid)]
    [InlineData("crio-conmon.txt", "crio-conmon-" + CrioId + ".scope", CrioPodSlice, null, null, BestEffortUid)]
    [InlineData("kubepods-cgroupfs.txt", null, null, KubepodsId, "kubepods", CgroupfsUid)]
    [InlineData("podman.txt", "libpod-" + PodmanId + ".scope", "user.slice", PodmanId, "podman", null)]
    [InlineData("podman-conmon.txt", "libpod-conmon-" + PodmanId + ".scope", "machine.slice", null, null, null)]
    [InlineData("user-session.txt", "session-3.scope", "user-1000.slice", null, null, null)]
    [InlineData("user-service.txt", "syncthing.service", "app.slice", null, null, null)]
    public void Describe_each_fixture(string fixture, string? unit, string? slice, string? containerId, string? runtime, string? podUid)
    {
        var path = CgroupParser.SystemdPath(Read(fixture));
        Assert.NotNull(path);
        var info = CgroupParser.Describe(path);
        Assert.Equal(new CgroupInfo(path, unit, slice, containerId, runtime, podUid), info);
    }

    [Theory]
    // Units and slices.
    [InlineData("/system.slice/nginx.service", "nginx.service", "system.slice", null, null, null)]
    [InlineData("/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "user-1000.slice", null, null, null)]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "foo.service", "app.slice", null, null, null)]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/init.scope", "init.scope", "user-1000.slice", null, null, null)]
    [InlineData("/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service", "system-getty.slice", null, null, null)]
    [InlineData(@"/system.slice/system-systemd\x2dfsck.slice/systemd-fsck@dev-disk-by\x2duuid-4c1f.service", @"systemd-fsck@dev-disk-by\x2duuid-4c1f.service", @"system-systemd\x2dfsck.slice", null, null, null)]
    [InlineData("/init.scope", "init.scope", null, null, null, null)]
    // A process directly in a slice: the slice is its unit.
    [InlineData("/system.slice", "system.slice", "system.slice", null, null, null)]
    [InlineData("/user.slice/user-1000.slice", "user-1000.slice", "user-1000.slice", null, null, null)]
    // docker.
    [InlineData("/docker/" + DockerId, null, null, DockerId, "docker", null)]
    [InlineData("/system.slice/docker-" + DockerId + ".scope", "docker-" + DockerId + ".scope", "system.slice", DockerId, "docker", null)]
    [InlineData("/kubepods.slice/kubepods-pod" + BurstableUidEscaped + ".slice/docker-" + DockerId + ".scope", "docker-" + DockerId + ".scope", "kubepods-pod" + BurstableUidEscaped + ".slice", DockerId, "docker", BurstableUid)]
    // containerd through the CRI, systemd driver: burstable, guaranteed (no QoS slice), under kind's kubelet.slice root.
    [InlineData(ContainerdPath, "cri-containerd-" + ContainerdId + ".scope", "kubepods-burstable-pod" + BurstableUidEscaped + ".slice", ContainerdId, "containerd", BurstableUid)]
    [InlineData("/kubepods.slice/kubepods-pod" + BurstableUidEscaped + ".slice/cri-containerd-" + ContainerdId + ".scope", "cri-containerd-" + ContainerdId + ".scope", "kubepods-pod" + BurstableUidEscaped + ".slice", ContainerdId, "containerd", BurstableUid)]
    [InlineData("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + BestEffortUidEscaped + ".slice/cri-containerd-" + ContainerdId + ".scope", "cri-containerd-" + ContainerdId + ".scope", "kubelet-kubepods-besteffort-pod" + BestEffortUidEscaped + ".slice", ContainerdId, "containerd", BestEffortUid)]
    // CRI-O: systemd driver, cgroupfs driver (crio-ID without .scope).
    [InlineData(CrioPath, "crio-" + CrioId + ".scope", CrioPodSlice, CrioId, "cri-o", BestEffortUid)]
    [InlineData("/kubepods/besteffort/pod" + CgroupfsUid + "/crio-" + CrioId, null, null, CrioId, "cri-o", CgroupfsUid)]
    // kubepods, cgroupfs driver: burstable, guaranteed, a static pod's hash uid.
    [InlineData(KubepodsPath, null, null, KubepodsId, "kubepods", CgroupfsUid)]
    [InlineData("/kubepods/pod" + CgroupfsUid + "/" + KubepodsId, null, null, KubepodsId, "kubepods", CgroupfsUid)]
    [InlineData("/kubepods/burstable/pod" + StaticPodUid + "/" + KubepodsId, null, null, KubepodsId, "kubepods", StaticPodUid)]
    // podman: rootful, rootless, in a pod (systemd), cgroupfs alone and in a pod.
    [InlineData("/machine.slice/libpod-" + PodmanId + ".scope", "libpod-" + PodmanId + ".scope", "machine.slice", PodmanId, "podman", null)]
    [InlineData(PodmanPath, "libpod-" + PodmanId + ".scope", "user.slice", PodmanId, "podman", null)]
    [InlineData("/machine.slice/machine-libpod_pod_" + PodmanPodId + ".slice/libpod-" + PodmanId + ".scope", "libpod-" + PodmanId + ".scope", "machine-libpod_pod_" + PodmanPodId + ".slice", PodmanId, "podman", null)]
    [InlineData("/libpod_parent/libpod-" + PodmanId, null, null, PodmanId, "podman", null)]
    [InlineData("/libpod_parent/" + PodmanPodId + "/libpod-" + PodmanId, null, null, PodmanId, "podman", null)]
    public void Describe_layouts(string path, string? unit, string? slice, string? containerId, string? runtime, string? podUid)
    {
        Assert.Equal(new CgroupInfo(path, unit, slice, containerId, runtime, podUid), CgroupParser.Describe(path));
    }

    [Theory]
    // A process in a sub-cgroup of the container's cgroup.
    [InlineData("/system.slice/docker-" + DockerId + ".scope/init", "docker-" + DockerId + ".scope", "system.slice", DockerId, "docker", null)]
    [InlineData("/docker/" + DockerId + "/init", null, null, DockerId, "docker", null)]
    [InlineData("/machine.slice/libpod-" + PodmanId + ".scope/container", "libpod-" + PodmanId + ".scope", "machine.slice", PodmanId, "podman", null)]
    // systemd running inside a container, sharing the host's cgroup namespace: its own units nest below.
    [InlineData("/system.slice/docker-" + DockerId + ".scope/system.slice/nginx.service", "nginx.service", "system.slice", DockerId, "docker", null)]
    // Containers in containers: the innermost is the one the process is in.
    [InlineData("/docker/" + OuterId + "/docker/" + DockerId, null, null, DockerId, "docker", null)]
    [InlineData("/docker/" + OuterId + "/kubepods/burstable/pod" + CgroupfsUid + "/" + KubepodsId, null, null, KubepodsId, "kubepods", CgroupfsUid)]
    public void Describe_nested_paths_yield_the_innermost_container(string path, string? unit, string? slice, string? containerId, string? runtime, string? podUid)
    {
        Assert.Equal(new CgroupInfo(path, unit, slice, containerId, runtime, podUid), CgroupParser.Describe(path));
    }

    [Theory]
    // conmon: the unit and pod are still read, the container is not.
    [InlineData(CrioConmonPath, "crio-conmon-" + CrioId + ".scope", CrioPodSlice, BestEffortUid)]
    [InlineData("/system.slice/crio-conmon-" + CrioId + ".scope", "crio-conmon-" + CrioId + ".scope", "system.slice", null)]
    [InlineData("/kubepods/besteffort/pod" + CgroupfsUid + "/crio-conmon-" + CrioId, null, null, CgroupfsUid)]
    [InlineData("/machine.slice/libpod-conmon-" + PodmanId + ".scope", "libpod-conmon-" + PodmanId + ".scope", "machine.slice", null)]
    [InlineData("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-" + PodmanId + ".scope", "libpod-conmon-" + PodmanId + ".scope", "user.slice", null)]
    // podman cgroupfs: conmon in /libpod_parent/conmon, or (older releases) in the container's conmon child.
    [InlineData("/libpod_parent/conmon", null, null, null)]
    [InlineData("/libpod_parent/libpod-" + PodmanId + "/conmon", null, null, null)]
    public void Conmon_is_not_a_container(string path, string? unit, string? slice, string? podUid)
    {
        Assert.Equal(new CgroupInfo(path, unit, slice, null, null, podUid), CgroupParser.Describe(path));
    }

    [Fact]
    public void Conmon_cases_differ_from_their_container_only_by_the_conmon_part()
    {
        // The twins of the conmon paths above are containers, so those tests fail if ids stop being read at all.
        Assert.Equal(CrioId, CgroupParser.Describe(CrioConmonPath.Replace("crio-conmon-", "crio-", StringComparison.Ordinal)).ContainerId);
        Assert.Equal(PodmanId, CgroupParser.Describe("/machine.slice/libpod-" + PodmanId + ".scope").ContainerId);
        Assert.Equal(PodmanId, CgroupParser.Describe("/libpod_parent/libpod-" + PodmanId + "/ctr").ContainerId);
        Assert.Equal(CrioId, CgroupParser.Describe("/kubepods/besteffort/pod" + CgroupfsUid + "/crio-" + CrioId).ContainerId);
    }

    [Theory]
    [InlineData("/", null, null)]
    [InlineData("", null, null)]
    [InlineData("/-.slice", null, null)]
    [InlineData("/docker", null, null)]
    // ".service" alone names no unit, so the slice is the unit.
    [InlineData("/system.slice/.service", "system.slice", "system.slice")]
    public void Paths_without_a_service_or_scope(string path, string? unit, string? slice)
    {
        Assert.Equal(new CgroupInfo(path, unit, slice, null, null, null), CgroupParser.Describe(path));
    }

    [Theory]
    // 63 and 65 digits, a non-hex digit, upper case: never an id, with a prefix or bare.
    [InlineData("/docker/", "")]
    [InlineData("/system.slice/docker-", ".scope")]
    [InlineData("/kubepods/burstable/pod" + CgroupfsUid + "/", "")]
    [InlineData("/kubepods/burstable/pod" + CgroupfsUid + "/cri-containerd-", ".scope")]
    [InlineData("/machine.slice/libpod-", ".scope")]
    [InlineData("/libpod_parent/libpod-", "")]
    [InlineData(CrioPodSlice + "/crio-", ".scope")]
    public void Only_64_lower_case_hex_digits_make_an_id(string before, string after)
    {
        Assert.Equal(DockerId, CgroupParser.Describe(before + DockerId + after).ContainerId);
        Assert.Null(CgroupParser.Describe(before + DockerId[..63] + after).ContainerId);
        Assert.Null(CgroupParser.Describe(before + DockerId + "0" + after).ContainerId);
        Assert.Null(CgroupParser.Describe(before + "g" + DockerId[1..] + after).ContainerId);
        Assert.Null(CgroupParser.Describe(before + DockerId.ToUpperInvariant() + after).ContainerId);
        Assert.Null(CgroupParser.Describe(before + after).ContainerId);
    }

    [Theory]
    // containerd's own namespaces (/default/ID, /k8s.io/ID) and top-level ids: too ambiguous.
    [InlineData("/default/" + DockerId)]
    [InlineData("/k8s.io/" + DockerId)]
    [InlineData("/" + DockerId)]
    // A podman pod's cgroup (cgroupfs) is named by the pod id, which is not a container id.
    [InlineData("/libpod_parent/" + PodmanPodId)]
    // A pod-like name without kubepods above it, and a docker parent that is not the direct parent.
    [InlineData("/burstable/pod" + CgroupfsUid + "/" + DockerId)]
    [InlineData("/docker/nested/" + DockerId)]
    public void A_bare_id_under_an_unknown_parent_is_not_claimed(string path)
    {
        var info = CgroupParser.Describe(path);
        Assert.Equal(path, info.Path);
        Assert.Null(info.ContainerId);
        Assert.Null(info.ContainerRuntime);
        Assert.Null(info.PodUid);
    }

    [Theory]
    [InlineData("/kubepods/burstable/pod/" + KubepodsId)]
    [InlineData("/kubepods/burstable/podZZ/" + KubepodsId)]
    [InlineData("/kubepods/burstable/pod" + "23C70B13-0985-46C1-B06A-72CC8F0421BC" + "/" + KubepodsId)]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod.slice/cri-containerd-" + ContainerdId + ".scope")]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/other-burstable-pod" + BurstableUidEscaped + ".slice/cri-containerd-" + ContainerdId + ".scope")]
    public void A_malformed_pod_name_gives_no_pod_uid(string path)
    {
        Assert.Null(CgroupParser.Describe(path).PodUid);
    }

    [Theory]
    [InlineData("/system.slice/nginx.service\n", "/system.slice/nginx.service", "nginx.service")]
    [InlineData("/system.slice/nginx.service\r\n", "/system.slice/nginx.service", "nginx.service")]
    [InlineData("/system.slice/gone.service (deleted)", "/system.slice/gone.service", "gone.service")]
    [InlineData("/system.slice/gone.service (deleted)\n", "/system.slice/gone.service", "gone.service")]
    [InlineData("/system.slice/docker-" + DockerId + ".scope (deleted)\n", "/system.slice/docker-" + DockerId + ".scope", "docker-" + DockerId + ".scope")]
    public void Describe_strips_the_newline_and_the_deleted_marker(string path, string clean, string unit)
    {
        var info = CgroupParser.Describe(path);
        Assert.Equal(clean, info.Path);
        Assert.Equal(unit, info.Unit);
    }

    [Fact]
    public void Describe_returns_the_same_string_when_nothing_is_stripped()
    {
        var path = "/system.slice/nginx.service";
        Assert.Same(path, CgroupParser.Describe(path).Path);
    }

    [Theory]
    // Hybrid with two real paths: v2 wins, wherever its line is.
    [InlineData("1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n", "/system.slice/b.service")]
    [InlineData("0::/system.slice/b.service\n1:name=systemd:/system.slice/a.service\n", "/system.slice/b.service")]
    // v2 at the root: name=systemd wins; v1 at the root (an exiting task): v2 wins; both at the root: "/".
    [InlineData("0::/\n1:name=systemd:/system.slice/a.service\n", "/system.slice/a.service")]
    [InlineData("1:name=systemd:/\n0::/system.slice/b.service\n", "/system.slice/b.service")]
    [InlineData("1:name=systemd:/\n0::/\n", "/")]
    // Pure v2 at the root (kernel threads), pure v1.
    [InlineData("0::/\n", "/")]
    [InlineData("3:cpu:/x\n1:name=systemd:/system.slice/a.service", "/system.slice/a.service")]
    // name=systemd in a comma list, as the kernel prints co-mounted hierarchies.
    [InlineData("1:cpu,name=systemd:/system.slice/a.service\n", "/system.slice/a.service")]
    // The path is everything after the second ':'.
    [InlineData("0::/system.slice/weird:name.service\n", "/system.slice/weird:name.service")]
    // No trailing newline, CRLF, a deleted v2 cgroup.
    [InlineData("0::/system.slice/b.service", "/system.slice/b.service")]
    [InlineData("1:name=systemd:/system.slice/a.service\r\n0::/system.slice/b.service\r\n", "/system.slice/b.service")]
    [InlineData("1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service (deleted)\n", "/system.slice/b.service")]
    // A v2 line with no path (" (deleted)" alone) is skipped, and name=systemd is used.
    [InlineData("1:name=systemd:/system.slice/a.service\n0:: (deleted)\n", "/system.slice/a.service")]
    // The first of duplicate lines counts.
    [InlineData("0::/system.slice/b.service\n0::/system.slice/c.service\n", "/system.slice/b.service")]
    // Other hierarchies are never the systemd path.
    [InlineData("4:memory:/system.slice/m.service\n2:cpu:/system.slice/c.service\n", null)]
    [InlineData("", null)]
    [InlineData("\n\n", null)]
    public void SystemdPath_chooses_between_the_hierarchies(string text, string? expected)
    {
        Assert.Equal(expected, CgroupParser.SystemdPath(text));
    }

    [Fact]
    public void Garbage_lines_are_skipped_not_fatal()
    {
        var garbage = Read("garbage.txt");
        Assert.Equal("/system.slice/ok.service", CgroupParser.SystemdPath(garbage + "0::/system.slice/ok.service\n"));
        Assert.Equal("/system.slice/ok.service", CgroupParser.SystemdPath(garbage + "1:name=systemd:/system.slice/ok.service"));
        Assert.Equal("/system.slice/ok.service", CgroupParser.SystemdPath("1:name=systemd:/system.slice/ok.service\n" + garbage));
    }

    [Fact]
    public void Describe_of_each_garbage_line_names_no_container()
    {
        var lines = Read("garbage.txt").Split('\n');
        Assert.True(lines.Length > 20);
        foreach (var line in lines)
        {
            var info = CgroupParser.Describe(line);
            Assert.Null(info.ContainerId);
            Assert.Null(info.PodUid);
        }
    }

    [Fact]
    public void Random_text_never_throws()
    {
        // Pieces of real lines, shuffled: separators, markers, prefixes and ids in odd places.
        string[] pieces =
        [
            "0", "1", ":", "::", "/", "\n", "\r", " (deleted)", "name=systemd", ",", "docker", "docker-", ".scope",
            ".slice", ".service", "kubepods", "pod", "-", "_", "crio-conmon-", "libpod-", "libpod_parent", "conmon",
            DockerId, DockerId[..63], BurstableUidEscaped, CgroupfsUid, "\u00e9", "\0",
        ];
        var random = new Random(20240611);
        var text = new System.Text.StringBuilder();
        for (var n = 0; n < 20_000; n++)
        {
            text.Clear();
            var count = random.Next(0, 24);
            for (var i = 0; i < count; i++)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            var s = text.ToString();
            var path = CgroupParser.SystemdPath(s);
            Assert.True(path is null || path.StartsWith('/'));
            Assert.NotNull(CgroupParser.Describe(s));
        }
    }

    [Fact]
    public void Describe_rejects_null()
    {
        Assert.Throws<ArgumentNullException>(() => CgroupParser.Describe(null!));
    }
}
