using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace OnnxLm.Benchmarks.Cache;

/// <summary>
/// A reproducible prefix-cache workload: documents are chains of blocks (some share a prefix with an earlier document,
/// as chats share a system prompt), requests pick documents with a skew toward hot ones and ask for the whole chain or
/// a prefix. Chain hashes are computed up front (XxHash128, as the cache does) so the benchmark times only the table:
/// lookup + token verification, acquire/release, LRU eviction of leaves, commit of missing blocks.
/// </summary>
internal sealed class BlockTableWorkload
{
    public const int BlockSize = 16;

    public readonly int[][] Tokens;
    public readonly UInt128[][] Hashes;
    public readonly (int Doc, int Blocks)[] Requests;

    public BlockTableWorkload(int documents, int requests, int seed)
    {
        var rng = new Random(seed);
        Tokens = new int[documents][];
        Hashes = new UInt128[documents][];
        for (int d = 0; d < documents; d++)
        {
            int blocks = 8 + rng.Next(89);
            var tokens = new int[blocks * BlockSize];
            for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.Next(32_000);
            if (d > 0 && rng.Next(2) == 0)
            {
                // Share a prefix with an earlier document (same tokens, so the same chain hashes).
                var other = Tokens[rng.Next(d)];
                int shared = Math.Min(other.Length, tokens.Length) / BlockSize;
                other.AsSpan(0, rng.Next(1, shared + 1) * BlockSize).CopyTo(tokens);
            }
            Tokens[d] = tokens;
            Hashes[d] = ChainHashes(tokens);
        }
        Requests = new (int, int)[requests];
        for (int r = 0; r < requests; r++)
        {
            double u = rng.NextDouble();
            int doc = (int)(documents * u * u);
            int blocks = Hashes[doc].Length;
            Requests[r] = (doc, rng.Next(10) < 3 ? 1 + rng.Next(blocks) : blocks);
        }
    }

    static UInt128[] ChainHashes(int[] tokens)
    {
        var hashes = new UInt128[tokens.Length / BlockSize];
        Span<byte> buffer = stackalloc byte[16 + BlockSize * 4];
        UInt128 parent = default;
        for (int j = 0; j < hashes.Length; j++)
        {
            MemoryMarshal.Write(buffer, in parent);
            MemoryMarshal.AsBytes(tokens.AsSpan(j * BlockSize, BlockSize)).CopyTo(buffer[16..]);
            hashes[j] = parent = XxHash128.HashToUInt128(buffer);
        }
        return hashes;
    }
}
