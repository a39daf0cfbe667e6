using System.Numerics.Tensors;
using OnnxLm.Engine.Sampling;

namespace OnnxLm.Tests.Sampling;

public class SamplerTests
{
    private static float[] NormalLogits(int vocab, int seed, double std = 3.0)
    {
        var random = new Random(seed);
        var logits = new float[vocab];
        for (int i = 0; i < vocab; i++)
        {
            // Box-Muller: test data only.
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            logits[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return logits;
    }

    /// <summary>Logits whose softmax is exactly <paramref name="probs"/> on the first ids; the rest of a larger
    /// vocabulary sits at -1000 (zero weight after exp) so the dense and vector paths are exercised.</summary>
    private static float[] LogitsFromProbs(int vocab, params (int Id, double P)[] probs)
    {
        var logits = new float[vocab];
        Array.Fill(logits, -1000f);
        foreach ((int id, double p) in probs) logits[id] = (float)Math.Log(p);
        return logits;
    }

    private static SequenceSampler Sequence(Sampler sampler, SamplingParams p, params int[] prompt)
    {
        SequenceSampler seq = sampler.CreateSequence();
        seq.Reset(p, prompt);
        return seq;
    }

    private static int[] Counts(Sampler sampler, float[] logits, SamplingParams p, int draws)
    {
        var counts = new int[logits.Length];
        SequenceSampler seq = Sequence(sampler, p);
        var row = new float[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            logits.CopyTo(row, 0);
            counts[sampler.Sample(row, seq).TokenId]++;
        }
        return counts;
    }

    private static double[] Softmax(ReadOnlySpan<float> logits, double temperature = 1)
    {
        double max = TensorPrimitives.Max(logits);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Pearson chi-square of observed counts against expected probabilities (bins with p = 0 must stay empty).</summary>
    private static double ChiSquare(int[] counts, double[] expected, int draws)
    {
        double chi = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            double e = expected[i] * draws;
            if (e == 0) { if (counts[i] != 0) return double.PositiveInfinity; continue; }
            chi += (counts[i] - e) * (counts[i] - e) / e;
        }
        return chi;
    }

    [Test]
    public async Task Greedy_returns_the_argmax_of_the_raw_logits()
    {
        var sampler = new Sampler(151_936, engineSeed: 1);
        for (int seed = 0; seed < 5; seed++)
        {
            float[] logits = NormalLogits(151_936, seed);
            int expected = TensorPrimitives.IndexOfMax(logits);
            SampledToken t = sampler.Sample(logits, Sequence(sampler, SamplingParams.Greedy));
            await Assert.That(t.TokenId).IsEqualTo(expected);
            await Assert.That(float.IsNaN(t.Logprob)).IsTrue();
        }
    }

    [Test]
    public async Task Greedy_breaks_ties_toward_the_lowest_id()
    {
        var sampler = new Sampler(1000, engineSeed: 1);
        float[] logits = NormalLogits(1000, 3);
        foreach (int id in new[] { 901, 517, 19, 42 }) logits[id] = 50f;
        await Assert.That(sampler.Sample(logits, Sequence(sampler, SamplingParams.Greedy)).TokenId).IsEqualTo(19);
    }

    [Test]
    public async Task Top_k_of_one_equals_greedy_at_any_temperature()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        foreach (float temperature in new[] { 0.05f, 0.7f, 1f, 2f })
        {
            for (int seed = 0; seed < 3; seed++)
            {
                float[] logits = NormalLogits(32_000, seed);
                int expected = TensorPrimitives.IndexOfMax(logits);
                var p = new SamplingParams { Temperature = temperature, TopK = 1, Seed = (ulong)seed };
                await Assert.That(sampler.Sample(logits, Sequence(sampler, p)).TokenId).IsEqualTo(expected);
            }
        }
    }

    private static int[] DrawSequence(Sampler sampler, SequenceSampler seq, float[] logits, int steps)
    {
        var tokens = new int[steps];
        var row = new float[logits.Length];
        for (int i = 0; i < steps; i++)
        {
            logits.CopyTo(row, 0);
            tokens[i] = sampler.Sample(row, seq).TokenId;
            seq.Accept(tokens[i]);
        }
        return tokens;
    }

    [Test]
    public async Task Same_seed_repeats_draws_and_different_seeds_differ()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        float[] logits = NormalLogits(32_000, 9);
        var p = new SamplingParams { Temperature = 1f, TopP = 0.95f, Seed = 42 };
        int[] a = DrawSequence(sampler, Sequence(sampler, p), logits, 64);
        int[] b = DrawSequence(sampler, Sequence(sampler, p), logits, 64);
        int[] c = DrawSequence(sampler, Sequence(sampler, p with { Seed = 43 }), logits, 64);
        await Assert.That(b).IsEquivalentTo(a);
        await Assert.That(c.SequenceEqual(a)).IsFalse();
    }

    [Test]
    public async Task Interleaving_sequences_does_not_change_their_draws()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        float[] logitsA = NormalLogits(32_000, 1), logitsB = NormalLogits(32_000, 2);
        var pa = new SamplingParams { Temperature = 0.8f, TopK = 50, Seed = 7, FrequencyPenalty = 0.5f };
        var pb = new SamplingParams { Temperature = 1.2f, TopP = 0.9f, MinP = 0.01f, Seed = 8 };
        int[] aloneA = DrawSequence(sampler, Sequence(sampler, pa), logitsA, 40);
        int[] aloneB = DrawSequence(sampler, Sequence(sampler, pb), logitsB, 40);

        SequenceSampler seqA = Sequence(sampler, pa), seqB = Sequence(sampler, pb);
        var mixedA = new int[40];
        var mixedB = new int[40];
        var row = new float[32_000];
        for (int i = 0; i < 40; i++)
        {
            logitsA.CopyTo(row, 0);
            seqA.Accept(mixedA[i] = sampler.Sample(row, seqA).TokenId);
            logitsB.CopyTo(row, 0);
            seqB.Accept(mixedB[i] = sampler.Sample(row, seqB).TokenId);
        }
        await Assert.That(mixedA).IsEquivalentTo(aloneA);
        await Assert.That(mixedB).IsEquivalentTo(aloneB);
    }

    [Test]
    public async Task Unseeded_requests_take_reproducible_seeds_from_the_engine()
    {
        var first = new Sampler(100, engineSeed: 5);
        var second = new Sampler(100, engineSeed: 5);
        var p = new SamplingParams();
        SequenceSampler a = Sequence(first, p), b = Sequence(first, p), c = Sequence(second, p);
        await Assert.That(a.Seed).IsNotEqualTo(b.Seed);
        await Assert.That(c.Seed).IsEqualTo(a.Seed);
        await Assert.That(Sequence(first, p with { Seed = 99 }).Seed).IsEqualTo(99UL);
    }

    [Test]
    public async Task Draws_at_temperature_one_follow_the_softmax()
    {
        // df = 7; the 0.1% critical value is 24.3, so a correct sampler fails this (deterministic) test only with
        // a seed that is unlucky at the 1e-3 level.
        var sampler = new Sampler(8, engineSeed: 1);
        float[] logits = [1.5f, 0.2f, -0.7f, 2.1f, 0f, -2f, 1f, 0.5f];
        const int draws = 200_000;
        int[] counts = Counts(sampler, logits, new SamplingParams { Seed = 2024 }, draws);
        await Assert.That(ChiSquare(counts, Softmax(logits), draws)).IsLessThan(24.3);
    }

    [Test]
    public async Task Dense_draw_over_many_blocks_follows_the_softmax()
    {
        // Mass spread across several 1024-token draw blocks, plus a flat tail pooled into one bin.
        var sampler = new Sampler(5000, engineSeed: 1);
        var logits = new float[5000];
        Array.Fill(logits, -3f);
        logits[5] = 2f; logits[1500] = 1f; logits[2047] = 1.5f; logits[2048] = 0.5f; logits[4999] = 2.5f;
        const int draws = 200_000;
        int[] counts = Counts(sampler, logits, new SamplingParams { Seed = 11 }, draws);
        double[] p = Softmax(logits);
        int[] named = [5, 1500, 2047, 2048, 4999];
        var pooledCounts = new int[named.Length + 1];
        var pooledP = new double[named.Length + 1];
        for (int i = 0; i < logits.Length; i++)
        {
            int bin = Array.IndexOf(named, i);
            if (bin < 0) bin = named.Length;
            pooledCounts[bin] += counts[i];
            pooledP[bin] += p[i];
        }
        // df = 5: 0.1% critical value 20.5.
        await Assert.That(ChiSquare(pooledCounts, pooledP, draws)).IsLessThan(20.5);
    }

    [Test]
    public async Task Top_k_renormalises_over_the_k_best()
    {
        var sampler = new Sampler(64, engineSeed: 1);
        float[] logits = NormalLogits(64, 4, std: 1);
        int[] best = Enumerable.Range(0, 64).OrderByDescending(i => logits[i]).Take(6).ToArray();
        var expected = new double[64];
        double[] full = Softmax(logits, 0.7);
        double kept = best.Sum(i => full[i]);
        foreach (int i in best) expected[i] = full[i] / kept;
        const int draws = 100_000;
        int[] counts = Counts(sampler, logits, new SamplingParams { Temperature = 0.7f, TopK = 6, Seed = 3 }, draws);
        // df = 5: 0.1% critical value 20.5; tokens outside the top 6 make the statistic infinite.
        await Assert.That(ChiSquare(counts, expected, draws)).IsLessThan(20.5);
    }

    [Test]
    public async Task Low_temperature_concentrates_on_the_argmax()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        float[] logits = NormalLogits(32_000, 5);
        int argmax = TensorPrimitives.IndexOfMax(logits);
        float second = logits.Where((_, i) => i != argmax).Max();
        logits[argmax] = second + 0.5f; // runner-up weighs exp(-50) at T = 0.01
        int[] counts = Counts(sampler, logits, new SamplingParams { Temperature = 0.01f, Seed = 1 }, 500);
        await Assert.That(counts[argmax]).IsEqualTo(500);
    }

    [Test]
    [Arguments(0.35f, new[] { 10 })]
    [Arguments(0.65f, new[] { 10, 2000 })]
    [Arguments(0.75f, new[] { 10, 2000, 3 })]
    [Arguments(0.95f, new[] { 10, 2000, 3, 4095 })]
    public async Task Top_p_keeps_exactly_the_smallest_set_reaching_p(float topP, int[] expectedSupport)
    {
        var sampler = new Sampler(5000, engineSeed: 1);
        float[] logits = LogitsFromProbs(5000, (10, 0.4), (2000, 0.3), (3, 0.2), (4095, 0.1));
        int[] counts = Counts(sampler, logits, new SamplingParams { TopP = topP, Seed = 17 }, 4000);
        int[] support = Enumerable.Range(0, 5000).Where(i => counts[i] > 0).ToArray();
        await Assert.That(support).IsEquivalentTo(expectedSupport.Order().ToArray());
    }

    [Test]
    public async Task Top_p_admits_tied_boundary_tokens_lowest_id_first()
    {
        var sampler = new Sampler(5000, engineSeed: 1);
        float[] logits = LogitsFromProbs(5000, (4000, 0.3), (20, 0.3), (700, 0.3), (5, 0.1));
        // Any two of the three 0.3 tokens reach 0.5; the smallest set takes the two lowest ids.
        int[] counts = Counts(sampler, logits, new SamplingParams { TopP = 0.5f, Seed = 31 }, 2000);
        int[] support = Enumerable.Range(0, 5000).Where(i => counts[i] > 0).ToArray();
        await Assert.That(support).IsEquivalentTo(new[] { 20, 700 });
    }

    [Test]
    public async Task Top_p_at_large_vocabulary_stays_inside_the_sorted_nucleus()
    {
        const int vocab = 151_936;
        var sampler = new Sampler(vocab, engineSeed: 1);
        float[] logits = NormalLogits(vocab, 8);
        double[] p = Softmax(logits);
        int[] order = Enumerable.Range(0, vocab).OrderByDescending(i => p[i]).ToArray();
        var nucleus = new HashSet<int>();
        double cumulative = 0;
        foreach (int i in order)
        {
            nucleus.Add(i);
            if ((cumulative += p[i]) >= 0.9) break;
        }
        int[] counts = Counts(sampler, logits, new SamplingParams { TopP = 0.9f, Seed = 5 }, 3000);
        int outside = Enumerable.Range(0, vocab).Count(i => counts[i] > 0 && !nucleus.Contains(i));
        int lastIn = order[nucleus.Count - 1], firstOut = order[nucleus.Count];
        // Only the boundary token may differ (float vs double cumulative sums); nothing further out.
        await Assert.That(outside).IsLessThanOrEqualTo(counts[firstOut] > 0 ? 1 : 0);
        await Assert.That(nucleus.Count).IsGreaterThan(1000); // the std-3 row really has a wide nucleus
        await Assert.That(lastIn).IsNotEqualTo(firstOut);
    }

    [Test]
    public async Task Top_k_at_large_vocabulary_draws_only_from_the_k_best()
    {
        const int vocab = 151_936;
        var sampler = new Sampler(vocab, engineSeed: 1);
        float[] logits = NormalLogits(vocab, 12);
        var best = Enumerable.Range(0, vocab).OrderByDescending(i => logits[i]).Take(40).ToHashSet();
        int[] counts = Counts(sampler, logits, new SamplingParams { TopK = 40, Temperature = 3f, Seed = 5 }, 4000);
        int[] support = Enumerable.Range(0, vocab).Where(i => counts[i] > 0).ToArray();
        await Assert.That(support.All(best.Contains)).IsTrue();
        await Assert.That(support.Length).IsEqualTo(40); // T = 3 flattens the 40 enough for all to appear
    }

    [Test]
    public async Task Min_p_excludes_tokens_below_the_fraction_of_the_max()
    {
        var sampler = new Sampler(3000, engineSeed: 1);
        float[] logits = LogitsFromProbs(3000, (7, 0.5), (1024, 0.3), (2999, 0.15), (100, 0.05));
        int[] counts = Counts(sampler, logits, new SamplingParams { MinP = 0.2f, Seed = 23 }, 4000);
        int[] support = Enumerable.Range(0, 3000).Where(i => counts[i] > 0).ToArray();
        await Assert.That(support).IsEquivalentTo(new[] { 7, 1024, 2999 });
    }

    [Test]
    public async Task Min_p_and_top_p_intersect()
    {
        var sampler = new Sampler(3000, engineSeed: 1);
        float[] logits = LogitsFromProbs(3000, (7, 0.5), (1024, 0.3), (2999, 0.15), (100, 0.05));
        // top_p 0.97 alone keeps all four; min_p 0.35 (threshold 0.175) then drops 0.15 and 0.05.
        int[] counts = Counts(sampler, logits, new SamplingParams { TopP = 0.97f, MinP = 0.35f, Seed = 23 }, 4000);
        int[] support = Enumerable.Range(0, 3000).Where(i => counts[i] > 0).ToArray();
        await Assert.That(support).IsEquivalentTo(new[] { 7, 1024 });
    }

    private static float[] AllLogprobs(Sampler sampler, SequenceSampler seq, float[] logits)
    {
        var row = (float[])logits.Clone();
        sampler.Sample(row, seq);
        var result = new float[logits.Length];
        foreach (TokenLogprob t in seq.TopLogprobs) result[t.TokenId] = t.Logprob;
        return result;
    }

    [Test]
    public async Task Repetition_penalty_lowers_seen_tokens_and_pushes_negative_logits_down()
    {
        var sampler = new Sampler(6, engineSeed: 1);
        float[] logits = [2f, -2f, 1f, 0.5f, 0f, -1f];
        var plain = new SamplingParams { Logprobs = true, TopLogprobs = 6, Seed = 1 };
        var penalised = plain with { RepetitionPenalty = 1.5f };
        float[] before = AllLogprobs(sampler, Sequence(sampler, plain, 0, 1), logits);
        float[] after = AllLogprobs(sampler, Sequence(sampler, penalised, 0, 1), logits); // 0 and 1 in the prompt
        await Assert.That(after[0]).IsLessThan(before[0]);
        await Assert.That(after[1]).IsLessThan(before[1]);
        await Assert.That(after[2]).IsGreaterThan(before[2]); // unseen tokens gain the freed mass

        var row = (float[])logits.Clone();
        sampler.Sample(row, Sequence(sampler, penalised, 0, 1));
        await Assert.That(row[0]).IsEqualTo(2f / 1.5f);
        await Assert.That(row[1]).IsEqualTo(-2f * 1.5f);
        await Assert.That(row[2]).IsEqualTo(1f);
    }

    [Test]
    public async Task Presence_and_frequency_penalties_count_generated_tokens_only()
    {
        var sampler = new Sampler(6, engineSeed: 1);
        float[] logits = [2f, -2f, 1f, 0.5f, 0f, -1f];
        var p = new SamplingParams { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, Logprobs = true, TopLogprobs = 6 };
        SequenceSampler seq = Sequence(sampler, p, 3, 3, 3); // prompt tokens do not count for OpenAI penalties
        seq.Accept(0);
        seq.Accept(0);
        seq.Accept(1);
        var row = (float[])logits.Clone();
        sampler.Sample(row, seq);
        await Assert.That(row[0]).IsEqualTo(2f - (0.25f * 2 + 0.5f));
        await Assert.That(row[1]).IsEqualTo(-2f - (0.25f * 1 + 0.5f));
        await Assert.That(row[3]).IsEqualTo(0.5f);

        float[] before = AllLogprobs(sampler, Sequence(sampler, p with { PresencePenalty = 0, FrequencyPenalty = 0 }), logits);
        float[] after = AllLogprobs(sampler, seq, logits);
        await Assert.That(after[0]).IsLessThan(before[0]);
        await Assert.That(after[1]).IsLessThan(before[1]);
    }

    [Test]
    public async Task Reset_forgets_the_previous_requests_tokens()
    {
        var sampler = new Sampler(6, engineSeed: 1);
        var p = new SamplingParams { FrequencyPenalty = 1f, RepetitionPenalty = 2f };
        SequenceSampler seq = Sequence(sampler, p, 4);
        seq.Accept(0);
        seq.Reset(p, [5]);
        var row = new float[] { 2f, 2f, 2f, 2f, 2f, 2f };
        sampler.Sample(row, seq);
        await Assert.That(row[0]).IsEqualTo(2f);
        await Assert.That(row[4]).IsEqualTo(2f);
        await Assert.That(row[5]).IsEqualTo(1f);
        await Assert.That(seq.GeneratedCount).IsEqualTo(0);
    }

    [Test]
    public async Task Logit_bias_of_minus_100_bans_and_plus_100_forces()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        float[] logits = NormalLogits(32_000, 6, std: 1);
        int argmax = TensorPrimitives.IndexOfMax(logits);
        var ban = SamplingParams.Greedy with { LogitBias = [new TokenBias(argmax, -100f)] };
        await Assert.That(sampler.Sample((float[])logits.Clone(), Sequence(sampler, ban)).TokenId).IsNotEqualTo(argmax);

        int[] banned = Counts(sampler, logits, new SamplingParams { LogitBias = [new TokenBias(argmax, -100f)], Seed = 2 }, 2000);
        await Assert.That(banned[argmax]).IsEqualTo(0);

        int low = TensorPrimitives.IndexOfMin(logits);
        int[] forced = Counts(sampler, logits, new SamplingParams { LogitBias = [new TokenBias(low, 100f)], Seed = 2 }, 500);
        await Assert.That(forced[low]).IsEqualTo(500);
    }

    [Test]
    public async Task Logprobs_are_the_log_softmax_before_temperature()
    {
        var sampler = new Sampler(32_000, engineSeed: 1);
        float[] logits = NormalLogits(32_000, 7);
        double[] p = Softmax(logits);
        foreach (SamplingParams sp in new[]
                 {
                     SamplingParams.Greedy with { Logprobs = true },
                     new SamplingParams { Temperature = 0.5f, TopP = 0.8f, Logprobs = true, Seed = 1 },
                     new SamplingParams { Temperature = 1.3f, TopK = 20, Logprobs = true, Seed = 2 },
                 })
        {
            SampledToken t = sampler.Sample((float[])logits.Clone(), Sequence(sampler, sp));
            await Assert.That(Math.Abs(t.Logprob - Math.Log(p[t.TokenId]))).IsLessThan(1e-4);
        }
    }

    [Test]
    public async Task Top_logprobs_are_the_best_tokens_sorted_descending()
    {
        var sampler = new Sampler(151_936, engineSeed: 1);
        float[] logits = NormalLogits(151_936, 10);
        logits[500] = logits[70_000] = logits[12] = 20f; // a three-way tie at the top, ordered by id
        double[] p = Softmax(logits);
        int[] expected = Enumerable.Range(0, logits.Length)
            .OrderByDescending(i => logits[i]).ThenBy(i => i).Take(20).ToArray();
        SequenceSampler seq = Sequence(sampler, new SamplingParams { Logprobs = true, TopLogprobs = 20, Seed = 4 });
        SampledToken t = sampler.Sample((float[])logits.Clone(), seq);

        await Assert.That(t.TopLogprobCount).IsEqualTo(20);
        int[] ids = seq.TopLogprobs.ToArray().Select(x => x.TokenId).ToArray();
        await Assert.That(ids).IsEquivalentTo(expected);
        await Assert.That(ids[..3]).IsEquivalentTo(new[] { 12, 500, 70_000 });
        TokenLogprob[] top = seq.TopLogprobs.ToArray();
        for (int i = 0; i < top.Length; i++)
        {
            await Assert.That(Math.Abs(top[i].Logprob - Math.Log(p[top[i].TokenId]))).IsLessThan(1e-4);
            if (i > 0) await Assert.That(top[i].Logprob).IsLessThanOrEqualTo(top[i - 1].Logprob);
        }

        var caller = new TokenLogprob[5];
        SampledToken intoCaller = sampler.Sample((float[])logits.Clone(), seq, caller);
        await Assert.That(intoCaller.TopLogprobCount).IsEqualTo(5);
        await Assert.That(caller.Select(x => x.TokenId).ToArray()).IsEquivalentTo(expected[..5]);
    }

    [Test]
    public async Task Sample_allocates_nothing()
    {
        const int vocab = 32_000;
        var sampler = new Sampler(vocab, engineSeed: 1);
        float[] logits = NormalLogits(vocab, 3);
        SamplingParams[] all =
        [
            SamplingParams.Greedy,
            new() { Temperature = 0.8f, TopP = 0.9f },
            new() { TopK = 40 },
            new() { MinP = 0.05f },
            new() { Temperature = 1f },
            new() { RepetitionPenalty = 1.2f, PresencePenalty = 0.3f, FrequencyPenalty = 0.3f, TopP = 0.95f },
            new() { Logprobs = true, TopLogprobs = 20, LogitBias = [new TokenBias(3, 5f)] },
        ];
        long allocated = MeasureSampling(sampler, logits, all);
        await Assert.That(allocated).IsEqualTo(0L);
    }

    private static long MeasureSampling(Sampler sampler, float[] logits, SamplingParams[] all)
    {
        var row = new float[logits.Length];
        var seqs = all.Select(p => Sequence(sampler, p, 1, 2, 3)).ToArray();
        for (int warm = 0; warm < 3; warm++)
            foreach (SequenceSampler s in seqs) { logits.CopyTo(row, 0); s.Accept(sampler.Sample(row, s).TokenId); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 20; step++)
            foreach (SequenceSampler s in seqs) { logits.CopyTo(row, 0); s.Accept(sampler.Sample(row, s).TokenId); }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
