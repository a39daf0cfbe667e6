namespace OnnxLm.Http.Parsing;

/// <summary>The parameters chat and text completions share, so one reader validates both bodies the same way.</summary>
public interface ICompletionFields
{
    Utf8Slice Model { get; }
    int? MaxTokens { get; }
    float? Temperature { get; }
    float? TopP { get; }
    int? TopK { get; }
    float? MinP { get; }
    long? Seed { get; }
    Utf8SliceList Stop { get; }
    float? PresencePenalty { get; }
    float? FrequencyPenalty { get; }
    float? RepetitionPenalty { get; }
    TokenBiasMap LogitBias { get; }
    int? N { get; }
    bool Stream { get; }
    StreamOptionsBody? StreamOptions { get; }
    bool IgnoreEos { get; }
    Utf8Slice PromptCacheKey { get; }
    Utf8Slice PromptCacheRetention { get; }
}
