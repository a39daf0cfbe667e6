using System.Diagnostics;
using System.Numerics;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Constrained decoding in <see cref="TokenPipeline.Next"/>: before sampling, every id the sequence's
/// <see cref="GrammarMatcher"/> forbids gets negative infinity (so temperature, top-k/p, min-p and logprobs only ever
/// see allowed ids); EOS stays allowed only while the output is a complete document. The pipeline advances the matcher
/// with the accepted token. Invariant: after a sequence's matcher exists (the vocabulary's <see cref="TokenTrie"/>
/// is built once, off the engine thread) a step allocates nothing: the allowed-bit buffer and the saved EOS logits are reused.
/// One <see cref="Apply"/> in <see cref="MaskSampleInterval"/> is timed into <see cref="MaskTimes"/> (two timestamps and
/// three Interlocked adds, no allocation). <see cref="Apply"/>, <see cref="NewMatcher"/> and <see cref="CountRequest"/>:
/// engine thread only; <see cref="Trie"/>, <see cref="MaskTimes"/> and <see cref="ConstrainedRequests"/>: any thread.
/// </summary>
internal sealed class GrammarMask(TokenVocabulary vocabulary, IEnumerable<int> eosTokenIds)
{
    readonly int[] eos = [.. eosTokenIds.Distinct()];
    readonly float[] eosLogits = new float[eosTokenIds.Distinct().Count()];
    TokenTrie? trie;
    ulong[] allowed = [];
    uint applied;
    long constrainedRequests;

    /// <summary>Every this many masks (starting with the first) one is timed.</summary>
    public const int MaskSampleInterval = 8;

    /// <summary>Time to compute and apply one mask (sampled: see <see cref="MaskSampleInterval"/>).</summary>
    public DurationHistogram MaskTimes { get; } =
        new([0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025]);

    /// <summary>Requests admitted with a grammar (a group of n counts once).</summary>
    public long ConstrainedRequests => Interlocked.Read(ref constrainedRequests);

    /// <summary>Counts one admitted constrained request.</summary>
    public void CountRequest() => Interlocked.Increment(ref constrainedRequests);

    /// <summary>The vocabulary's byte trie, built on first use (the same bytes the detokenizer writes). Thread-safe: the
    /// request thread that compiles the first schema builds it, so the engine thread never stalls on it.</summary>
    public TokenTrie Trie => LazyInitializer.EnsureInitialized(ref trie, () => new TokenTrie(vocabulary));

    /// <summary>A matcher at the start of <paramref name="grammar"/> for one new sequence.</summary>
    public GrammarMatcher NewMatcher(JsonGrammar grammar)
    {
        var matcher = Pool.Rent(grammar);
        if (allowed.Length < matcher.MaskWords) allowed = new ulong[matcher.MaskWords];
        return matcher;
    }

    /// <summary>Sets the logits of the ids <paramref name="matcher"/> forbids (and of EOS unless the output is complete
    /// and EOS ends it) to negative infinity.</summary>
    /// <param name="alsoAllow">An id kept as it is whatever the grammar says (a reasoning model's opening tag), or -1.</param>
    public void Apply(GrammarMatcher matcher, bool ignoreEos, Span<float> logits, int alsoAllow = -1)
    {
        long start = applied++ % MaskSampleInterval == 0 ? Stopwatch.GetTimestamp() : 0;
        var bits = allowed.AsSpan(0, matcher.MaskWords);
        matcher.ComputeMask(bits);
        ApplyBits(bits, !ignoreEos && matcher.IsAccepting, logits, alsoAllow);
        if (start != 0) MaskTimes.Observe(Stopwatch.GetTimestamp() - start);
    }

    /// <summary>Matchers of finished sequences, reused by the next ones (a matcher's buffers depend on the vocabulary
    /// only): admitting a constrained request allocates no matcher once the pool is warm.</summary>
    GrammarMatcherPool Pool => LazyInitializer.EnsureInitialized(ref pool, () => new GrammarMatcherPool(Trie));

    GrammarMatcherPool? pool;

    /// <summary>A finished sequence hands its matcher back (engine thread; nothing reads it after the final event).</summary>
    public void Release(Sequence seq)
    {
        if (seq.Matcher is { } matcher)
        {
            seq.Matcher = null;
            Pool.Return(matcher);
        }
    }

    /// <summary>A tool-call matcher for one new sequence.</summary>
    public ToolCallMatcher NewToolMatcher(ToolCallGrammar tools)
    {
        var matcher = new ToolCallMatcher(tools);
        if (allowed.Length < matcher.MaskWords) allowed = new ulong[matcher.MaskWords];
        return matcher;
    }

    /// <summary>As <see cref="Apply(GrammarMatcher, bool, Span{float}, int)"/> for a tool request; free text with no
    /// trigger in reach leaves the logits alone (the matcher says nothing is restricted).</summary>
    public void Apply(ToolCallMatcher matcher, bool ignoreEos, Span<float> logits, int alsoAllow = -1)
    {
        var bits = allowed.AsSpan(0, matcher.MaskWords);
        if (!matcher.ComputeMask(bits)) return;
        ApplyBits(bits, !ignoreEos && matcher.IsAccepting, logits, alsoAllow);
    }

    /// <summary>Every id the mask clears (and rows past the vocabulary) gets negative infinity; EOS keeps its logit only
    /// when <paramref name="eosAllowed"/>; <paramref name="alsoAllow"/> (or -1) keeps its logit whatever the mask says.</summary>
    void ApplyBits(ReadOnlySpan<ulong> bits, bool eosAllowed, Span<float> logits, int alsoAllow)
    {
        float kept = (uint)alsoAllow < (uint)logits.Length ? logits[alsoAllow] : 0f;
        if (eosAllowed)
            for (int i = 0; i < eos.Length; i++) eosLogits[i] = (uint)eos[i] < (uint)logits.Length ? logits[eos[i]] : float.NegativeInfinity;
        for (int w = 0; w < bits.Length; w++)
        {
            // Walk the cleared bits only: inside a string most of the vocabulary is allowed.
            ulong forbidden = ~bits[w];
            int baseId = w << 6;
            while (forbidden != 0)
            {
                int id = baseId + BitOperations.TrailingZeroCount(forbidden);
                if (id >= logits.Length) break;
                logits[id] = float.NegativeInfinity;
                forbidden &= forbidden - 1;
            }
        }
        // Rows past the vocabulary (a padded output layer) are never text.
        int covered = bits.Length << 6;
        if (covered < logits.Length) logits[covered..].Fill(float.NegativeInfinity);
        for (int i = 0; i < eos.Length; i++)
            if ((uint)eos[i] < (uint)logits.Length) logits[eos[i]] = eosAllowed ? eosLogits[i] : float.NegativeInfinity;
        if ((uint)alsoAllow < (uint)logits.Length) logits[alsoAllow] = kept;
    }

    /// <summary>Inside a thought: any text, but no EOS (the answer the grammar requires has not started).</summary>
    public void ForbidEos(Span<float> logits)
    {
        foreach (int id in eos)
            if ((uint)id < (uint)logits.Length) logits[id] = float.NegativeInfinity;
    }
}
