using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// A candidate the measurements rejected: an unrolled Vector512 copy specialised for fp32 slabs of 16 positions × 64
/// values (4 KB). With ordinary stores it is no faster than Buffer.MemoryCopy; the streaming variant that wins lives in
/// the engine (KvSlabCopy).
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
}
