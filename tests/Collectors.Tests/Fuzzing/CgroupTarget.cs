using System.Buffers;
using System.Text;
using SockWatch.Collectors.Ownership;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>
/// CgroupParser.SystemdPath over /proc/PID/cgroup text, decoded as the scanner decodes it
/// (UTF-8, invalid bytes replaced), then CgroupParser.Describe over the path it returns. Files are
/// built from scratch ("ID:controllers:path" lines, paths of systemd units, slices, container
/// and pod cgroups of every runtime) or taken from tests/fixtures/cgroup, then mutated.
/// </summary>
/// <remarks>
/// Oracle: no exception; a path starts with '/'; Describe names a container only with a runtime
/// and a 64-hex id, a unit only ending .service, .scope or .slice, a pod uid only of hex and '-'.
/// Variant bit 0: Describe is also given the whole text, as if it were a path.
/// </remarks>
internal sealed class CgroupTarget() : GeneratedTarget(new Mutator([.. FuzzSeeds.In("cgroup"), .. FuzzSeeds.Named("cgroup")], Tokens))
{
    private static readonly string[] Tokens =
    [
        "0::", "1:name=systemd:", "/", " (deleted)", ".slice", ".service", ".scope", "-.slice", "docker", "docker-", "kubepods",
        "pod", "crio-", "crio-conmon-", "libpod-", "libpod-conmon-", "cri-containerd-", "libpod_parent", "conmon", "..",
    ];

    private static readonly SearchValues<char> LowerHexDigits = SearchValues.Create("0123456789abcdef");

    private static readonly SearchValues<char> UidChars = SearchValues.Create("0123456789abcdef-");

    private static readonly string[] Controllers = [string.Empty, "name=systemd", "cpu,cpuacct", "memory", "pids", "name=systemd,cpu", "net_cls,net_prio", ","];

    private static readonly string[] Plain =
    [
        "system.slice", "user.slice", "user-1000.slice", "user@1000.service", "app.slice", "session-3.scope", "-.slice",
        "init.scope", "cron.service", ".service", ".slice", "docker", "kubepods", "burstable", "besteffort", "libpod_parent",
        "conmon", "machine.slice", "..", "a:b", "x\u00e9", string.Empty,
    ];

    private static readonly string[] ContainerPrefixes = ["docker-", "cri-containerd-", "crio-", "crio-conmon-", "libpod-", "libpod-conmon-", string.Empty];

    public override string Name => "cgroup";

    public override string Drives => "CgroupParser.SystemdPath, CgroupParser.Describe";

    protected override int Variant(Random random) => random.Next(2);

    public override Verdict Run(FuzzInput input)
    {
        var text = Encoding.UTF8.GetString(input.Data);
        var path = CgroupParser.SystemdPath(text);
        var verdict = Verdict.Of(path is not null).Require(path is null || path.StartsWith('/'), "a systemd path that does not start with '/'");
        if (path is not null)
        {
            verdict = Check(verdict, CgroupParser.Describe(path));
        }

        return (input.Variant & 1) != 0 ? Check(verdict, CgroupParser.Describe(text)) : verdict;
    }

    private static Verdict Check(Verdict verdict, CgroupInfo info) => verdict
        .Require(info.Path is not null, "Describe returned no path")
        .Require((info.ContainerId is null) == (info.ContainerRuntime is null), "a container id without a runtime, or a runtime without an id")
        .Require(info.ContainerId is null || (info.ContainerId.Length == 64 && !info.ContainerId.AsSpan().ContainsAnyExcept(LowerHexDigits)), "a container id that is not 64 lower-case hex digits")
        .Require(info.Unit is null || info.Unit.EndsWith(".service", StringComparison.Ordinal) || info.Unit.EndsWith(".scope", StringComparison.Ordinal) || info.Unit.EndsWith(".slice", StringComparison.Ordinal), "a unit that is no service, scope or slice")
        .Require(info.Slice is null || info.Slice.EndsWith(".slice", StringComparison.Ordinal), "a slice that does not end in .slice")
        .Require(info.PodUid is null || (info.PodUid.Length > 0 && !info.PodUid.AsSpan().ContainsAnyExcept(UidChars)), "a pod uid of other than hex digits and '-'");

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>();
        for (var lines = 1 + random.Next(14); lines > 0; lines--)
        {
            var hierarchy = random.Next(10) switch
            {
                < 5 => "0",
                < 9 => random.Next(1, 14).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => random.Number(),
            };
            d.Text(hierarchy).Text(":").Text(hierarchy == "0" && random.Next(8) != 0 ? string.Empty : random.Pick(Controllers)).Text(":");
            var components = random.Next(9);
            if (components == 0)
            {
                d.Text("/");
            }

            for (var i = 0; i < components; i++)
            {
                d.Text("/").Text(Component(random));
            }

            d.Text(random.Next(10) == 0 ? " (deleted)" : string.Empty).Text(random.Next(10) == 0 ? "\r\n" : "\n");
        }

        return d;
    }

    private static string Component(Random r) => r.Next(4) switch
    {
        0 => r.Pick(ContainerPrefixes) + ContainerId(r) + (r.Next(2) == 0 ? ".scope" : string.Empty),
        1 => r.Next(2) == 0
            ? "pod" + PodUid(r, '-')
            : r.Pick(["kubepods-", "kubepods-burstable-", "kubelet-kubepods-besteffort-", "kube-"]) + "pod" + PodUid(r, '_') + ".slice",
        _ => r.Pick(Plain),
    };

    private static string ContainerId(Random r) => r.Next(6) switch
    {
        0 => r.LowerHex(r.Next(60, 68)),
        1 => r.LowerHex(64).ToUpperInvariant(),
        _ => r.LowerHex(64),
    };

    private static string PodUid(Random r, char separator) => r.Next(4) == 0
        ? r.LowerHex(32)
        : string.Join(separator, r.LowerHex(8), r.LowerHex(4), r.LowerHex(4), r.LowerHex(4), r.LowerHex(12));
}
