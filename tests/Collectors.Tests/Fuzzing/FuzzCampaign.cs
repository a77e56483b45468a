using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SockWatch.Collectors.Tests.Fuzzing;

/// <summary>An input that failed: an exception escaped, an invariant broke, or it hung.</summary>
internal sealed record FuzzFailure(string Target, int Seed, long Index, string Kind, string Detail, FuzzInput Input)
{
    /// <summary>Inputs longer than this are printed in part; (seed, index) regenerates them whole.</summary>
    private const int HexBytes = 16 * 1024;

    public override string ToString()
    {
        var data = Input.Data;
        var hex = Convert.ToHexString(data.AsSpan(0, Math.Min(data.Length, HexBytes)));
        var more = data.Length > HexBytes ? $" ... ({data.Length - HexBytes} more bytes)" : string.Empty;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"""
            {Target} seed={Seed} index={Index} variant={Input.Variant}: {Kind}: {Detail}
              input ({data.Length} bytes): {hex}{more}
              replay: SOCKWATCH_FUZZ_PARSER={Target} SOCKWATCH_FUZZ_SEED={Seed} SOCKWATCH_FUZZ_START={Index} SOCKWATCH_FUZZ_INPUTS=1 dotnet test tests/Collectors.Tests --filter FullyQualifiedName~FuzzLongRun
            """);
    }
}

/// <summary>The figures of one campaign over one target.</summary>
internal sealed class FuzzReport(string target, int seed, long first)
{
    /// <summary>Failures kept with their input; the counts go on past them.</summary>
    public const int KeptFailures = 10;

    public const string Header =
        "| parser | inputs | parsed | malformed | rejected | exceptions | violations | hangs | units offered | accepted | malformed units | seconds | inputs/s | slowest ms |";

    public const string Rule = "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|";

    public string Target { get; } = target;

    public int Seed { get; } = seed;

    public long First { get; } = first;

    public long Inputs { get; set; }

    public long Parsed { get; set; }

    public long Malformed { get; set; }

    public long Rejected { get; set; }

    public long Exceptions { get; set; }

    public long Violations { get; set; }

    public long Hangs { get; set; }

    public long Offered { get; set; }

    public long Accepted { get; set; }

    public long MalformedUnits { get; set; }

    public TimeSpan Elapsed { get; set; }

    public double SlowestMs { get; set; }

    /// <summary>Why the campaign stopped before its last input (a stuck input, the deadline), or null.</summary>
    public string? Stopped { get; set; }

    public List<FuzzFailure> Failures { get; } = [];

    public long Failed => Exceptions + Violations + Hangs;

    public bool Clean => Failed == 0 && Stopped is null;

    public string Row()
    {
        var seconds = Elapsed.TotalSeconds;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"| {Target} | {Inputs:N0} | {Parsed:N0} | {Malformed:N0} | {Rejected:N0} | {Exceptions:N0} | {Violations:N0} | {Hangs:N0} | {Offered:N0} | {Accepted:N0} | {MalformedUnits:N0} | {seconds:F1} | {Inputs / Math.Max(seconds, 1e-9):N0} | {SlowestMs:F1} |");
    }

    /// <summary>The row, why it stopped, and every kept failure with its input in hex.</summary>
    public string Describe()
    {
        var text = new StringBuilder().AppendLine(Header).AppendLine(Rule).AppendLine(Row());
        if (Stopped is not null)
        {
            text.Append("stopped: ").AppendLine(Stopped);
        }

        foreach (var failure in Failures)
        {
            text.AppendLine(failure.ToString());
        }

        return text.ToString();
    }

    public void Fail(long index, string kind, string detail, FuzzInput input)
    {
        if (Failures.Count < KeptFailures)
        {
            Failures.Add(new FuzzFailure(Target, Seed, index, kind, detail, input));
        }
    }
}

/// <summary>
/// Runs one target over inputs first .. first + count - 1 of a seed, on a worker thread under a
/// watchdog. Input i is generated from <c>new Random(FuzzSeed.For(seed, target, i))</c>, so any
/// failure is reproduced from its seed and index alone.
/// </summary>
/// <remarks>
/// A hang is an input that takes longer than <see cref="InputBudget"/> twice in a row (run once
/// more when slow, so that a stall of a shared machine is not blamed on the parser). An input
/// that never returns cannot be aborted in .NET: after <see cref="StuckAfter"/> the watchdog
/// records it as a hang and stops the campaign, leaving the background thread behind.
/// </remarks>
internal sealed class FuzzCampaign
{
    public static readonly TimeSpan InputBudget = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(10);

    private readonly FuzzTarget _target;
    private readonly FuzzReport _report;
    private long _runningSince; // Stopwatch timestamp of the input in progress; 0 between inputs
    private long _runningIndex;
    private FuzzInput _runningInput;
    private volatile bool _stop;

    private FuzzCampaign(FuzzTarget target, int seed, long first)
    {
        _target = target;
        _report = new FuzzReport(target.Name, seed, first);
    }

    public static FuzzReport Run(FuzzTarget target, int seed, long first, long count, TimeSpan deadline)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FuzzCampaign(target, seed, first).Execute(count, deadline);
    }

    private FuzzReport Execute(long count, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        var worker = new Thread(() => Work(count)) { IsBackground = true, Name = "fuzz " + _target.Name };
        worker.Start();
        while (!worker.Join(TimeSpan.FromMilliseconds(100)))
        {
            var since = Volatile.Read(ref _runningSince);
            if (since != 0 && Stopwatch.GetElapsedTime(since) > StuckAfter)
            {
                _stop = true;
                _report.Hangs++;
                _report.Fail(Volatile.Read(ref _runningIndex), "hang", $"still running after {StuckAfter.TotalSeconds} s; abandoned", _runningInput);
                _report.Stopped = "an input never returned";
                break;
            }

            if (clock.Elapsed > deadline)
            {
                _stop = true;
                worker.Join(StuckAfter);
                _report.Stopped = $"deadline of {deadline.TotalSeconds} s reached after {_report.Inputs} inputs";
                break;
            }
        }

        _report.Elapsed = clock.Elapsed;
        return _report;
    }

    private void Work(long count)
    {
        var report = _report;
        for (var index = report.First; index < report.First + count && !_stop; index++)
        {
            var input = _target.Generate(new Random(FuzzSeed.For(report.Seed, _target.Name, index)));
            _runningInput = input;
            Volatile.Write(ref _runningIndex, index);

            var (verdict, error, elapsed) = Timed(input);
            if (elapsed > InputBudget)
            {
                (verdict, error, elapsed) = Timed(input);
            }

            report.Inputs++;
            report.SlowestMs = Math.Max(report.SlowestMs, elapsed.TotalMilliseconds);
            if (elapsed > InputBudget)
            {
                report.Hangs++;
                report.Fail(index, "hang", $"{elapsed.TotalMilliseconds:F0} ms, twice over the {InputBudget.TotalMilliseconds} ms budget", input);
            }
            else if (error is not null)
            {
                report.Exceptions++;
                report.Fail(index, "exception", error.ToString(), input);
            }
            else if (verdict.Violation is not null)
            {
                report.Violations++;
                report.Fail(index, "violation", verdict.Violation, input);
            }
            else
            {
                Tally(verdict);
            }
        }
    }

    private void Tally(Verdict verdict)
    {
        var report = _report;
        switch (verdict.Outcome)
        {
            case Outcome.Parsed:
                report.Parsed++;
                break;
            case Outcome.Malformed:
                report.Malformed++;
                break;
            default:
                report.Rejected++;
                break;
        }

        report.Offered += verdict.Offered;
        report.Accepted += verdict.Accepted;
        report.MalformedUnits += verdict.Malformed;
    }

#pragma warning disable CA1031 // the point: any exception that escapes a parser is caught and reported as a failure
    private (Verdict Verdict, Exception? Error, TimeSpan Elapsed) Timed(FuzzInput input)
    {
        var start = Stopwatch.GetTimestamp();
        Volatile.Write(ref _runningSince, start);
        try
        {
            var verdict = _target.Run(input);
            return (verdict, null, Stopwatch.GetElapsedTime(start));
        }
        catch (Exception e)
        {
            return (default, e, Stopwatch.GetElapsedTime(start));
        }
        finally
        {
            Volatile.Write(ref _runningSince, 0);
        }
    }
#pragma warning restore CA1031
}
