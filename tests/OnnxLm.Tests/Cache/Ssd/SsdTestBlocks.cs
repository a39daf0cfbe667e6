using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;

namespace OnnxLm.Tests.Cache.Ssd;

/// <summary>Temporary tier directories and deterministic fake blocks (random bytes, random tokens, real chain hashes).</summary>
internal sealed class SsdTestBlocks : IDisposable
{
    public static readonly KvBlockLayout SmallFp32 = new(Layers: 2, KvHeads: 2, HeadSize: 8, BlockSize: 4, ElementSize: 4, Bits: 32, GroupSize: 32);
    public static readonly KvBlockLayout SmallInt8 = new(Layers: 2, KvHeads: 2, HeadSize: 8, BlockSize: 4, ElementSize: 4, Bits: 8, GroupSize: 8);
    /// <summary>The benchmark model's block: 12 layers, 4 KV heads, head 64, fp32, block 16 = 393,216 bytes.</summary>
    public static readonly KvBlockLayout Benchmark = new(Layers: 12, KvHeads: 4, HeadSize: 64, BlockSize: 16, ElementSize: 4, Bits: 32, GroupSize: 64);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "onnxlm-ssd-tests", Guid.NewGuid().ToString("N"));
    public KvBlockLayout Layout { get; }
    public UInt128 Fingerprint { get; }
    public List<string> Logs { get; } = [];

    public SsdTestBlocks(KvBlockLayout layout, UInt128? fingerprint = null)
    {
        Layout = layout;
        Fingerprint = fingerprint ?? new UInt128(0x0123456789abcdef, 0xfedcba9876543210);
        Directory.CreateDirectory(Root);
    }

    public SsdTierOptions Options(long? maxBytes = 1L << 30) => new()
    {
        Directory = Root,
        Fingerprint = Fingerprint,
        Layout = Layout,
        MaxBytes = maxBytes,
        Log = m => { lock (Logs) Logs.Add(m); },
    };

    public SsdKvTier Open(long? maxBytes = 1L << 30) => new(Options(maxBytes));

    /// <summary>A chain of <paramref name="count"/> blocks: tokens, hashes and bytes.</summary>
    public Chain MakeChain(int seed, int count)
    {
        var rng = new Random(seed);
        int bs = Layout.BlockSize;
        var tokens = new int[count * bs];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.Next(50_000);
        var hashes = new UInt128[count];
        var bytes = new byte[count][];
        UInt128 parent = default;
        for (int j = 0; j < count; j++)
        {
            hashes[j] = parent = BlockHash.Chain(parent, tokens.AsSpan(j * bs, bs), Fingerprint);
            bytes[j] = new byte[Layout.BlockBytes];
            rng.NextBytes(bytes[j]);
        }
        return new Chain(tokens, hashes, bytes, bs);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    internal sealed record Chain(int[] Tokens, UInt128[] Hashes, byte[][] Bytes, int BlockSize)
    {
        public int Count => Hashes.Length;
        public UInt128 Parent(int j) => j == 0 ? default : Hashes[j - 1];
        public ReadOnlyMemory<int> TokensOf(int j) => Tokens.AsMemory(j * BlockSize, BlockSize);

        public int EnqueueAll(SsdKvTier tier)
        {
            int ok = 0;
            for (int j = 0; j < Count; j++)
                if (tier.TryEnqueueWrite(Hashes[j], Parent(j), TokensOf(j).Span, Bytes[j])) ok++;
            return ok;
        }

        public async Task<byte[]?> ReadAsync(SsdKvTier tier, int j)
        {
            var buffer = new byte[Bytes[j].Length];
            return await tier.ReadBlockAsync(Hashes[j], TokensOf(j), Parent(j), buffer) ? buffer : null;
        }
    }
}
