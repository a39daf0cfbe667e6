// Invariant: the Sampler owns only scratch memory (sized to the vocabulary once, at construction) and the engine's
// seed generator for requests that gave no seed. Nothing in the scratch survives a Sample call, so the token drawn
// for a row depends only on that row's logits and its SequenceSampler. Sample allocates nothing.
//
// Pipeline, per row: logit_bias → repetition/presence/frequency penalties → (greedy: argmax) → temperature → top_k
// → softmax → top_p → min_p → renormalise → draw. Truncation never sorts the vocabulary: each stage is a threshold
// found by vectorized counting/masked-sum passes (ThresholdScan), after which only a small gathered candidate set is
// touched. Ties follow HF: top_k keeps every token equal to the k-th logit; top_p keeps the smallest set, taking
// tied tokens at the boundary in increasing id order. Weights come from SoftmaxKernel's fused exp (about 1 ulp),
// never from a per-element MathF.Exp over the vocabulary.
using System.Numerics.Tensors;
using System.Security.Cryptography;

namespace OnnxLm.Engine.Sampling;

/// <summary>Turns one row of logits into a token. Owned by the engine thread; not thread-safe.</summary>
public sealed class Sampler
{
    // Dense draws walk the distribution a block at a time: vectorized block sums, then a scalar scan of one block.
    private const int DrawBlock = 1024;

    // Logit distances below the max at which top-k/top-logprobs candidates are first sought; wider rungs are tried
    // only if the narrow one holds too few tokens. Peaked LLM rows usually stop at the first rung.
    private static ReadOnlySpan<float> LogitLadder => [1f, 2f, 4f, 8f, 16f, 32f, 64f];

    private readonly float[] work;
    private readonly float[] candidateValues;
    private readonly int[] candidateIds;
    private readonly double[] blockSums;
    private Xoshiro256StarStar seeds;

    /// <param name="vocabSize">Largest logits row this sampler will see.</param>
    /// <param name="engineSeed">Seeds the generator that picks seeds for requests without one; null = OS entropy.</param>
    public Sampler(int vocabSize, ulong? engineSeed = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        VocabSize = vocabSize;
        work = new float[vocabSize];
        candidateValues = new float[vocabSize];
        candidateIds = new int[vocabSize];
        blockSums = new double[(vocabSize + DrawBlock - 1) / DrawBlock];
        Span<byte> entropy = stackalloc byte[8];
        if (engineSeed is null) RandomNumberGenerator.Fill(entropy);
        seeds = new Xoshiro256StarStar(engineSeed ?? BitConverter.ToUInt64(entropy));
    }

    /// <summary>The largest vocabulary (logits row length) this sampler accepts.</summary>
    public int VocabSize { get; }

    /// <summary>Creates per-request state bound to this sampler's seed source (pool and <c>Reset</c> it).</summary>
    public SequenceSampler CreateSequence() => new(this);

    internal ulong NextEngineSeed() => seeds.NextUInt64();

    /// <summary>Samples the next token for <paramref name="sequence"/>, writing top-logprobs (if requested) into
    /// the sequence's own buffer (<see cref="SequenceSampler.TopLogprobs"/>). May modify <paramref name="logits"/>.</summary>
    public SampledToken Sample(Span<float> logits, SequenceSampler sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        SampledToken result = Sample(logits, sequence, sequence.TopLogprobBuffer);
        sequence.SetTopLogprobCount(result.TopLogprobCount);
        return result;
    }

    /// <summary>Samples the next token, writing up to <see cref="SamplingParams.TopLogprobs"/> alternatives (most
    /// likely first, ties by lower id) into <paramref name="topLogprobs"/>. May modify <paramref name="logits"/>
    /// (bias and penalties are applied in place).</summary>
    /// <remarks>Logprobs are the log-softmax of the logits after logit_bias and penalties but before temperature
    /// and top_k/top_p/min_p: that is the model's own (steered) distribution, which is what OpenAI and vLLM report
    /// by default, and it stays finite for every token, whereas the truncated sampling distribution would give
    /// -inf to every alternative outside the nucleus and make top_logprobs useless.</remarks>
    public SampledToken Sample(Span<float> logits, SequenceSampler sequence, Span<TokenLogprob> topLogprobs)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (logits.IsEmpty || logits.Length > VocabSize)
            throw new ArgumentException($"logits length {logits.Length} must be in [1, {VocabSize}]", nameof(logits));
        SamplingParams p = sequence.Params;

        foreach (TokenBias bias in p.LogitBias.AsSpan())
        {
            if ((uint)bias.TokenId < (uint)logits.Length)
                logits[bias.TokenId] += bias.Bias;
        }
        if (p.HasPenalties)
            ApplyPenalties(logits, sequence.History, p);

        // One max serves the log-normaliser, top-logprobs, the argmax and the temperature shift.
        float max = TensorPrimitives.Max(logits);
        float logNormalizer = float.NaN;
        int topCount = 0;
        if (p.Logprobs)
        {
            logNormalizer = max + (float)Math.Log(SoftmaxKernel.ExpShifted(logits, max, 1f, work));
            int wanted = Math.Min(Math.Min(p.TopLogprobs, SamplingParams.MaxTopLogprobs), topLogprobs.Length);
            if (wanted > 0)
                topCount = WriteTopLogprobs(logits, max, logNormalizer, topLogprobs[..wanted]);
        }

        int token = p.IsGreedy ? ArgMax(logits, max) : Draw(logits, max, p, ref sequence.Rng);
        float logprob = p.Logprobs ? logits[token] - logNormalizer : float.NaN;
        return new SampledToken(token, logprob, topCount);
    }

    /// <summary>Lowest index holding <paramref name="max"/>; TensorPrimitives.IndexOfMax (which measured ~3x
    /// slower than an early-exit equality scan) only for NaN rows, where nothing equals the max.</summary>
    private static int ArgMax(ReadOnlySpan<float> logits, float max)
    {
        int index = ThresholdScan.IndexOfFirst(logits, max);
        return index >= 0 ? index : TensorPrimitives.IndexOfMax(logits);
    }

    private static void ApplyPenalties(Span<float> logits, TokenHistory history, SamplingParams p)
    {
        ReadOnlySpan<int> ids = history.Ids;
        ReadOnlySpan<int> generated = history.GeneratedCounts;
        float repetition = p.RepetitionPenalty;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)logits.Length) continue;
            float logit = logits[id];
            // HF: dividing a negative logit would raise it, so negatives are multiplied to push them down too.
            if (repetition != 1f)
                logit = logit > 0f ? logit / repetition : logit * repetition;
            int count = generated[i];
            if (count > 0)
                logit -= p.FrequencyPenalty * count + p.PresencePenalty;
            logits[id] = logit;
        }
    }

    private int WriteTopLogprobs(ReadOnlySpan<float> logits, float max, float logNormalizer, Span<TokenLogprob> destination)
    {
        int wanted = Math.Min(destination.Length, logits.Length);
        int m = GatherTopLogits(logits, max, wanted);
        ReadOnlySpan<float> values = candidateValues.AsSpan(0, m);
        ReadOnlySpan<int> ids = candidateIds.AsSpan(0, m);

        // Bounded insertion sort: candidates arrive in id order and only a strictly larger logit moves ahead, so
        // equal logits stay lowest-id first.
        int count = 0;
        for (int i = 0; i < m; i++)
        {
            float v = values[i];
            if (count == wanted && v <= destination[count - 1].Logprob) continue;
            int pos = count < wanted ? count++ : wanted - 1;
            while (pos > 0 && destination[pos - 1].Logprob < v)
            {
                destination[pos] = destination[pos - 1];
                pos--;
            }
            destination[pos] = new TokenLogprob(ids[i], v);
        }
        for (int i = 0; i < count; i++)
            destination[i] = destination[i] with { Logprob = destination[i].Logprob - logNormalizer };
        return count;
    }

    /// <summary>Gathers (value, id) of every logit within the narrowest ladder rung below <paramref name="max"/>
    /// that holds at least <paramref name="atLeast"/> tokens; returns how many were gathered.</summary>
    private int GatherTopLogits(ReadOnlySpan<float> logits, float max, int atLeast)
    {
        float threshold = float.NegativeInfinity;
        foreach (float distance in LogitLadder)
        {
            if (ThresholdScan.CountAtLeast(logits, max - distance) >= atLeast)
            {
                threshold = max - distance;
                break;
            }
        }
        return ThresholdScan.GatherAtLeast(logits, threshold, candidateValues, candidateIds);
    }

    /// <summary>A weight threshold (relative to the max weight 1) whose survivors carry at least
    /// <paramref name="target"/>, chosen tight so the gathered set stays near the nucleus: e^-2 first (peaked LLM
    /// rows stop there after one pass), else bisection over whole nats down to e^-64, about seven passes.</summary>
    private static float NucleusRung(ReadOnlySpan<float> weights, float target, float floor)
    {
        if (ThresholdScan.SumAtLeast(weights, MathF.Exp(-2f)) >= target) return Math.Max(MathF.Exp(-2f), floor);
        // e^-lo is known too narrow; e^-hi is taken as wide enough without a pass: what lies below it weighs at
        // most vocab * 1.6e-28 of the max, far below float resolution of any target.
        int lo = 2, hi = 64;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (ThresholdScan.SumAtLeast(weights, MathF.Exp(-mid)) >= target) hi = mid;
            else lo = mid;
        }
        return Math.Max(MathF.Exp(-hi), floor);
    }

    private int Draw(ReadOnlySpan<float> logits, float max, SamplingParams p, ref Xoshiro256StarStar rng)
    {
        int vocab = logits.Length;
        // Multiplying by 1/T instead of dividing differs by at most an ulp of the scaled logit, and lets the
        // shift, scale and exp run as one pass.
        float inverseTemperature = 1f / p.Temperature;
        Span<float> values = candidateValues;
        Span<int> ids = candidateIds;
        int m; // candidates gathered into values/ids; -1 while the whole vocabulary (in _work) is still in play
        float denseTotal = 0f;

        // Weights are exp((l - max) / T): the max weighs exactly 1, so min_p's cut is MinP itself.
        if (p.TopK > 0 && p.TopK < vocab)
        {
            // top_k on the raw logits (temperature is monotone, so the same tokens survive), then exponentiate
            // only the survivors: no full-vocabulary exp on this path.
            m = GatherTopLogits(logits, max, p.TopK);
            float kth = ThresholdScan.KthLargest(values[..m], p.TopK);
            m = Compact(values, ids, m, kth, int.MaxValue, float.NaN);
            SoftmaxKernel.ExpShifted(values[..m], max, inverseTemperature, values);
        }
        else
        {
            denseTotal = SoftmaxKernel.ExpShifted(logits, max, inverseTemperature, this.work);
            m = -1;
        }

        float minPThreshold = p.MinP;
        float topPThreshold = 0f;
        int tiesAtTopP = int.MaxValue;
        if (p.TopP < 1f)
        {
            float target;
            if (m < 0)
            {
                ReadOnlySpan<float> work = this.work.AsSpan(0, vocab);
                target = p.TopP * denseTotal;
                // The nucleus is a prefix of the sorted order, so any threshold whose survivors already carry the
                // target mass contains it: gather above such a rung, then search only the gathered set.
                m = ThresholdScan.GatherAtLeast(work, NucleusRung(work, target, minPThreshold), values, ids);
            }
            else
            {
                target = p.TopP * ThresholdScan.SumAtLeast(values[..m], 0f);
            }

            topPThreshold = ThresholdScan.ThresholdForMass(values[..m], target);
            if (topPThreshold > 0f)
            {
                // Everything strictly above the threshold is short of the target (else the search would have gone
                // higher); tokens equal to it are admitted in id order until the target is reached.
                ReadOnlySpan<float> gathered = values[..m];
                float above = MathF.BitIncrement(topPThreshold);
                int ties = ThresholdScan.CountAtLeast(gathered, topPThreshold) - ThresholdScan.CountAtLeast(gathered, above);
                double mass = ThresholdScan.SumAtLeast(gathered, above);
                tiesAtTopP = 1;
                for (mass += topPThreshold; mass < target && tiesAtTopP < ties; mass += topPThreshold)
                    tiesAtTopP++;
            }
        }

        if (m < 0 && minPThreshold > 0f)
            m = ThresholdScan.GatherAtLeast(this.work.AsSpan(0, vocab), minPThreshold, values, ids);

        int token = m < 0 ? DrawDense(this.work.AsSpan(0, vocab), ref rng) : DrawKept(m, topPThreshold, minPThreshold, tiesAtTopP, ref rng);
        // Only a row without positive finite mass (all -inf, NaN) gets here without a draw.
        return token >= 0 ? token : ArgMax(logits, max);
    }

    private int DrawKept(int m, float topPThreshold, float minPThreshold, int tiesAtTopP, ref Xoshiro256StarStar rng)
    {
        // min_p keeps every token at or above its threshold, so it limits ties only when it is the binding cut.
        float threshold = Math.Max(topPThreshold, minPThreshold);
        int tieLimit = minPThreshold > topPThreshold ? int.MaxValue : tiesAtTopP;
        m = Compact(candidateValues, candidateIds, m, threshold, tieLimit, threshold);
        return DrawSparse(candidateValues.AsSpan(0, m), candidateIds.AsSpan(0, m), ref rng);
    }

    /// <summary>Keeps, in order, the candidates &gt;= <paramref name="threshold"/>, admitting at most
    /// <paramref name="tieLimit"/> of those equal to <paramref name="tieValue"/>.</summary>
    private static int Compact(Span<float> values, Span<int> ids, int m, float threshold, int tieLimit, float tieValue)
    {
        int kept = 0;
        for (int i = 0; i < m; i++)
        {
            float v = values[i];
            if (v < threshold) continue;
            if (v == tieValue && tieLimit-- <= 0) continue;
            values[kept] = v;
            ids[kept] = ids[i];
            kept++;
        }
        return kept;
    }

    private static int DrawSparse(ReadOnlySpan<float> weights, ReadOnlySpan<int> ids, ref Xoshiro256StarStar rng)
    {
        double total = 0;
        foreach (float w in weights) total += w;
        if (!(total > 0) || double.IsInfinity(total)) return -1;

        double u = rng.NextDouble() * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0f) continue;
            cumulative += weights[i];
            last = ids[i];
            if (u < cumulative) return last;
        }
        return last; // u landed past the end through rounding
    }

    private int DrawDense(ReadOnlySpan<float> weights, ref Xoshiro256StarStar rng)
    {
        int blocks = (weights.Length + DrawBlock - 1) / DrawBlock;
        Span<double> blockSums = this.blockSums.AsSpan(0, blocks);
        double total = 0;
        int lastPositiveBlock = 0;
        for (int b = 0; b < blocks; b++)
        {
            int start = b * DrawBlock;
            blockSums[b] = TensorPrimitives.Sum(weights.Slice(start, Math.Min(DrawBlock, weights.Length - start)));
            total += blockSums[b];
            if (blockSums[b] > 0) lastPositiveBlock = b;
        }
        if (!(total > 0) || double.IsInfinity(total)) return -1;

        double u = rng.NextDouble() * total;
        int block = 0;
        // Stopping at the last block with mass means rounding in u can never land the draw in an empty tail.
        while (block < lastPositiveBlock && u >= blockSums[block])
        {
            u -= blockSums[block];
            block++;
        }
        int begin = block * DrawBlock;
        int end = Math.Min(begin + DrawBlock, weights.Length);
        double cumulative = 0;
        int last = -1;
        for (int i = begin; i < end; i++)
        {
            if (weights[i] <= 0f) continue;
            cumulative += weights[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last;
    }
}
