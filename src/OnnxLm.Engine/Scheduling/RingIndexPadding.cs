// Design: cache-line isolation for ring indices. 128 bytes, not 64, because Apple M-series cores use 128-byte lines
// and Intel's adjacent-line prefetcher pulls lines in 128-byte pairs. Each group below is written by one side only
// (or rarely), so a write by one side never invalidates the line the other side polls.
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Three 128-byte-isolated groups of two 64-bit words: the producer's line, the consumer's line and a rarely-written
/// control line. Leading and trailing padding keep neighbouring object fields off these lines.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 4 * CacheLine + 16)]
internal struct RingIndexPadding
{
    internal const int CacheLine = 128;

    /// <summary>Written by the producer side.</summary>
    [FieldOffset(CacheLine)] public long Producer;
    /// <summary>Producer-private (e.g. its stale copy of the consumer's index).</summary>
    [FieldOffset(CacheLine + 8)] public long ProducerCache;

    /// <summary>Written by the consumer side.</summary>
    [FieldOffset(2 * CacheLine)] public long Consumer;
    /// <summary>Consumer-private (e.g. its stale copy of the producer's index).</summary>
    [FieldOffset(2 * CacheLine + 8)] public long ConsumerCache;

    /// <summary>Rarely written flags shared by both sides (waiting, completed).</summary>
    [FieldOffset(3 * CacheLine)] public int Flag0;
    [FieldOffset(3 * CacheLine + 4)] public int Flag1;
}
