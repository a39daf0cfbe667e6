namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Edits a sequence's logits before its next token is sampled, e.g. constrained decoding setting the ids a grammar
/// forbids to negative infinity. Called on the engine thread by <see cref="TokenPipeline.Next"/> for every token of every
/// sequence, so it must not block or allocate.
/// </summary>
internal interface ILogitMask
{
    /// <param name="request">The request the token belongs to.</param>
    /// <param name="generated">How many tokens the request has generated so far (the index of the one being chosen).</param>
    /// <param name="logits">The vocabulary's logits, edited in place.</param>
    void Apply(GenerationRequest request, int generated, Span<float> logits);
}
