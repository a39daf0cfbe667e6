using System.Buffers;

namespace OnnxLm.Http;

/// <summary>A request body read whole into an <see cref="ArrayPool{T}"/> buffer; <see cref="Dispose"/> returns it. Parsed
/// bodies hold slices into <see cref="Span"/>, so it must outlive every use of them.</summary>
internal struct RentedBody : IDisposable
{
    byte[]? buffer;

    public RentedBody(byte[] buffer, int length)
    {
        this.buffer = buffer;
        Length = length;
    }

    public int Length { get; }
    public readonly ReadOnlySpan<byte> Span => buffer.AsSpan(0, Length);
    public readonly ReadOnlyMemory<byte> Memory => buffer.AsMemory(0, Length);

    public void Dispose()
    {
        if (buffer is null) return;
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = null;
    }
}
