using System.Buffers;
using System.Text.Json;

namespace OnnxLm.Baseline;

/// <summary>
/// Writes OpenAI responses for one request with <see cref="Utf8JsonWriter"/>: SSE chunks (one per decoded piece,
/// flushed at once, then the finish chunk, the usage chunk when asked, <c>data: [DONE]</c>) or one JSON body.
/// </summary>
public sealed class ResponseWriter(HttpResponse response, bool chat, string model)
{
    readonly string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    readonly ArrayBufferWriter<byte> buffer = new(512);
    bool includeUsage;

    public void StartStream(bool withUsage)
    {
        includeUsage = withUsage;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
    }

    public ValueTask<System.IO.Pipelines.FlushResult> WritePieceAsync(string text, CancellationToken ct)
    {
        WriteChunk(text, null, null);
        return response.BodyWriter.FlushAsync(ct);
    }

    public async Task EndStreamAsync(GenerationOutcome outcome, CancellationToken ct)
    {
        WriteChunk(null, outcome.FinishReason, null);
        if (includeUsage) WriteChunk(null, null, outcome);
        response.BodyWriter.Write("data: [DONE]\n\n"u8);
        await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
    }

    void WriteChunk(string? text, string? finish, GenerationOutcome? usage)
    {
        buffer.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            Header(w, chat ? "chat.completion.chunk" : "text_completion");
            w.WriteStartArray("choices"u8);
            if (usage is null)
            {
                w.WriteStartObject();
                w.WriteNumber("index"u8, 0);
                if (chat)
                {
                    w.WriteStartObject("delta"u8);
                    if (text is not null) w.WriteString("content"u8, text);
                    w.WriteEndObject();
                }
                else w.WriteString("text"u8, text ?? "");
                if (finish is null) w.WriteNull("finish_reason"u8);
                else w.WriteString("finish_reason"u8, finish);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (usage is { } u) Usage(w, u);
            else if (includeUsage) w.WriteNull("usage"u8);
            w.WriteEndObject();
        }
        var pipe = response.BodyWriter;
        pipe.Write("data: "u8);
        pipe.Write(buffer.WrittenSpan);
        pipe.Write("\n\n"u8);
    }

    public async Task WriteBodyAsync(string text, GenerationOutcome outcome, CancellationToken ct)
    {
        response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(response.BodyWriter);
        w.WriteStartObject();
        Header(w, chat ? "chat.completion" : "text_completion");
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        if (chat)
        {
            w.WriteStartObject("message"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, text);
            w.WriteEndObject();
        }
        else w.WriteString("text"u8, text);
        w.WriteString("finish_reason"u8, outcome.FinishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w, outcome);
        w.WriteEndObject();
        await w.FlushAsync(ct).ConfigureAwait(false);
    }

    void Header(Utf8JsonWriter w, string obj)
    {
        w.WriteString("id"u8, id);
        w.WriteString("object"u8, obj);
        w.WriteNumber("created"u8, created);
        w.WriteString("model"u8, model);
    }

    static void Usage(Utf8JsonWriter w, GenerationOutcome u)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, u.PromptTokens);
        w.WriteNumber("completion_tokens"u8, u.CompletionTokens);
        w.WriteNumber("total_tokens"u8, u.PromptTokens + u.CompletionTokens);
        w.WriteStartObject("prompt_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static async Task WriteErrorAsync(HttpResponse response, int status, string message, string type)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(response.BodyWriter);
        w.WriteStartObject();
        w.WriteStartObject("error"u8);
        w.WriteString("message"u8, message);
        w.WriteString("type"u8, type);
        w.WriteEndObject();
        w.WriteEndObject();
        await w.FlushAsync().ConfigureAwait(false);
    }
}
