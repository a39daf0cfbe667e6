using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// Candidate replacements for the prefix cache's one-memcpy-per-slab copy, specialised for fp32 slabs of
/// 16 positions × 64 values (4 KB, 64-byte aligned at both ends): an unrolled Vector512 loop, and the same with
/// non-temporal stores (the destination is not read again soon and the copy is larger than the caches).
/// </summary>
internal static unsafe class SlabCopy
{
    public const int SlabBytes = 16 * 64 * sizeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Vector512Unrolled(byte* source, byte* destination)
    {
        for (int i = 0; i < SlabBytes; i += 256)
        {
            var a = Vector512.Load(source + i);
            var b = Vector512.Load(source + i + 64);
            var c = Vector512.Load(source + i + 128);
            var d = Vector512.Load(source + i + 192);
            a.Store(destination + i);
            b.Store(destination + i + 64);
            c.Store(destination + i + 128);
            d.Store(destination + i + 192);
        }
    }

    /// <summary>Streams the slab past the caches; both pointers 64-byte aligned. Callers fence once after a batch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Vector512NonTemporal(byte* source, byte* destination)
    {
        if (!Avx512F.IsSupported)
        {
            Buffer.MemoryCopy(source, destination, SlabBytes, SlabBytes);
            return;
        }
        for (int i = 0; i < SlabBytes; i += 256)
        {
            var a = Avx512F.LoadAlignedVector512((float*)(source + i));
            var b = Avx512F.LoadAlignedVector512((float*)(source + i + 64));
            var c = Avx512F.LoadAlignedVector512((float*)(source + i + 128));
            var d = Avx512F.LoadAlignedVector512((float*)(source + i + 192));
            Avx512F.StoreAlignedNonTemporal((float*)(destination + i), a);
            Avx512F.StoreAlignedNonTemporal((float*)(destination + i + 64), b);
            Avx512F.StoreAlignedNonTemporal((float*)(destination + i + 128), c);
            Avx512F.StoreAlignedNonTemporal((float*)(destination + i + 192), d);
        }
    }

    public static void Fence()
    {
        if (Sse.IsSupported) Sse.StoreFence();
    }
}
