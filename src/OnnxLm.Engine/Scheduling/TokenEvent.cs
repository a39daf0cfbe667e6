using System.Runtime.CompilerServices;

namespace OnnxLm.Engine.Scheduling;

public enum TokenEventKind : byte
{
    /// <summary>A generated token with the text it completed (possibly empty: held back for UTF-8 or a partial stop string).</summary>
    Token,
    /// <summary>More text of the previous token that did not fit inline.</summary>
    Text,
    /// <summary>The sequence ended normally or was cancelled; see <see cref="TokenEvent.Finish"/>. Always the last event.</summary>
    Finished,
    /// <summary>The sequence ended because a model run failed; see <see cref="TokenEvent.Error"/>. Always the last event.</summary>
    Error,
}

public enum FinishReason : byte { None, Stop, Length, Cancelled }

[InlineArray(TokenEvent.InlineTextBytes)]
public struct InlineText
{
    byte element;
}

/// <summary>
/// One message from the engine thread to a request's reader, passed by value through an <see cref="SpscRing{T}"/> so that
/// streaming a token allocates nothing. Text travels inline, split over several events when it is longer than
/// <see cref="InlineTextBytes"/>; it is always whole UTF-8 characters.
/// </summary>
public struct TokenEvent
{
    public const int InlineTextBytes = 40;

    public TokenEventKind Kind;
    public FinishReason Finish;
    public byte TextLength;
    /// <summary>
    /// Set on requests that split reasoning (<see cref="GenerationRequest.Reasoning"/>): the text belongs to the model's
    /// thought, and a <see cref="TokenEventKind.Token"/> counts as a reasoning token (the tags included). The tags
    /// themselves carry no text. (Sits in what was padding: the event does not grow.)
    /// </summary>
    public bool Reasoning;
    public int TokenId;
    /// <summary>0-based position of the token among the generated ones (keys <see cref="GenerationRequest.TopLogprobs"/>).</summary>
    public int Index;
    public float Logprob;
    /// <summary>How many top alternatives were stored for this token.</summary>
    public byte TopLogprobCount;
    public int PromptTokens;
    public int CompletionTokens;
    /// <summary>Prompt tokens served from the prefix cache (usage.prompt_tokens_details.cached_tokens).</summary>
    public int CachedTokens;
    public string? Error;
    public InlineText Text;

    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public readonly ReadOnlySpan<byte> TextBytes => ((ReadOnlySpan<byte>)Text)[..TextLength];
}
