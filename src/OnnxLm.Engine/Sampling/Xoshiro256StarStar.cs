// Invariant: the generator's output depends only on the 64-bit seed it was created from and on how many values
// have been drawn since. It is a mutable struct held by exactly one owner (a SequenceSampler, or the Sampler's
// seed source), never copied after seeding, so no two requests ever share or perturb each other's stream.
using System.Runtime.CompilerServices;

namespace OnnxLm.Engine.Sampling;

/// <summary>xoshiro256** (Blackman &amp; Vigna), seeded through splitmix64 as its authors recommend.</summary>
internal struct Xoshiro256StarStar
{
    private ulong s0, s1, s2, s3;

    public Xoshiro256StarStar(ulong seed)
    {
        // splitmix64 spreads any seed (including 0 and small integers) over all 256 bits of state, which xoshiro
        // needs: an all-zero state would emit zeros forever.
        s0 = SplitMix64(ref seed);
        s1 = SplitMix64(ref seed);
        s2 = SplitMix64(ref seed);
        s3 = SplitMix64(ref seed);
    }

    internal static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = BitRotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = BitRotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits (the top bits, which are the strongest in xoshiro**).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong BitRotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
