using System.Globalization;

namespace SockWatch.Core.Detection;

/// <summary>The ways to make <see cref="Bounds{T}"/>.</summary>
public static class Bounds
{
    /// <summary>Values more than <paramref name="min"/>.</summary>
    public static Bounds<T> Above<T>(T min)
        where T : struct, IComparable<T> => new(min, minIncluded: false, max: null);

    /// <summary>Values from <paramref name="min"/> up.</summary>
    public static Bounds<T> AtLeast<T>(T min)
        where T : struct, IComparable<T> => new(min, minIncluded: true, max: null);

    /// <summary>Values from <paramref name="min"/> to <paramref name="max"/>, both included.</summary>
    public static Bounds<T> Between<T>(T min, T max)
        where T : struct, IComparable<T> => new(min, minIncluded: true, max);

    /// <summary>Values more than <paramref name="min"/> and at most <paramref name="max"/>.</summary>
    public static Bounds<T> AboveAtMost<T>(T min, T max)
        where T : struct, IComparable<T> => new(min, minIncluded: false, max);
}

/// <summary>
/// The values a setting accepts: an interval with a lower bound (included or not) and an
/// optional upper bound (included). One object is the rule wherever the value is checked, and
/// its <see cref="Describe"/> is the rule's wording in every message and help text.
/// </summary>
/// <typeparam name="T">The value's type: int, double, TimeSpan.</typeparam>
public sealed class Bounds<T>
    where T : struct, IComparable<T>
{
    internal Bounds(T min, bool minIncluded, T? max)
    {
        Min = min;
        MinIncluded = minIncluded;
        Max = max;
    }

    public T Min { get; }

    /// <summary>Whether <see cref="Min"/> itself is accepted.</summary>
    public bool MinIncluded { get; }

    /// <summary>The largest value accepted, if any.</summary>
    public T? Max { get; }

    /// <summary>Whether the value is accepted. NaN never is: it compares below every number.</summary>
    public bool Allows(T value)
    {
        var low = value.CompareTo(Min);
        return (MinIncluded ? low >= 0 : low > 0) && (Max is not { } max || value.CompareTo(max) <= 0);
    }

    /// <summary>The rule in words ("more than 0", "from 1 to 100", "in (0, 1]"), each bound written by <paramref name="format"/>.</summary>
    public string Describe(Func<T, string>? format = null)
    {
        format ??= v => string.Format(CultureInfo.InvariantCulture, "{0}", v);
        return (MinIncluded, Max) switch
        {
            (false, null) => "more than " + format(Min),
            (true, null) => "at least " + format(Min),
            (true, { } max) => $"from {format(Min)} to {format(max)}",
            (false, { } max) => $"in ({format(Min)}, {format(max)}]",
        };
    }
}
