namespace OnnxLm.Http.Parsing;

/// <summary>
/// The body of <c>POST /v1/chat/completions</c>. One instance is reused across requests (TryParse resets it); its strings
/// are slices of the request buffer, which must outlive the use of this object. Numbers are null when absent.
/// </summary>
[JsonRequest]
public sealed partial class ChatCompletionBody : ICompletionFields
{
    [JsonField("model", MaxLength = 256)] public Utf8Slice Model { get; set; }
    [JsonField("messages", Required = true, MaxItems = 4096)] public PooledList<ChatMessageBody> Messages { get; } = new();
    [JsonField("max_tokens")] public int? MaxTokens { get; set; }
    [JsonField("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }
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
    [JsonField("logprobs")] public bool? Logprobs { get; set; }
    [JsonField("top_logprobs")] public int? TopLogprobs { get; set; }
    [JsonField("n")] public int? N { get; set; }
    [JsonField("stream")] public bool Stream { get; set; }
    [JsonField("stream_options")] public StreamOptionsBody? StreamOptions { get; set; }
    [JsonField("user", MaxLength = 256)] public Utf8Slice User { get; set; }
    /// <summary>OpenAI's routing hint for prompt caching: requests sharing a key share a prefix. A load balancer hashes
    /// it onto a replica (docs/SCALEOUT.md); the server logs a digest of it.</summary>
    [JsonField("prompt_cache_key", MaxLength = 1024)] public Utf8Slice PromptCacheKey { get; set; }
    [JsonField("prompt_cache_retention", MaxLength = 32)] public Utf8Slice PromptCacheRetention { get; set; }
    [JsonField("response_format")] public ResponseFormatBody? ResponseFormat { get; set; }
    /// <summary>Function tools, read by <c>ToolRequest</c>.</summary>
    [JsonField("tools")] public RawJson Tools { get; set; }
    [JsonField("tool_choice")] public RawJson ToolChoice { get; set; }
    [JsonField("parallel_tool_calls")] public RawJson ParallelToolCalls { get; set; }
    [JsonField("ignore_eos")] public bool IgnoreEos { get; set; }

    // Recognised but refused: clients that send them expect behaviour this server does not have.
    [JsonField("audio"), Unsupported("is not supported (text output only)")] public RawJson Audio { get; set; }
    [JsonField("modalities"), Unsupported("is not supported (text output only)")] public RawJson Modalities { get; set; }
    [JsonField("prediction"), Unsupported("is not supported")] public RawJson Prediction { get; set; }
    [JsonField("functions"), Unsupported("are not supported by this server yet")] public RawJson Functions { get; set; }
    [JsonField("function_call"), Unsupported("is not supported by this server yet")] public RawJson FunctionCall { get; set; }
    [JsonField("service_tier"), Unsupported("is not supported")] public RawJson ServiceTier { get; set; }
    [JsonField("store"), Unsupported("is not supported (completions are not stored)")] public RawJson Store { get; set; }
    [JsonField("metadata"), Unsupported("is not supported (completions are not stored)")] public RawJson Metadata { get; set; }
    [JsonField("reasoning_effort"), Unsupported("is not supported")] public RawJson ReasoningEffort { get; set; }
    [JsonField("web_search_options"), Unsupported("is not supported")] public RawJson WebSearchOptions { get; set; }
}
