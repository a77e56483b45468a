using System.Text;
using SockWatch.Collectors.Ownership;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>ProcFs.TryParseStat over /proc/PID/stat: "pid (comm) state ppid ... starttime ...".</summary>
/// <remarks>Oracle: no exception; parsed only when the text has "(" and a later ")"; comm is never null.</remarks>
internal sealed class ProcStatTarget() : GeneratedTarget(new Mutator(FuzzSeeds.Named("stat"), ["(", ")", ") ", " (", "((", "))", "S ", "Z ", "(sd-pam)"]))
{
    private static readonly string[] CommPieces = ["nginx", " ", "(", ")", ") S 1 (", "worker", ":", "\n", "\0", "\u00e9", "\ufffd", "kworker/0:1"];

    public override string Name => "proc-stat";

    public override string Drives => "ProcFs.TryParseStat";

    public override Verdict Run(FuzzInput input)
    {
        var data = input.Data.AsSpan();
        var parsed = ProcFs.TryParseStat(data, out var comm, out _);
        var open = data.IndexOf((byte)'(');
        return Verdict.Of(parsed)
            .Require(!parsed || (open >= 0 && data.LastIndexOf((byte)')') > open), "parsed without a (comm)")
            .Require(comm is not null, "comm is null");
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>().Text(random.Number(4_194_304)).Text(" (");
        for (var n = random.Next(5); n > 0; n--)
        {
            d.Text(random.Pick(CommPieces));
        }

        d.Text(") ").Text(random.Pick(["S", "R", "Z", "D", "I", "X", "(", string.Empty]));
        // 52 fields in all since 5.x: 49 after the state; older kernels print fewer.
        for (var n = random.Next(8) == 0 ? random.Next(60) : 49; n > 0; n--)
        {
            d.Text(" ").Text(random.Number(long.MaxValue));
        }

        return random.Next(4) == 0 ? d : d.Text("\n");
    }
}

/// <summary>ProcFs.TryParseStatusUid over /proc/PID/status: the real uid of the "Uid:" line.</summary>
/// <remarks>Oracle: no exception; parsed only when the text has a line starting "Uid:" after the first.</remarks>
internal sealed class ProcStatusTarget() : GeneratedTarget(new Mutator(FuzzSeeds.Named("status"), ["\nUid:", "Uid:", "\t", "Gid:", "Name:"]))
{
    private static readonly string[] Keys = ["Umask", "State", "Tgid", "Ngid", "Pid", "PPid", "TracerPid", "Gid", "FDSize", "Groups", "NStgid", "VmRSS", "Threads"];

    public override string Name => "proc-status";

    public override string Drives => "ProcFs.TryParseStatusUid";

    public override Verdict Run(FuzzInput input)
    {
        var parsed = ProcFs.TryParseStatusUid(input.Data, out _);
        return Verdict.Of(parsed).Require(!parsed || input.Data.AsSpan().IndexOf("\nUid:"u8) >= 0, "a uid from a text without a Uid: line");
    }

    protected override List<byte> Fresh(Random random, int variant)
    {
        var d = new List<byte>().Text("Name:\t").Text(random.Pick(["nginx", "a b", "\u00e9", string.Empty])).Text("\n");
        var lines = random.Next(14);
        var uidAt = random.Next(8) == 0 ? -1 : random.Next(lines + 1);
        for (var i = 0; i <= lines; i++)
        {
            if (i == uidAt)
            {
                d.Text("Uid:");
                for (var n = random.Next(8) == 0 ? random.Next(6) : 4; n > 0; n--)
                {
                    d.Text(random.Pick(["\t", " ", "  ", string.Empty])).Text(random.Number(uint.MaxValue));
                }

                d.Text("\n");
            }
            else
            {
                d.Text(random.Pick(Keys)).Text(":\t").Text(random.Number()).Text("\n");
            }
        }

        return d;
    }
}

/// <summary>
/// ProcFs.TryParseSocketLink over descriptor link targets ("socket:[12345]") and
/// ProcFs.TryParsePid over /proc entry names. Variant bit 0: 0 a link target, 1 an entry name.
/// </summary>
/// <remarks>Oracle: no exception; a socket only from "socket:[...]"; a pid only above 0.</remarks>
internal sealed class ProcFdTarget() : GeneratedTarget(new Mutator(Seeds, ["socket:[", "]", "[", ":", "pipe:["]))
{
    private static readonly List<byte[]> Seeds =
        [.. new[] { "socket:[12345]", "socket:[0]", "pipe:[4711]", "anon_inode:[eventfd]", "/dev/null", "1", "4194304", "self" }
            .Select(Encoding.UTF8.GetBytes)];

    public override string Name => "proc-fd";

    public override string Drives => "ProcFs.TryParseSocketLink, ProcFs.TryParsePid";

    protected override int Variant(Random random) => random.Next(2);

    public override Verdict Run(FuzzInput input)
    {
        var data = input.Data.AsSpan();
        if ((input.Variant & 1) == 0)
        {
            var socket = ProcFs.TryParseSocketLink(data, out _);
            return Verdict.Of(socket).Require(!socket || (data.StartsWith("socket:["u8) && data[^1] == (byte)']'), "a socket from a link that is not socket:[...]");
        }

        var pid = ProcFs.TryParsePid(data, out var value);
        return Verdict.Of(pid).Require(!pid || value > 0, "a pid of 0 or below");
    }

    protected override List<byte> Fresh(Random random, int variant) => (variant & 1) == 0
        ? new List<byte>().Text(random.Pick(["socket:[", "pipe:[", "anon_inode:[", "socket:"])).Text(random.Number(uint.MaxValue)).Text(random.Pick(["]", "]]", string.Empty]))
        : new List<byte>().Text(random.Next(8) == 0 ? random.Pick(["self", "thread-self", "net", "sys"]) : random.Number(4_194_304));
}
