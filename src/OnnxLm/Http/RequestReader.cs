using System.Collections.Immutable;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Http;

/// <summary>
/// Turns a parsed chat or text completion body into what the engine runs: prompt tokens, one <see cref="GenerationRequest"/>
/// per choice (<c>n</c>), sampling parameters, limits and stop strings. Every unsupported or out-of-range value is an
/// <see cref="ApiError"/> naming its parameter; nothing is silently ignored.
/// </summary>
internal static class RequestReader
{
    /// <summary>The most alternatives per token a client may ask for (OpenAI's limit).</summary>
    public const int MaxTopLogprobs = SamplingParams.MaxTopLogprobs;

    /// <summary>Checks the chat-only parameters and returns the prompt tokens (<paramref name="toolsJson"/>: the tools the
    /// template receives, or null).</summary>
    public static int[] ChatPrompt(InferenceEngine engine, ReadOnlySpan<byte> json, ChatCompletionBody r, ToolRequest? tools = null)
    {
        if (r.TopLogprobs is int top && (top < 0 || top > MaxTopLogprobs))
            throw ApiError.BadRequest($"top_logprobs must be between 0 and {MaxTopLogprobs}", "top_logprobs");
        if (r.TopLogprobs is > 0 && r.Logprobs != true)
            throw ApiError.BadRequest("top_logprobs requires logprobs to be true", "top_logprobs");
        string text = Http.ChatPrompt.Render(engine, json, r.Messages, toolsJson: tools?.TemplateJson, toolInstructions: tools?.Instructions);
        return engine.Prompts.Encode(text);
    }

    /// <summary>Any JSON object: what <c>json_object</c> asks for.</summary>
    static ReadOnlySpan<byte> AnyObjectSchema => "{\"type\":\"object\"}"u8;

    /// <summary>
    /// The grammar <c>response_format</c> asks for, or null for free text. A schema keyword the compiler cannot enforce
    /// is a 400 naming the keyword and its JSON pointer (never a silent skip); missing fields get OpenAI's messages.
    /// </summary>
    public static JsonGrammar? ResponseGrammar(InferenceEngine engine, ReadOnlySpan<byte> json, ChatCompletionBody r)
    {
        if (r.ResponseFormat is not { } format || format.Type.ValueEquals(json, "text"u8)) return null;
        ReadOnlySpan<byte> schema;
        if (format.Type.ValueEquals(json, "json_object"u8)) schema = AnyObjectSchema;
        else if (format.Type.ValueEquals(json, "json_schema"u8))
        {
            if (format.JsonSchema is not { } spec) throw Missing("response_format.json_schema");
            if (!spec.Name.HasValue) throw Missing("response_format.json_schema.name");
            if (!ValidName(spec.Name.RawBytes(json)))
                throw ApiError.BadRequest("Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$.",
                    "response_format.json_schema.name", "invalid_value");
            if (!spec.Schema.HasValue) throw Missing("response_format.json_schema.schema");
            if (spec.Schema.TokenType != System.Text.Json.JsonTokenType.StartObject)
                throw ApiError.BadRequest("Invalid type for 'response_format.json_schema.schema': expected an object.",
                    "response_format.json_schema.schema", "invalid_type");
            schema = spec.Schema.RawBytes(json);
        }
        else
            throw ApiError.BadRequest($"Invalid value: '{format.Type.GetString(json)}'. Supported values are: 'text', 'json_object' and 'json_schema'.",
                "response_format.type", "invalid_value");
        try
        {
            var grammar = engine.Grammars.GetOrCompile(schema);
            _ = engine.GrammarTrie;   // built here, on the first constrained request, rather than on the engine thread
            return grammar;
        }
        catch (SchemaNotSupportedException e)
        {
            string pointer = e.Pointer.Length == 0 ? "#" : "#" + e.Pointer;
            throw ApiError.BadRequest($"Invalid schema for response_format: '{e.Keyword}' at {pointer} cannot be enforced: {e.Reason}",
                "response_format", "invalid_json_schema");
        }

        static ApiError Missing(string param) => ApiError.BadRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
    }

    /// <summary>OpenAI's rule for a format name: 1 to 64 of a-z, A-Z, 0-9, '_' and '-' (raw bytes: an escape is refused).</summary>
    static bool ValidName(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > 64) return false;
        foreach (byte b in name)
            if (!(b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_' or (byte)'-'))
                return false;
        return true;
    }

    /// <summary>Checks the text-completion-only parameters and returns the prompt tokens.</summary>
    public static int[] CompletionPrompt(InferenceEngine engine, ReadOnlySpan<byte> json, CompletionBody r)
    {
        if (r.Echo) throw ApiError.BadRequest("echo is not supported", "echo");
        if (r.Suffix.HasValue && r.Suffix.Length > 0) throw ApiError.BadRequest("suffix is not supported", "suffix");
        if (r.Logprobs is int k && (k < 0 || k > MaxTopLogprobs))
            throw ApiError.BadRequest($"logprobs must be between 0 and {MaxTopLogprobs}", "logprobs");
        if (r.BestOf is int bestOf && bestOf != 1 && bestOf != (r.N ?? 1))
            throw ApiError.BadRequest("best_of other than 1 or n is not supported", "best_of");
        return PromptTokens(engine, json, r.Prompt, "prompt");
    }

    /// <summary>A completions-style prompt: one string (or a one-string array) encoded, or token ids checked.</summary>
    public static int[] PromptTokens(InferenceEngine engine, ReadOnlySpan<byte> json, PromptInput prompt, string param)
    {
        switch (prompt.Kind)
        {
            case PromptKind.Text:
                return engine.Prompts.EncodeText(prompt.Texts[0].GetString(json));
            case PromptKind.Texts when prompt.Texts.Count == 1:
                return engine.Prompts.EncodeText(prompt.Texts[0].GetString(json));
            case PromptKind.Texts when prompt.Texts.Count > 1:
                throw ApiError.BadRequest("several prompts in one request are not supported; send one prompt per request (n gives several completions)", param);
            case PromptKind.Tokens:
                {
                    var ids = prompt.Tokens;
                    int vocab = engine.Vocabulary.Count;
                    for (int i = 0; i < ids.Length; i++)
                        if ((uint)ids[i] >= (uint)vocab)
                            throw ApiError.BadRequest($"{param}[{i}] = {ids[i]} is not a token id in [0, {vocab})", $"{param}[{i}]");
                    return ids.ToArray();
                }
            default:
                throw ApiError.BadRequest($"{param} must be a non-empty string, an array with one string, or an array of token ids", param);
        }
    }

    /// <summary>
    /// Builds the <c>n</c> engine requests of one completion. With a seed, choice i samples with seed + i, so choices differ
    /// from each other but the whole response is reproducible. With <paramref name="reasoning"/> (chat on a reasoning model)
    /// every choice splits its thought from its answer on those tags.
    /// </summary>
    public static GenerationRequest[] Build(InferenceEngine engine, ReadOnlySpan<byte> json, ICompletionFields r, int[] prompt,
        int? maxCompletionTokens, string promptParam, bool logprobs, int topLogprobs, ReasoningTags? reasoning = null, JsonGrammar? grammar = null, ToolCallGrammar? tools = null)
    {
        int n = r.N ?? 1;
        if (n < 1) throw ApiError.BadRequest("n must be at least 1", "n");
        if (n > engine.MaxBatchSize) throw ApiError.BadRequest($"n must be at most {engine.MaxBatchSize} (the server's batch size)", "n");
        int? max = maxCompletionTokens ?? r.MaxTokens;
        string maxParam = maxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens";
        if (max is < 1) throw ApiError.BadRequest($"{maxParam} must be at least 1", maxParam);
        // An empty prompt is a malformed request, not a length problem (`prompt: ""` or `[""]`); /tokenize still takes it.
        if (prompt.Length == 0) throw ApiError.BadRequest($"{promptParam} must not be empty", promptParam);
        // A tokenizer may define ids past the logits (Gemma 3's <image_soft_token>); the model has no embedding for them,
        // and one in a model run would fail every request of the batch.
        int logits = engine.Contract.Config.VocabSize;
        if (engine.Vocabulary.Count > logits)
        {
            for (int i = 0; i < prompt.Length; i++)
            {
                if ((uint)prompt[i] >= (uint)logits)
                    throw ApiError.BadRequest($"the prompt holds token id {prompt[i]} (at position {i}), which this model cannot read: its embeddings cover ids [0, {logits})", promptParam);
            }
        }
        int maxTokens = max ?? Math.Max(1, engine.ContextLength - prompt.Length);
        if (engine.CheckFits(prompt.Length, maxTokens) is { } tooLong)
        {
            // Blame max_tokens only when it is what pushed the request over: a prompt that alone fills the context is
            // too long whatever the client asks for.
            bool promptAlone = max is null || prompt.Length >= engine.ContextLength;
            throw ApiError.BadRequest(tooLong, promptAlone ? promptParam : maxParam, "context_length_exceeded");
        }

        var sampling = Sampling(engine, r, logprobs, topLogprobs);
        var stops = Stops(json, r.Stop);
        bool opened = reasoning is { } tags && tags.OpenedBy(prompt, engine.Vocabulary);
        var group = new GenerationRequest[n];
        for (int i = 0; i < n; i++)
        {
            var memberSampling = i == 0 || sampling.Seed is not ulong seed ? sampling : sampling with { Seed = unchecked(seed + (ulong)i) };
            group[i] = new GenerationRequest(prompt, memberSampling, maxTokens, stops, r.IgnoreEos) { Reasoning = reasoning, PromptOpensReasoning = opened, Grammar = grammar, Tools = tools };
        }
        return group;
    }

    static SamplingParams Sampling(InferenceEngine engine, ICompletionFields r, bool logprobs, int topLogprobs)
    {
        var bias = ImmutableArray<TokenBias>.Empty;
        if (r.LogitBias.Count > 0)
        {
            var builder = ImmutableArray.CreateBuilder<TokenBias>(r.LogitBias.Count);
            foreach (var (token, value) in r.LogitBias.AsSpan()) builder.Add(new TokenBias(token, value));
            bias = builder.MoveToImmutable();
        }
        // Fields the request leaves out take the model's recommended values (generation_config.json), else OpenAI's.
        var model = engine.SamplingDefaults;
        // top_k -1 is vLLM's (and HF's) spelling of "off", as is 0 here.
        int topK = r.TopK ?? model.TopK ?? 0;
        if (topK == -1) topK = 0;
        var p = new SamplingParams
        {
            Temperature = r.Temperature ?? model.Temperature ?? 1f,
            TopP = r.TopP ?? model.TopP ?? 1f,
            TopK = topK,
            MinP = r.MinP ?? 0f,
            PresencePenalty = r.PresencePenalty ?? 0f,
            FrequencyPenalty = r.FrequencyPenalty ?? 0f,
            RepetitionPenalty = r.RepetitionPenalty ?? model.RepetitionPenalty ?? 1f,
            Seed = r.Seed is long s ? unchecked((ulong)s) : null,
            LogitBias = bias,
            Logprobs = logprobs,
            TopLogprobs = logprobs ? topLogprobs : 0,
        };
        if (p.Validate(engine.Contract.Config.VocabSize) is SamplingParamError error)
            throw ApiError.BadRequest(error.Message, error.Param);
        return p;
    }

    static string[]? Stops(ReadOnlySpan<byte> json, Utf8SliceList stop)
    {
        if (stop.Count == 0) return null;
        var list = new string[stop.Count];
        for (int i = 0; i < list.Length; i++)
        {
            string s = stop[i].GetString(json);
            if (s.Length == 0) throw ApiError.BadRequest("stop strings must not be empty", stop.IsArray ? $"stop[{i}]" : "stop");
            list[i] = s;
        }
        return list;
    }
}
