using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// Turns a parsed OpenAI request into what the engine runs: prompt tokens, sampling parameters, limits and stop strings.
/// Every unsupported or out-of-range value is an <see cref="ApiError"/> naming its parameter; nothing is silently ignored.
/// </summary>
internal static class RequestReader
{
    public const int MaxStops = 16;

    public static string RenderChat(InferenceEngine engine, ChatCompletionRequest r)
    {
        if (r.Messages is null || r.Messages.Count == 0) throw ApiError.BadRequest("messages must be a non-empty array", "messages");
        if (r.Tools.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null) && !(r.Tools.ValueKind == JsonValueKind.Array && r.Tools.GetArrayLength() == 0))
            throw ApiError.BadRequest("tools are not supported by this server yet", "tools");
        if (r.ToolChoice.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null) && !(r.ToolChoice.ValueKind == JsonValueKind.String && Str(r.ToolChoice, "tool_choice") == "none"))
            throw ApiError.BadRequest("tool_choice other than \"none\" is not supported", "tool_choice");
        if (r.ResponseFormat.ValueKind == JsonValueKind.Object &&
            !(r.ResponseFormat.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && Str(t, "response_format.type") == "text"))
            throw ApiError.BadRequest("only response_format {\"type\":\"text\"} is supported", "response_format");
        if (r.Logprobs == true || r.TopLogprobs is > 0)
            throw ApiError.BadRequest("logprobs are not supported by this server yet", r.Logprobs == true ? "logprobs" : "top_logprobs");

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            for (int i = 0; i < r.Messages.Count; i++)
            {
                var m = r.Messages[i] ?? throw ApiError.BadRequest($"messages[{i}] must be an object", $"messages[{i}]");
                string role = m.Role switch
                {
                    "system" or "user" or "assistant" or "tool" => m.Role,
                    "developer" => "system",
                    null => throw ApiError.BadRequest($"messages[{i}].role is required", $"messages[{i}].role"),
                    _ => throw ApiError.BadRequest($"messages[{i}].role '{m.Role}' is not one of system, developer, user, assistant, tool", $"messages[{i}].role"),
                };
                w.WriteStartObject();
                w.WriteString("role"u8, role);
                w.WriteString("content"u8, ContentText(m.Content, i));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return engine.Prompts.ApplyChatTemplate(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    static string ContentText(JsonElement content, int i)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String: return Str(content, $"messages[{i}].content");
            case JsonValueKind.Null or JsonValueKind.Undefined: return "";
            case JsonValueKind.Array:
            {
                var sb = new StringBuilder();
                int j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                        throw ApiError.BadRequest($"messages[{i}].content[{j}] must be an object with a type", $"messages[{i}].content[{j}]");
                    if (Str(type, $"messages[{i}].content[{j}].type") is var partType && partType != "text")
                        throw ApiError.BadRequest($"content parts of type '{partType}' are not supported (text only)", $"messages[{i}].content[{j}].type");
                    if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                        throw ApiError.BadRequest($"messages[{i}].content[{j}].text must be a string", $"messages[{i}].content[{j}].text");
                    sb.Append(Str(text, $"messages[{i}].content[{j}].text"));
                    j++;
                }
                return sb.ToString();
            }
            default: throw ApiError.BadRequest($"messages[{i}].content must be a string or an array of text parts", $"messages[{i}].content");
        }
    }

    public static int[] CompletionPrompt(InferenceEngine engine, CompletionRequest r)
    {
        if (r.Echo) throw ApiError.BadRequest("echo is not supported", "echo");
        if (r.Suffix is not null) throw ApiError.BadRequest("suffix is not supported", "suffix");
        if (r.Logprobs is > 0) throw ApiError.BadRequest("logprobs are not supported by this server yet", "logprobs");
        if (r.BestOf is > 1) throw ApiError.BadRequest("best_of > 1 is not supported", "best_of");
        var p = r.Prompt;
        switch (p.ValueKind)
        {
            case JsonValueKind.String: return engine.Prompts.Encode(Str(p, "prompt"));
            case JsonValueKind.Array when p.GetArrayLength() > 0:
            {
                var first = p[0];
                if (first.ValueKind == JsonValueKind.Number)
                {
                    var ids = new int[p.GetArrayLength()];
                    int k = 0;
                    foreach (var e in p.EnumerateArray())
                    {
                        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int id) || id < 0 || id >= engine.Vocabulary.Count)
                            throw ApiError.BadRequest($"prompt[{k}] is not a token id in [0, {engine.Vocabulary.Count})", $"prompt[{k}]");
                        ids[k++] = id;
                    }
                    return ids;
                }
                if (p.GetArrayLength() == 1 && first.ValueKind == JsonValueKind.String) return engine.Prompts.Encode(Str(first, "prompt[0]"));
                throw ApiError.BadRequest("several prompts in one request are not supported yet; send one prompt per request", "prompt");
            }
            default: throw ApiError.BadRequest("prompt must be a string, an array with one string, or an array of token ids", "prompt");
        }
    }

    public static GenerationRequest Build(InferenceEngine engine, CompletionRequestBase r, int[] prompt, int? maxCompletionTokens, string promptParam)
    {
        if (r.N is not (null or 1)) throw ApiError.BadRequest("n other than 1 is not supported yet", "n");
        if (r.Model is { } model && model != engine.ModelId)
            throw new ApiError(404, $"The model '{model}' does not exist; this server serves '{engine.ModelId}'", "invalid_request_error", "model", "model_not_found");
        int? max = maxCompletionTokens ?? r.MaxTokens;
        if (max is < 1) throw ApiError.BadRequest("max_tokens must be at least 1", maxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens");
        int maxTokens = max ?? Math.Max(1, engine.ContextLength - prompt.Length);
        if (engine.CheckFits(prompt.Length, maxTokens) is { } tooLong)
            throw ApiError.BadRequest(tooLong, max is null ? promptParam : (maxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens"), "context_length_exceeded");

        var sampling = Sampling(engine, r);
        return new GenerationRequest(prompt, sampling, maxTokens, Stops(r.Stop), r.IgnoreEos);
    }

    static SamplingParams Sampling(InferenceEngine engine, CompletionRequestBase r)
    {
        var bias = System.Collections.Immutable.ImmutableArray<TokenBias>.Empty;
        if (r.LogitBias is { Count: > 0 })
        {
            var builder = System.Collections.Immutable.ImmutableArray.CreateBuilder<TokenBias>(r.LogitBias.Count);
            foreach (var (key, value) in r.LogitBias)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id >= engine.Contract.Config.VocabSize)
                    throw ApiError.BadRequest($"logit_bias key '{key}' is not a token id", "logit_bias");
                if (value is < -100 or > 100 || float.IsNaN(value))
                    throw ApiError.BadRequest("logit_bias values must be between -100 and 100", "logit_bias");
                builder.Add(new TokenBias(id, value));
            }
            bias = builder.MoveToImmutable();
        }
        var p = new SamplingParams
        {
            Temperature = r.Temperature ?? 1f,
            TopP = r.TopP ?? 1f,
            TopK = r.TopK ?? 0,
            MinP = r.MinP ?? 0f,
            PresencePenalty = r.PresencePenalty ?? 0f,
            FrequencyPenalty = r.FrequencyPenalty ?? 0f,
            RepetitionPenalty = r.RepetitionPenalty ?? 1f,
            Seed = r.Seed is long s ? unchecked((ulong)s) : null,
            LogitBias = bias,
        };
        if (p.Validate(engine.Contract.Config.VocabSize) is SamplingParamError error)
            throw ApiError.BadRequest(error.Message, error.Param);
        return p;
    }

    /// <summary>A JSON string's value. JsonElement checks string bytes lazily: GetString throws InvalidOperationException for
    /// invalid UTF-8 or an escaped unpaired surrogate ("\ud800"). Both are the client's fault: a 400 naming the field, not a 500.</summary>
    static string Str(JsonElement e, string param)
    {
        try
        {
            return e.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw ApiError.BadRequest($"{param} is not valid Unicode text (invalid UTF-8 or an unpaired surrogate)", param);
        }
    }

        static string[]? Stops(JsonElement stop)
    {
        switch (stop.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null: return null;
            case JsonValueKind.String:
                return Str(stop, "stop") is { Length: > 0 } s ? [s] : throw ApiError.BadRequest("stop strings must not be empty", "stop");
            case JsonValueKind.Array:
            {
                if (stop.GetArrayLength() > MaxStops) throw ApiError.BadRequest($"at most {MaxStops} stop strings are allowed", "stop");
                var list = new string[stop.GetArrayLength()];
                int k = 0;
                foreach (var e in stop.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.String || Str(e, $"stop[{k}]") is not { Length: > 0 } item)
                        throw ApiError.BadRequest($"stop[{k}] must be a non-empty string", $"stop[{k}]");
                    list[k++] = item;
                }
                return list;
            }
            default: throw ApiError.BadRequest("stop must be a string or an array of strings", "stop");
        }
    }
}
