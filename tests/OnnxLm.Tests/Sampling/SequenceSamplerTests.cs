using OnnxLm.Engine.Sampling;

namespace OnnxLm.Tests.Sampling;

public class SequenceSamplerTests
{
    [Test]
    public async Task Splitmix64_matches_the_reference_first_output()
    {
        ulong state = 0;
        await Assert.That(Xoshiro256StarStar.SplitMix64(ref state)).IsEqualTo(0xE220A8397B1DCDAFUL);
    }

    [Test]
    public async Task Generator_stream_depends_only_on_its_seed()
    {
        var a = new Xoshiro256StarStar(123);
        var b = new Xoshiro256StarStar(123);
        var c = new Xoshiro256StarStar(124);
        bool anyDifferent = false;
        for (int i = 0; i < 100; i++)
        {
            ulong x = a.NextUInt64();
            await Assert.That(b.NextUInt64()).IsEqualTo(x);
            anyDifferent |= c.NextUInt64() != x;
            double d = a.NextDouble();
            b.NextDouble();
            await Assert.That(d >= 0 && d < 1).IsTrue();
        }
        await Assert.That(anyDifferent).IsTrue();
    }

    [Test]
    public async Task History_counts_survive_growth_and_clear_resets_them()
    {
        var history = new TokenHistory(initialDistinct: 16);
        for (int token = 0; token < 5000; token++)
        {
            // Even tokens arrive as generated, so the growths at counts 16, 32, 64... happen inside AddGenerated.
            if (token % 2 == 0) history.AddGenerated(token * 31);
            else history.AddSeen(token * 31);
        }
        history.AddGenerated(0);
        await Assert.That(history.Count).IsEqualTo(5000);
        int wrong = 0;
        for (int token = 1; token < 5000; token++)
            if (history.GeneratedCountOf(token * 31) != (token % 2 == 0 ? 1 : 0)) wrong++;
        await Assert.That(wrong).IsEqualTo(0);
        await Assert.That(history.GeneratedCountOf(0)).IsEqualTo(2);
        await Assert.That(history.GeneratedCountOf(7)).IsEqualTo(-1);

        history.Clear();
        await Assert.That(history.Count).IsEqualTo(0);
        await Assert.That(history.GeneratedCountOf(0)).IsEqualTo(-1);
        history.AddGenerated(42);
        await Assert.That(history.GeneratedCountOf(42)).IsEqualTo(1);
        await Assert.That(history.GeneratedCountOf(2 * 31)).IsEqualTo(-1);
    }

    [Test]
    public async Task History_records_prompt_only_for_repetition_penalty_and_nothing_without_penalties()
    {
        var sampler = new Sampler(100, engineSeed: 1);
        SequenceSampler seq = sampler.CreateSequence();
        seq.Reset(new SamplingParams { PresencePenalty = 1f }, [1, 2, 3]);
        seq.Accept(4);
        await Assert.That(seq.History.Count).IsEqualTo(1);

        seq.Reset(new SamplingParams { RepetitionPenalty = 1.1f }, [1, 2, 2, 3]);
        await Assert.That(seq.History.Count).IsEqualTo(3);

        seq.Reset(new SamplingParams(), [1, 2, 3]);
        seq.Accept(4);
        await Assert.That(seq.History.Count).IsEqualTo(0);
        await Assert.That(seq.GeneratedCount).IsEqualTo(1);
    }
}
