namespace OnnxLm.Http.Parsing;

/// <summary>
/// The body of <c>POST /v1/completions</c> (legacy text completions). Reused across requests like
/// <see cref="ChatCompletionBody"/>; <c>logprobs</c> is a count here, not a flag.
/// </summary>
[JsonRequest]
public sealed partial class CompletionBody : ICompletionFields
{
    [JsonField("model", MaxLength = 256)] public Utf8Slice Model { get; set; }
    [JsonField("prompt", Required = true, MaxItems = 65536)] public PromptInput Prompt { get; } = new();
    [JsonField("max_tokens")] public int? MaxTokens { get; set; }
    [JsonField("temperature")] public float? Temperature { get; set; }
    [JsonField("top_p")] public float? TopP { get; set; }
    [JsonField("top_k")] public int? TopK { get; set; }
    [JsonField("min_p")] public float? MinP { get; set; }
    [JsonField("seed")] public long? Seed { get; set; }
    [JsonField("stop", MaxItems = 16, MaxLength = 1024)] public Utf8SliceList Stop { get; } = new();
    [JsonField("presence_penalty")] public float? PresencePenalty { get; set; }
    [JsonField("frequency_penalty")] public float? FrequencyPenalty { get; set; }
    [JsonField("repetition_penalty")] public float? RepetitionPenalty { get; set; }
    [JsonField("logit_bias", MaxItems = 1024)] public TokenBiasMap LogitBias { get; } = new();
    [JsonField("logprobs")] public int? Logprobs { get; set; }
    [JsonField("n")] public int? N { get; set; }
    [JsonField("best_of")] public int? BestOf { get; set; }
    [JsonField("echo")] public bool Echo { get; set; }
    [JsonField("suffix", MaxLength = 65536)] public Utf8Slice Suffix { get; set; }
    [JsonField("stream")] public bool Stream { get; set; }
    [JsonField("stream_options")] public StreamOptionsBody? StreamOptions { get; set; }
    [JsonField("user", MaxLength = 256)] public Utf8Slice User { get; set; }
    /// <summary>OpenAI's routing hint for prompt caching: requests sharing a key share a prefix. A load balancer hashes
    /// it onto a replica (docs/SCALEOUT.md); the server logs a digest of it.</summary>
    [JsonField("prompt_cache_key", MaxLength = 1024)] public Utf8Slice PromptCacheKey { get; set; }
    [JsonField("prompt_cache_retention", MaxLength = 32)] public Utf8Slice PromptCacheRetention { get; set; }
    [JsonField("ignore_eos")] public bool IgnoreEos { get; set; }
}
