using System.Buffers;

namespace OnnxLm.Load.Client;

/// <summary>
/// Reads Server-Sent Events from a byte stream. <see cref="ReadEventAsync"/> returns when one event is complete (its
/// terminating blank line has arrived) and exposes its data as <see cref="Data"/>: the event's <c>data:</c> lines joined
/// with '\n', one optional space after the colon removed, per the SSE spec. Comment lines and other fields are
/// skipped. Accepts LF, CRLF and CR line ends. <see cref="Data"/> stays valid until the next read.
/// A stream that ends without a final blank line still yields its last event.
/// </summary>
public sealed class SseReader(Stream stream, int bufferSize = 16 * 1024) : IDisposable
{
    byte[] buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    int start;  // first unconsumed byte
    int end;    // one past the last byte read
    bool eof;
    bool skipLf; // the previous line ended with CR: a directly following LF belongs to it
    readonly ArrayBufferWriter<byte> data = new(1024);
    bool hasData;

    public ReadOnlySpan<byte> Data => data.WrittenSpan;

    /// <summary>Reads the next event that has data; false at end of stream.</summary>
    public async ValueTask<bool> ReadEventAsync(CancellationToken ct)
    {
        data.ResetWrittenCount();
        hasData = false;
        while (true)
        {
            while (TryTakeLine(out int lineStart, out int lineLength))
            {
                if (lineLength == 0)
                {
                    if (hasData) return true;   // blank line dispatches the event
                    continue;
                }
                AcceptLine(buffer.AsSpan(lineStart, lineLength));
            }
            if (eof)
            {
                // Unterminated final line, then the final event.
                if (end > start)
                {
                    AcceptLine(buffer.AsSpan(start, end - start));
                    start = end;
                }
                return hasData;
            }
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    void AcceptLine(ReadOnlySpan<byte> line)
    {
        if (line[0] == (byte)':') return; // comment
        int colon = line.IndexOf((byte)':');
        var field = colon < 0 ? line : line[..colon];
        if (!field.SequenceEqual("data"u8)) return;
        var value = colon < 0 ? ReadOnlySpan<byte>.Empty : line[(colon + 1)..];
        if (value.Length > 0 && value[0] == (byte)' ') value = value[1..];
        if (hasData) data.Write("\n"u8);
        data.Write(value);
        hasData = true;
    }

    bool TryTakeLine(out int lineStart, out int lineLength)
    {
        if (skipLf && start < end)
        {
            if (buffer[start] == (byte)'\n') start++;
            skipLf = false;
        }
        var span = buffer.AsSpan(start, end - start);
        int i = span.IndexOfAny((byte)'\n', (byte)'\r');
        if (i < 0)
        {
            lineStart = lineLength = 0;
            return false;
        }
        lineStart = start;
        lineLength = i;
        start += i + 1;
        if (span[i] == (byte)'\r')
        {
            if (i + 1 < span.Length && span[i + 1] == (byte)'\n') start++;
            else if (i + 1 == span.Length) skipLf = true; // the LF of a CRLF may still be on its way
        }
        return true;
    }

    async ValueTask FillAsync(CancellationToken ct)
    {
        if (start > 0)
        {
            // Move the partial line to the front so reads always append.
            Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
        }
        if (end == buffer.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
            Buffer.BlockCopy(buffer, 0, bigger, 0, end);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = bigger;
        }
        int n = await stream.ReadAsync(buffer.AsMemory(end), ct).ConfigureAwait(false);
        if (n == 0) eof = true;
        else end += n;
    }

    public void Dispose()
    {
        var b = buffer;
        buffer = [];
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }
}
