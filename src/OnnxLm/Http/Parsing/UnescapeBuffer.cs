using System.Buffers;

namespace OnnxLm.Http.Parsing;

/// <summary>
/// A pooled scratch buffer for unescaping <see cref="Utf8Slice"/>s. Each <see cref="Unescape"/> overwrites the previous
/// result, so a returned span is valid until the next call; the buffer grows to the largest string seen and stays.
/// </summary>
public sealed class UnescapeBuffer : IDisposable
{
    byte[] buffer = [];

    public ReadOnlySpan<byte> Unescape(ReadOnlySpan<byte> json, Utf8Slice slice)
    {
        if (buffer.Length < slice.Length)
        {
            if (buffer.Length != 0) ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(slice.Length);
        }
        return buffer.AsSpan(0, slice.CopyUnescaped(json, buffer));
    }

    public void Dispose()
    {
        if (buffer.Length != 0) ArrayPool<byte>.Shared.Return(buffer);
        buffer = [];
    }
}
