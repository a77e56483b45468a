namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>One generated input: its bytes, and a small number that says how the parser is driven
/// (the file's family, the read buffer's size, ...); both are printed when the input fails.</summary>
internal readonly record struct FuzzInput(byte[] Data, int Variant);

internal enum Outcome
{
    /// <summary>The parser took all of the input: a value came back and nothing was counted malformed.</summary>
    Parsed,

    /// <summary>The parser refused the input or part of it, and said so: false, null, a malformed count.</summary>
    Malformed,

    /// <summary>The parser threw the typed error it documents for this input (NLMSG_ERROR: a CollectorException).</summary>
    Rejected,
}

/// <summary>
/// What one input did: its outcome; the units in it (lines, messages, list items) offered to the
/// parser, accepted and counted malformed; and the first invariant it broke, if any.
/// </summary>
internal readonly record struct Verdict(Outcome Outcome, int Offered, int Accepted, int Malformed, string? Violation = null)
{
    /// <summary>For a parser of one value: it parsed, or it said it could not.</summary>
    public static Verdict Of(bool parsed) => parsed ? new(Outcome.Parsed, 1, 1, 0) : new(Outcome.Malformed, 1, 0, 1);

    /// <summary>This verdict, broken by <paramref name="why"/> unless <paramref name="holds"/> (the first violation is kept).</summary>
    public Verdict Require(bool holds, string why) => holds || Violation is not null ? this : this with { Violation = why };
}

/// <summary>
/// One parser under fuzzing: a seeded generator of inputs for it, and the oracle that runs one
/// input and judges what the parser did. <see cref="Run"/> lets every exception escape except
/// the typed ones the parser documents: the campaign counts those that escape as failures.
/// </summary>
internal abstract class FuzzTarget : IDisposable
{
    /// <summary>The name on the command line and in the report (<c>netlink</c>, <c>proc-net-tcp</c>, ...).</summary>
    public abstract string Name { get; }

    /// <summary>The parser functions driven, for the report.</summary>
    public abstract string Drives { get; }

    /// <summary>Makes one input from <paramref name="random"/> alone, so that (seed, index) reproduces it.</summary>
    public abstract FuzzInput Generate(Random random);

    public abstract Verdict Run(FuzzInput input);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>
/// A target whose inputs are either built from scratch (<see cref="Fresh"/>, valid by
/// construction with random fields) or taken from a recorded fixture, then mutated.
/// </summary>
internal abstract class GeneratedTarget(Mutator mutator) : FuzzTarget
{
    protected Mutator Mutator { get; } = mutator;

    /// <summary>Percent of inputs built from scratch rather than from a recorded seed.</summary>
    private const int FreshPercent = 50;

    public override FuzzInput Generate(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var variant = Variant(random);
        var fromScratch = random.Next(100) < FreshPercent;
        var data = fromScratch ? Fresh(random, variant) : Seed(random, variant);

        // A third of the inputs built from scratch stay as built, so that the valid path is
        // exercised too; recorded seeds are always mutated (as recorded, they are the unit tests' fixtures).
        if (!fromScratch || random.Next(3) != 0)
        {
            Mutator.Mutate(random, data);
        }

        return new FuzzInput([.. data], variant);
    }

    /// <summary>How the parser is driven for this input (0 when there is only one way).</summary>
    protected virtual int Variant(Random random) => 0;

    /// <summary>A recorded input to mutate; a target may pick one that suits the variant.</summary>
    protected virtual List<byte> Seed(Random random, int variant) => Mutator.Seed(random);

    /// <summary>A well-formed input built from scratch with random field values.</summary>
    protected abstract List<byte> Fresh(Random random, int variant);
}

/// <summary>Seeds for the per-input generators: input <c>index</c> of a campaign depends on nothing but (seed, target, index).</summary>
internal static class FuzzSeed
{
    public static int For(int seed, string target, long index)
    {
        ArgumentNullException.ThrowIfNull(target);
        var h = 0xCBF29CE484222325UL; // FNV-1a of the target's name: each target draws its own stream
        foreach (var c in target)
        {
            h = (h ^ c) * 0x100000001B3UL;
        }

        // splitmix64's finaliser over (name, seed, index): neighbouring indexes get unrelated seeds.
        var x = h + ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) + ((ulong)index * 0xD1B54A32D192ED03UL);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return (int)x;
    }
}
