using System.Runtime.CompilerServices;

namespace OnnxLm.Builder;

/// <summary>
/// xoshiro256** (Blackman &amp; Vigna, seeded through SplitMix64) with Box-Muller normals. Our own generator, so weights never
/// change with the runtime's System.Random algorithm; the same algorithm as the engine's sampler, kept here so the builder
/// depends on no part of the engine. Invariant: a stream depends only on its 64-bit seed.
/// </summary>
internal struct WeightRandom
{
    private ulong s0, s1, s2, s3;

    public WeightRandom(ulong seed)
    {
        // SplitMix64 spreads any seed over all 256 bits of state: an all-zero state would emit zeros forever.
        s0 = SplitMix64(ref seed);
        s1 = SplitMix64(ref seed);
        s2 = SplitMix64(ref seed);
        s3 = SplitMix64(ref seed);
    }

    public static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Mixes a seed with a stream label (a tensor name, a chunk index) into an independent seed.</summary>
    public static ulong Derive(ulong seed, ulong label)
    {
        ulong state = seed ^ (label * 0xD1B54A32D192ED03UL);
        return SplitMix64(ref state);
    }

    /// <summary>FNV-1a over the UTF-16 code units: a stable per-name label, unlike string.GetHashCode.</summary>
    public static ulong Label(string name)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in name)
            h = (h ^ c) * 0x100000001B3UL;
        return h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, bound) (Lemire's multiply-shift; the tiny bias is irrelevant here).</summary>
    public int NextInt(int bound) => (int)(((NextUInt64() >> 32) * (ulong)bound) >> 32);

    /// <summary>Fills <paramref name="destination"/> with mean + std * N(0, 1), two values per Box-Muller draw.</summary>
    public void FillNormal(Span<float> destination, float mean, float std)
    {
        int i = 0;
        for (; i + 1 < destination.Length; i += 2)
        {
            (double a, double b) = NextNormalPair();
            destination[i] = (float)(mean + std * a);
            destination[i + 1] = (float)(mean + std * b);
        }
        if (i < destination.Length)
            destination[i] = (float)(mean + std * NextNormalPair().A);
    }

    private (double A, double B) NextNormalPair()
    {
        double u1 = 1.0 - NextDouble(); // (0, 1]: keeps Log finite
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        (double sin, double cos) = Math.SinCos(2.0 * Math.PI * NextDouble());
        return (r * cos, r * sin);
    }

    /// <summary>
    /// Fills a whole tensor from its seed in fixed 64K-element chunks, each with its own derived stream, so the
    /// values do not depend on how many threads run the chunks.
    /// </summary>
    public static void FillNormalParallel(float[] destination, ulong seed, float mean, float std)
    {
        const int chunk = 1 << 16;
        int chunks = (destination.Length + chunk - 1) / chunk;
        if (chunks <= 1)
        {
            new WeightRandom(Derive(seed, 0)).FillNormal(destination, mean, std);
            return;
        }
        Parallel.For(0, chunks, c =>
        {
            int start = c * chunk;
            var span = destination.AsSpan(start, Math.Min(chunk, destination.Length - start));
            new WeightRandom(Derive(seed, (ulong)c)).FillNormal(span, mean, std);
        });
    }
}
