using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// A request handed to the engine: the prompt as token ids, how to sample and when to stop. The submitting handler reads
/// <see cref="Events"/> until a <see cref="TokenEventKind.Finished"/> or <see cref="TokenEventKind.Error"/> event; the engine
/// thread is the only writer. Cancelling sets a flag the engine checks every step.
/// </summary>
public sealed class GenerationRequest
{
    static long nextId;

    public GenerationRequest(int[] promptTokens, SamplingParams sampling, int maxTokens, IReadOnlyList<string>? stop = null,
        bool ignoreEos = false, int eventCapacity = 256)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        PromptTokens = promptTokens;
        Sampling = sampling;
        MaxTokens = maxTokens;
        Stop = stop is null ? [] : [.. stop];
        IgnoreEos = ignoreEos;
        Events = new SpscRing<TokenEvent>(eventCapacity);
        Id = Interlocked.Increment(ref nextId);
        int top = sampling.Logprobs ? Math.Clamp(sampling.TopLogprobs, 0, SamplingParams.MaxTopLogprobs) : 0;
        if (top > 0)
        {
            topPerToken = top;
            topLogprobs = new TokenLogprob[(long)maxTokens * top > int.MaxValue / 16 ? throw new ArgumentOutOfRangeException(nameof(maxTokens)) : maxTokens * top];
        }
    }

    // Written by the engine thread before it publishes the token's event; read by the handler after reading that event.
    readonly TokenLogprob[]? topLogprobs;
    readonly int topPerToken;

    /// <summary>The most likely alternatives for generated token <paramref name="index"/> (valid once its event was read).</summary>
    public ReadOnlySpan<TokenLogprob> TopLogprobs(int index, int count) =>
        topLogprobs is null ? default : topLogprobs.AsSpan(index * topPerToken, Math.Min(count, topPerToken));

    internal Span<TokenLogprob> TopLogprobSlot(int index) =>
        topLogprobs is null || index * topPerToken >= topLogprobs.Length ? default : topLogprobs.AsSpan(index * topPerToken, topPerToken);

    public long Id { get; }
    public int[] PromptTokens { get; }
    public SamplingParams Sampling { get; }
    public int MaxTokens { get; }
    public string[] Stop { get; }
    public bool IgnoreEos { get; }
    public SpscRing<TokenEvent> Events { get; }

    /// <summary>Structured output: every generated token keeps the text a prefix of a document this grammar accepts, EOS
    /// comes only once it is complete, and a complete document nothing can extend finishes with <c>stop</c>. Null: free text.</summary>
    public JsonGrammar? Grammar { get; init; }

    /// <summary>Tool calling: the output is free text and/or calls of this grammar's tools (see <see cref="ToolCallMatcher"/>);
    /// it takes the place of <see cref="Grammar"/> (a <c>response_format</c> rides inside it). Null: no tools.</summary>
    public ToolCallGrammar? Tools { get; init; }

    /// <summary>The reasoning tags to split the output on (events carry <see cref="TokenEvent.Reasoning"/>), or null: no
    /// split, the tags are text like any other added token.</summary>
    public ReasoningTags? Reasoning { get; init; }

    /// <summary>The prompt ends inside an open thought (<see cref="ReasoningTags.OpenedBy"/>): generation starts thinking.</summary>
    public bool PromptOpensReasoning { get; init; }

    int cancelRequested;
    public bool IsCancellationRequested => Volatile.Read(ref cancelRequested) != 0;
    internal bool MarkCancelled() => Interlocked.Exchange(ref cancelRequested, 1) == 0;
}
