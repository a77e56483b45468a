using System.Buffers;
using System.Globalization;
using System.Text.Unicode;

namespace SockWatch.Agent.Metrics;

/// <summary>
/// Bytes into a stream through one pooled buffer: ASCII for names and numbers, UTF-8 with
/// escaping for help text and label values. Nothing is allocated per line.
/// </summary>
internal sealed class ExpositionWriter : IDisposable
{
    /// <summary>
    /// 16 KiB: a socket write's worth, so a typical SockWatch scrape (a few hundred series,
    /// tens of KiB) goes out in a handful of writes, and the array stays below the large-object
    /// heap's 85,000 bytes, where the shared pool keeps it cheap to rent on every scrape.
    /// </summary>
    private const int BufferSize = 16 * 1024;

    /// <summary>Characters escaped in label values, and in OpenMetrics help: backslash, quote, line feed.</summary>
    private static readonly SearchValues<char> LabelValueEscapes = SearchValues.Create("\\\"\n");

    /// <summary>Characters escaped in 0.0.4 help: backslash and line feed only (a quote stays as is).</summary>
    private static readonly SearchValues<char> HelpEscapes004 = SearchValues.Create("\\\n");

    private readonly Stream _output;
    private byte[] _buffer;
    private int _position;

    public ExpositionWriter(Stream output)
    {
        _output = output;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    public void Ascii(ReadOnlySpan<byte> text)
    {
        if (text.Length > _buffer.Length - _position)
        {
            Flush();
            if (text.Length > _buffer.Length)
            {
                _output.Write(text);
                return;
            }
        }

        text.CopyTo(_buffer.AsSpan(_position));
        _position += text.Length;
    }

    /// <summary>A name already checked by <see cref="MetricNames"/>: ASCII only.</summary>
    public void Name(string name)
    {
        foreach (var c in name)
        {
            Byte((byte)c);
        }
    }

    public void Byte(byte b)
    {
        if (_position == _buffer.Length)
        {
            Flush();
        }

        _buffer[_position++] = b;
    }

    /// <summary>A label value: <c>\</c>, <c>"</c> and line feed escaped.</summary>
    public void LabelValue(string value) => Escaped(value, LabelValueEscapes);

    /// <summary>Help text: 0.0.4 escapes backslash and line feed; OpenMetrics also the quote.</summary>
    public void Help(string help, bool escapeQuote) => Escaped(help, escapeQuote ? LabelValueEscapes : HelpEscapes004);

    public void Value(double value)
    {
        Reserve(ExpositionNumbers.MaxLength);
        _position += ExpositionNumbers.FormatValue(value, _buffer.AsSpan(_position));
    }

    public void Bound(double bound)
    {
        Reserve(ExpositionNumbers.MaxLength);
        _position += ExpositionNumbers.FormatBound(bound, _buffer.AsSpan(_position));
    }

    public void Integer(long value)
    {
        Reserve(20);
        value.TryFormat(_buffer.AsSpan(_position), out var written, default, CultureInfo.InvariantCulture);
        _position += written;
    }

    public void Flush()
    {
        if (_position > 0)
        {
            _output.Write(_buffer, 0, _position);
            _position = 0;
        }
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Escaped(string text, SearchValues<char> escapes)
    {
        var rest = text.AsSpan();
        while (true)
        {
            var at = rest.IndexOfAny(escapes);
            Utf8Run(at < 0 ? rest : rest[..at]);
            if (at < 0)
            {
                return;
            }

            Ascii(rest[at] switch
            {
                '\\' => "\\\\"u8,
                '"' => "\\\""u8,
                _ => "\\n"u8,
            });
            rest = rest[(at + 1)..];
        }
    }

    /// <summary>
    /// UTF-16 to UTF-8. A lone surrogate (invalid UTF-16, so no UTF-8 for it) becomes U+FFFD:
    /// Prometheus 2.42 fails the whole scrape on invalid UTF-8 (docs/exposition.md, "Invalid UTF-8").
    /// </summary>
    private void Utf8Run(ReadOnlySpan<char> run)
    {
        while (!run.IsEmpty)
        {
            // Four bytes hold any one scalar, so each pass makes progress.
            Reserve(4);
            var status = Utf8.FromUtf16(run, _buffer.AsSpan(_position), out var read, out var written, replaceInvalidSequences: true, isFinalBlock: true);
            _position += written;
            run = run[read..];
            if (status == OperationStatus.DestinationTooSmall)
            {
                Flush();
            }
        }
    }

    private void Reserve(int bytes)
    {
        if (_buffer.Length - _position < bytes)
        {
            Flush();
        }
    }
}
