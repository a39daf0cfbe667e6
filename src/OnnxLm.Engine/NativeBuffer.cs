using System.Runtime.InteropServices;

namespace OnnxLm.Engine;

/// <summary>64-byte aligned native memory freed deterministically; the GC never moves it, so ORT can hold pointers into it.</summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public nint Pointer { get; private set; }
    public long Bytes { get; }

    public NativeBuffer(long bytes, bool zero = true)
    {
        Bytes = Math.Max(bytes, 64);
        Pointer = (nint)NativeMemory.AlignedAlloc((nuint)Bytes, 64);
        if (Pointer == 0) throw new OutOfMemoryException($"could not allocate {Bytes} bytes");
        if (zero) NativeMemory.Clear((void*)Pointer, (nuint)Bytes);
    }

    public Span<T> AsSpan<T>(long offsetElements, int length) where T : unmanaged
        => new((void*)(Pointer + (nint)(offsetElements * sizeof(T))), length);

    public void Dispose()
    {
        if (Pointer != 0) NativeMemory.AlignedFree((void*)Pointer);
        Pointer = 0;
    }
}
