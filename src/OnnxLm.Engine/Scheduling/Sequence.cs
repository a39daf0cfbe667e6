using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Engine-thread state of one request: where its KV lives (<see cref="Row"/>), how much of it is valid
/// (<see cref="Length"/>), the token to feed next, and its sampler/detokenizer/stop state. Never touched by other threads.
/// </summary>
internal sealed class Sequence
{
    public Sequence(GenerationRequest request, TokenVocabulary vocabulary, Sampler sampler, int contextLength, int blockSize)
    {
        Request = request;
        int capacity = (int)Math.Min((long)request.PromptTokens.Length + request.MaxTokens, contextLength + 1L);
        Tokens = new int[Math.Max(capacity, request.PromptTokens.Length)];
        request.PromptTokens.CopyTo(Tokens, 0);
        TokenCount = request.PromptTokens.Length;
        Blocks = new List<int>(capacity / Math.Max(blockSize, 1) + 1);
        Sampler = sampler.CreateSequence();
        Sampler.Reset(request.Sampling, request.PromptTokens);
        Detokenizer = new IncrementalDetokenizer(vocabulary);
        Stops = new StopMatchState(request.Stop.Length == 0 ? StopMatcher.None : new StopMatcher(request.Stop));
        Reasoning = request.Reasoning is null ? ReasoningPhase.Off
            : request.PromptOpensReasoning ? ReasoningPhase.Thinking : ReasoningPhase.BeforeThought;
    }

    public GenerationRequest Request { get; }
    public SequenceSampler Sampler { get; }
    public IncrementalDetokenizer Detokenizer { get; }
    public StopMatchState Stops { get; }
    /// <summary>Where the output stands in the request's <see cref="GenerationRequest.Grammar"/>, or null (unconstrained).
    /// One per sequence: siblings of an n-group are separate requests, each forked before its first token, so each starts
    /// its own matcher at the root.</summary>
    public GrammarMatcher? Matcher;

    /// <summary>Where the output stands in the request's <see cref="GenerationRequest.Tools"/>, or null (no tools).</summary>
    public ToolCallMatcher? Tools;

    /// <summary><see cref="Matcher"/> or <see cref="Tools"/> is set: the one test an unconstrained step pays.</summary>
    public bool Constrained;

    /// <summary>Slot row holding this sequence's KV, or -1 while waiting.</summary>
    public int Row = -1;
    /// <summary>Positions of <see cref="Row"/> that hold valid KV.</summary>
    public int Length;
    /// <summary>The last sampled token: the next decode step feeds it at position <see cref="Length"/>.</summary>
    public int NextToken;
    public int Generated;
    public bool Done;
    /// <summary>Where the output stands relative to the model's thought; decides each event's <see cref="TokenEvent.Reasoning"/>.</summary>
    public ReasoningPhase Reasoning;

    /// <summary>Prompt then generated tokens; KV position p of <see cref="Row"/> holds Tokens[p]. Sized once, never grows.</summary>
    public readonly int[] Tokens;
    public int TokenCount;
    /// <summary>Prefix-cache blocks this sequence references: its chain of whole blocks from position 0, in order.</summary>
    public readonly List<int> Blocks;
    /// <summary>Whether the prefix-cache lookup for the prompt has been done (it takes references, so only once).</summary>
    public bool LookedUp;
    /// <summary>A read of this prompt's blocks from the SSD and remote tiers in flight (started when the request arrived).</summary>
    public Task<TierReadResult>? TierRead;
    public byte[]? TierStaging;
    public UInt128[]? TierHashes;
    public int TierFirstBlock;
    /// <summary>Blocks of <see cref="Blocks"/> adopted from the SSD tier and from the remote tier (for per-tier accounting).</summary>
    public int SsdAdoptedBlocks, RemoteAdoptedBlocks;

    /// <summary>Prompt tokens whose KV was restored or reused instead of computed.</summary>
    public int CachedTokens;
    /// <summary>Further sequences of the same request (OpenAI <c>n</c>): they share this one's prompt prefill and are
    /// forked from its row when it completes.</summary>
    public List<Sequence>? Siblings;
    public int GroupSize => 1 + (Siblings?.Count ?? 0);

    /// <summary>Events the ring had no room for; flushed before anything newer, so order is kept.</summary>
    public Queue<TokenEvent>? Overflow;
    public int PromptLength => Request.PromptTokens.Length;
}
