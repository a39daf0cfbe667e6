using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Engine-thread state of one request: where its KV lives (<see cref="Row"/>), how much of it is valid
/// (<see cref="Length"/>), the token to feed next, and its sampler/detokenizer/stop state. Never touched by other threads.
/// </summary>
internal sealed class Sequence
{
    public Sequence(GenerationRequest request, TokenVocabulary vocabulary, Sampler sampler)
    {
        Request = request;
        Sampler = sampler.CreateSequence();
        Sampler.Reset(request.Sampling, request.PromptTokens);
        Detokenizer = new IncrementalDetokenizer(vocabulary);
        Stops = new StopMatchState(request.Stop.Length == 0 ? StopMatcher.None : new StopMatcher(request.Stop));
    }

    public GenerationRequest Request { get; }
    public SequenceSampler Sampler { get; }
    public IncrementalDetokenizer Detokenizer { get; }
    public StopMatchState Stops { get; }

    /// <summary>Slot row holding this sequence's KV, or -1 while waiting.</summary>
    public int Row = -1;
    /// <summary>Positions of <see cref="Row"/> that hold valid KV.</summary>
    public int Length;
    /// <summary>The last sampled token: the next decode step feeds it at position <see cref="Length"/>.</summary>
    public int NextToken;
    public int Generated;
    public bool Done;

    /// <summary>Events the ring had no room for; flushed before anything newer, so order is kept.</summary>
    public Queue<TokenEvent>? Overflow;
    public int PromptLength => Request.PromptTokens.Length;
}
