// Invariant: everything that makes one request's sampling differ from another's lives here and only here: its
// parameters, its own xoshiro256** stream (a function of its seed and step count alone) and its token history.
// The shared Sampler holds only scratch memory, so interleaving requests in a batch cannot change any request's
// draws. One instance per active request; Reset makes a pooled instance new again without reallocating.
namespace OnnxLm.Engine.Sampling;

/// <summary>Per-request sampling state. Owned by the engine thread; not thread-safe.</summary>
public sealed class SequenceSampler
{
    private readonly Sampler owner;
    private readonly TokenHistory history = new();
    private readonly TokenLogprob[] topLogprobs = new TokenLogprob[SamplingParams.MaxTopLogprobs];
    internal Xoshiro256StarStar Rng;
    private int topLogprobCount;

    internal SequenceSampler(Sampler owner)
    {
        this.owner = owner;
        Params = SamplingParams.Greedy;
    }

    /// <summary>The parameters of the current request.</summary>
    public SamplingParams Params { get; private set; }

    /// <summary>The seed actually used (the request's, or one drawn from the engine when it gave none), so a
    /// response can be reproduced.</summary>
    public ulong Seed { get; private set; }

    /// <summary>Tokens recorded with <see cref="Accept"/> since the last reset.</summary>
    public int GeneratedCount { get; private set; }

    /// <summary>The top-logprobs written by the last <see cref="Sampler.Sample(Span{float}, SequenceSampler)"/>,
    /// most likely first; valid until the next call.</summary>
    public ReadOnlySpan<TokenLogprob> TopLogprobs => topLogprobs.AsSpan(0, topLogprobCount);

    internal TokenHistory History => history;
    internal Span<TokenLogprob> TopLogprobBuffer => topLogprobs;
    internal void SetTopLogprobCount(int count) => topLogprobCount = count;

    /// <summary>Starts a new request. Allocation-free once the history tables have grown to the largest prompt
    /// this instance has seen.</summary>
    public void Reset(SamplingParams parameters, ReadOnlySpan<int> promptTokens)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Params = parameters;
        Seed = parameters.Seed ?? owner.NextEngineSeed();
        Rng = new Xoshiro256StarStar(Seed);
        GeneratedCount = 0;
        topLogprobCount = 0;
        history.Clear();
        // Only the repetition penalty looks at the prompt (OpenAI's presence/frequency count generated tokens
        // only); skip hashing a long prompt when it is off.
        if (parameters.RepetitionPenalty != 1f)
        {
            foreach (int token in promptTokens)
                history.AddSeen(token);
        }
    }

    /// <summary>Records a generated token (the one just sampled, or one forced by the engine).</summary>
    public void Accept(int token)
    {
        GeneratedCount++;
        if (Params.HasPenalties)
            history.AddGenerated(token);
    }
}
