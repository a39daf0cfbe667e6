using System.Buffers;
using System.IO.Pipelines;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Http;

/// <summary>
/// Writes the Server-Sent Events of one streamed completion into a <see cref="PipeWriter"/>: each chunk is
/// <c>data: {json}\n\n</c> written in place through one reused <see cref="Utf8JsonWriter"/>, so a token chunk allocates
/// nothing once the pipe's segments are warm. The caller flushes. Invariant: every chunk of a response carries the same
/// id, created and model; <c>finish_reason</c> is null on all but a choice's final chunk; with include_usage every chunk
/// but the usage chunk says <c>usage: null</c>. A chat event flagged <see cref="TokenEvent.Reasoning"/> goes out as
/// <c>delta.reasoning_content</c> instead of <c>delta.content</c> (a text completion never carries the flag).
/// </summary>
internal sealed class SseChunkWriter
{
    static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    readonly PipeWriter pipe;
    readonly Utf8JsonWriter w;
    readonly bool chat;
    readonly JsonEncodedText id;
    readonly long created;
    readonly JsonEncodedText model;
    readonly bool includeUsage;
    readonly TokenVocabulary vocabulary;

    public SseChunkWriter(PipeWriter pipe, bool chat, JsonEncodedText id, long created, JsonEncodedText model, bool includeUsage, TokenVocabulary vocabulary)
    {
        this.pipe = pipe;
        this.chat = chat;
        this.id = id;
        this.created = created;
        this.model = model;
        this.includeUsage = includeUsage;
        this.vocabulary = vocabulary;
        w = new Utf8JsonWriter(pipe, Options);
    }

    ReadOnlySpan<byte> ObjectType => chat ? "chat.completion.chunk"u8 : "text_completion"u8;

    /// <summary>A comment line: clients ignore it, proxies see traffic while a long prompt is prefilled.</summary>
    public void WriteKeepAlive() => pipe.Write(": keep-alive\n\n"u8);

    /// <summary>Chat only: the first delta of a choice carries the role, as OpenAI's does.</summary>
    public void WriteRole(int index)
    {
        Begin(index);
        w.WriteStartObject("delta"u8);
        w.WriteString("role"u8, "assistant"u8);
        w.WriteString("content"u8, ""u8);
        w.WriteEndObject();
        End(FinishReason.None);
    }

    /// <summary>Text of choice <paramref name="index"/> with no token of its own (the rest of a long token's text);
    /// <paramref name="reasoning"/>: it belongs to the model's thought.</summary>
    public void WriteText(int index, ReadOnlySpan<byte> text, bool reasoning = false)
    {
        Begin(index);
        WriteContent(text, reasoning);
        End(FinishReason.None);
    }

    /// <summary>
    /// One generated token of choice <paramref name="index"/>: its text and, when <paramref name="logprobs"/> asks for
    /// them, its log-probability and top alternatives (from <paramref name="request"/>; <paramref name="textOffset"/> is
    /// where the token's text starts in the choice's text, for text completions).
    /// </summary>
    public void WriteToken(int index, in TokenEvent ev, LogprobsMode logprobs, GenerationRequest request, int topCount, int textOffset)
    {
        Begin(index);
        WriteContent(ev.TextBytes, ev.Reasoning);
        var top = request.TopLogprobs(ev.Index, Math.Min(topCount, ev.TopLogprobCount));
        switch (logprobs)
        {
            case LogprobsMode.Chat:
                w.WriteStartObject("logprobs"u8);
                w.WriteStartArray("content"u8);
                LogprobJson.WriteChatEntry(w, vocabulary, ev.TokenId, ev.Logprob, top);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
            case LogprobsMode.Legacy:
                w.WriteStartObject("logprobs"u8);
                w.WriteStartArray("tokens"u8);
                LogprobJson.WriteTokenText(w, vocabulary, ev.TokenId);
                w.WriteEndArray();
                w.WriteStartArray("token_logprobs"u8);
                w.WriteNumberValue(LogprobJson.Finite(ev.Logprob));
                w.WriteEndArray();
                w.WriteStartArray("top_logprobs"u8);
                LogprobJson.WriteLegacyTop(w, vocabulary, top);
                w.WriteEndArray();
                w.WriteStartArray("text_offset"u8);
                w.WriteNumberValue(textOffset);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
        }
        End(FinishReason.None, logprobsWritten: logprobs != LogprobsMode.None);
    }

    /// <summary>The final chunk of choice <paramref name="index"/>: an empty delta and its finish_reason
    /// (<c>tool_calls</c> for a choice that stopped after calling tools).</summary>
    public void WriteFinish(int index, FinishReason finish, bool toolCalls = false)
    {
        Begin(index);
        WriteContent(default, reasoning: false, finalChunk: true);
        End(finish, toolCalls: toolCalls);
    }

    /// <summary>The first delta of tool call <paramref name="call"/>: its id, type and (complete) name, empty arguments.</summary>
    public void WriteToolCallStart(int index, int call, string callId, string name)
    {
        Begin(index);
        w.WriteStartObject("delta"u8);
        w.WriteStartArray("tool_calls"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, call);
        w.WriteString("id"u8, callId);
        w.WriteString("type"u8, "function"u8);
        w.WriteStartObject("function"u8);
        w.WriteString("name"u8, name);
        w.WriteString("arguments"u8, ""u8);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        End(FinishReason.None);
    }

    /// <summary>A fragment of tool call <paramref name="call"/>'s arguments.</summary>
    public void WriteToolCallArguments(int index, int call, ReadOnlySpan<byte> fragment)
    {
        Begin(index);
        w.WriteStartObject("delta"u8);
        w.WriteStartArray("tool_calls"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, call);
        w.WriteStartObject("function"u8);
        w.WriteString("arguments"u8, fragment);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        End(FinishReason.None);
    }

    /// <summary>The usage chunk (<c>choices: []</c>) sent before <c>[DONE]</c> when include_usage was asked for.</summary>
    public void WriteUsage(CompletionUsage usage)
    {
        pipe.Write("data: "u8);
        w.Reset();
        w.WriteStartObject();
        WriteHeader();
        w.WriteStartArray("choices"u8);
        w.WriteEndArray();
        WriteUsageObject(w, usage);
        w.WriteEndObject();
        w.Flush();
        pipe.Write("\n\n"u8);
    }

    /// <summary>A mid-stream failure: an error event; no [DONE] follows, so clients raise instead of treating it as the end.</summary>
    public void WriteError(ApiError error)
    {
        pipe.Write("data: "u8);
        w.Reset();
        error.WriteJson(w);
        w.Flush();
        pipe.Write("\n\n"u8);
    }

    public void WriteDone() => pipe.Write("data: [DONE]\n\n"u8);

    public ValueTask<FlushResult> FlushAsync(CancellationToken ct) => pipe.FlushAsync(ct);

    void WriteContent(ReadOnlySpan<byte> text, bool reasoning, bool finalChunk = false)
    {
        if (chat)
        {
            w.WriteStartObject("delta"u8);
            if (!finalChunk) w.WriteString(reasoning ? "reasoning_content"u8 : "content"u8, text);
            w.WriteEndObject();
        }
        else w.WriteString("text"u8, text);
    }

    void Begin(int index)
    {
        pipe.Write("data: "u8);
        w.Reset();
        w.WriteStartObject();
        WriteHeader();
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, index);
    }

    void End(FinishReason finish, bool logprobsWritten = false, bool toolCalls = false)
    {
        if (!logprobsWritten) w.WriteNull("logprobs"u8);
        WriteFinishReason(w, finish, toolCalls);
        w.WriteEndObject();
        w.WriteEndArray();
        if (includeUsage) w.WriteNull("usage"u8);
        w.WriteEndObject();
        w.Flush();
        pipe.Write("\n\n"u8);
    }

    void WriteHeader()
    {
        w.WriteString("id"u8, id);
        w.WriteString("object"u8, ObjectType);
        w.WriteNumber("created"u8, created);
        w.WriteString("model"u8, model);
    }

    public static void WriteFinishReason(Utf8JsonWriter w, FinishReason finish, bool toolCalls = false)
    {
        switch (finish)
        {
            case FinishReason.Stop when toolCalls: w.WriteString("finish_reason"u8, "tool_calls"u8); break;
            case FinishReason.Stop: w.WriteString("finish_reason"u8, "stop"u8); break;
            case FinishReason.Length: w.WriteString("finish_reason"u8, "length"u8); break;
            default: w.WriteNull("finish_reason"u8); break;
        }
    }

    public static void WriteUsageObject(Utf8JsonWriter w, CompletionUsage usage)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, usage.PromptTokens);
        w.WriteNumber("completion_tokens"u8, usage.CompletionTokens);
        w.WriteNumber("total_tokens"u8, usage.PromptTokens + usage.CompletionTokens);
        w.WriteStartObject("prompt_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, usage.CachedTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details"u8);
        w.WriteNumber("reasoning_tokens"u8, usage.ReasoningTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
