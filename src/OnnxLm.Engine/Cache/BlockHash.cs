using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Cache;

/// <summary>
/// The chain hash that names a KV block in every tier: h_i = XxHash128(h_{i-1} ‖ fingerprint ‖ tokens of block i), with
/// h_{-1} = 0. The RAM pool and the SSD tier must agree bit for bit, so both call this one function.
/// </summary>
public static class BlockHash
{
    public static UInt128 Chain(UInt128 parent, ReadOnlySpan<int> tokens, UInt128 fingerprint)
    {
        // Stack buffer: blocks are small (16–256 tokens); fall back to the heap for absurd sizes.
        int bytes = 32 + tokens.Length * 4;
        Span<byte> buffer = bytes <= 4096 ? stackalloc byte[bytes] : new byte[bytes];
        MemoryMarshal.Write(buffer, in parent);
        MemoryMarshal.Write(buffer[16..], in fingerprint);
        MemoryMarshal.AsBytes(tokens).CopyTo(buffer[32..]);
        return XxHash128.HashToUInt128(buffer);
    }
}
