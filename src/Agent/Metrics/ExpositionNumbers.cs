using System.Globalization;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// Numbers as the text formats spell them, written as ASCII bytes, culture-invariant.
/// </summary>
/// <remarks>
/// <para>Both formats accept Go <c>ParseFloat</c> syntax plus <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>
/// (docs/exposition.md, "Values"). .NET's own text for these is <c>Infinity</c>/<c>-Infinity</c> and an
/// upper-case <c>E</c>, so digits are taken from the shortest round-trip form ("R") and laid out here.</para>
/// <para>Sample values: plain decimal while the decimal exponent is in [-4, 21), so every integer up
/// to 10^21 (and every count) prints without exponent noise (<c>1000000</c>, not <c>1e+06</c>);
/// beyond that <c>1e+21</c>, <c>1.5e-07</c>, the exponent with a sign and at least two digits as Go writes it.</para>
/// <para>Bucket bounds (<c>le</c>): OpenMetrics' canonical form, which is Go's <c>%g</c> (exponent when
/// it is below -4 or at least 6) plus <c>.0</c> when there is neither a point nor an exponent:
/// <c>0.1</c>, <c>1.0</c>, <c>10.0</c>, <c>1e-05</c>, <c>1e+06</c>, <c>+Inf</c> (docs/exposition.md, "Bucket bounds").</para>
/// </remarks>
internal static class ExpositionNumbers
{
    /// <summary>Longest output: sign, 17 digits, point, 20 zeros of padding, exponent; 64 is ample.</summary>
    public const int MaxLength = 64;

    public static int FormatValue(double value, Span<byte> destination) =>
        Format(value, destination, exponentAtOrAbove: 21, pointZero: false);

    public static int FormatBound(double bound, Span<byte> destination) =>
        Format(bound, destination, exponentAtOrAbove: 6, pointZero: true);

    public static string FormatValue(double value)
    {
        Span<byte> buffer = stackalloc byte[MaxLength];
        return System.Text.Encoding.ASCII.GetString(buffer[..FormatValue(value, buffer)]);
    }

    public static string FormatBound(double bound)
    {
        Span<byte> buffer = stackalloc byte[MaxLength];
        return System.Text.Encoding.ASCII.GetString(buffer[..FormatBound(bound, buffer)]);
    }

    private static int Format(double value, Span<byte> dst, int exponentAtOrAbove, bool pointZero)
    {
        if (double.IsNaN(value))
        {
            return Copy("NaN"u8, dst);
        }

        if (double.IsInfinity(value))
        {
            return Copy(value > 0 ? "+Inf"u8 : "-Inf"u8, dst);
        }

        if (value == 0)
        {
            // -0 is written as 0: the same number to every reader, and no "-0" surprises in le.
            return Copy(pointZero ? "0.0"u8 : "0"u8, dst);
        }

        // Shortest round-trip text, e.g. "-1.2345E-05", "123.45", "1E+21", split into
        // significant digits d1..dn and the point position: value = 0.d1..dn * 10^pointPos.
        Span<char> text = stackalloc char[40];
        value.TryFormat(text, out var textLength, "R", CultureInfo.InvariantCulture);
        text = text[..textLength];

        Span<byte> digits = stackalloc byte[24];
        var digitCount = 0;
        var pointPos = 0;
        var seenPoint = false;
        var i = text[0] == '-' ? 1 : 0;
        for (; i < text.Length && text[i] != 'E'; i++)
        {
            var c = text[i];
            if (c == '.')
            {
                seenPoint = true;
            }
            else if (digitCount == 0 && c == '0')
            {
                // A leading zero: before the point it is nothing, after it it moves the point left.
                if (seenPoint)
                {
                    pointPos--;
                }
            }
            else
            {
                digits[digitCount++] = (byte)c;
                if (!seenPoint)
                {
                    pointPos++;
                }
            }
        }

        if (i < text.Length)
        {
            pointPos += int.Parse(text[(i + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }

        // "R" may keep trailing zeros of an integer ("100"); they are not significant digits.
        while (digitCount > 1 && digits[digitCount - 1] == '0')
        {
            digitCount--;
        }

        var n = 0;
        if (value < 0)
        {
            dst[n++] = (byte)'-';
        }

        var exponent = pointPos - 1;
        if (exponent < -4 || exponent >= exponentAtOrAbove)
        {
            dst[n++] = digits[0];
            if (digitCount > 1)
            {
                dst[n++] = (byte)'.';
                digits[1..digitCount].CopyTo(dst[n..]);
                n += digitCount - 1;
            }

            dst[n++] = (byte)'e';
            dst[n++] = exponent < 0 ? (byte)'-' : (byte)'+';
            var magnitude = Math.Abs(exponent);
            if (magnitude < 10)
            {
                dst[n++] = (byte)'0';
            }

            magnitude.TryFormat(dst[n..], out var written, default, CultureInfo.InvariantCulture);
            return n + written;
        }

        if (pointPos <= 0)
        {
            dst[n++] = (byte)'0';
            dst[n++] = (byte)'.';
            dst.Slice(n, -pointPos).Fill((byte)'0');
            n += -pointPos;
            digits[..digitCount].CopyTo(dst[n..]);
            return n + digitCount;
        }

        if (pointPos >= digitCount)
        {
            digits[..digitCount].CopyTo(dst[n..]);
            n += digitCount;
            dst.Slice(n, pointPos - digitCount).Fill((byte)'0');
            n += pointPos - digitCount;
            if (pointZero)
            {
                dst[n++] = (byte)'.';
                dst[n++] = (byte)'0';
            }

            return n;
        }

        digits[..pointPos].CopyTo(dst[n..]);
        n += pointPos;
        dst[n++] = (byte)'.';
        digits[pointPos..digitCount].CopyTo(dst[n..]);
        return n + digitCount - pointPos;
    }

    private static int Copy(ReadOnlySpan<byte> text, Span<byte> dst)
    {
        text.CopyTo(dst);
        return text.Length;
    }
}
