namespace OnnxLm.Engine.Scheduling;

/// <summary>Where a sequence of a reasoning request stands relative to its thought (see <see cref="Text.ReasoningTags"/>).</summary>
internal enum ReasoningPhase : byte
{
    /// <summary>No split: the request has no reasoning tags (a model without them, <c>--reasoning-format none</c>, text completions).</summary>
    Off,
    /// <summary>Nothing generated yet and the prompt did not open a thought: a first token <c>&lt;think&gt;</c> opens one (Qwen3).</summary>
    BeforeThought,
    /// <summary>Inside the thought: text goes to reasoning_content, tokens count as reasoning tokens.</summary>
    Thinking,
    /// <summary>The thought is closed (or never came): text is the answer.</summary>
    Answer,
}
