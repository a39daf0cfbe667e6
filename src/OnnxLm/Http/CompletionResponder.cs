using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// Runs one submitted request to its end and writes the OpenAI response: a JSON body, or Server-Sent Events with one
/// chunk per token flushed as produced, a final chunk carrying finish_reason, an optional usage chunk and <c>data: [DONE]</c>.
/// Per token it writes straight to the response pipe through one reused <see cref="Utf8JsonWriter"/>.
/// If the client goes away the request is cancelled, so the engine frees its row at the next step.
/// </summary>
internal sealed class CompletionResponder(InferenceEngine engine, HttpContext http, GenerationRequest request, bool chat, string model)
{
    readonly string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    bool ended;
    bool includeUsage;

    public async Task RunAsync(bool stream, bool includeUsage)
    {
        if (!engine.TrySubmit(request))
        {
            if (engine.IsStopping)
            {
                await new ApiError(503, "The server is shutting down. Retry shortly.", "server_error", null, "unavailable") { RetryAfter = 5 }
                    .WriteAsync(http.Response);
                return;
            }
            await new ApiError(429, "The server is busy: too many requests are waiting. Retry shortly.", "rate_limit_exceeded", null, "rate_limit_exceeded") { RetryAfter = 1 }
                .WriteAsync(http.Response);
            return;
        }
        var ct = http.RequestAborted;
        this.includeUsage = includeUsage;
        try
        {
            if (stream) await StreamAsync(ct);
            else await CompleteAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            engine.Cancel(request);
        }
        catch (IOException)
        {
            engine.Cancel(request);   // the connection broke while writing
        }
        finally
        {
            // Whatever happened above, make sure the engine lets go of the row.
            if (!ended) engine.Cancel(request);
        }
    }

    async Task CompleteAsync(CancellationToken ct)
    {
        var text = new ArrayBufferWriter<byte>(256);
        var events = request.Events;
        TokenEvent last = default;
        while (await events.WaitToReadAsync(ct))
        {
            while (events.TryRead(out var ev))
            {
                if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text) text.Write(ev.TextBytes);
                else
                {
                    last = ev;
                    ended = true;
                }
            }
        }
        var response = http.Response;
        if (last.Kind == TokenEventKind.Error)
        {
            await new ApiError(500, last.Error ?? "generation failed", "server_error").WriteAsync(response);
            return;
        }
        response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(response.BodyWriter);
        w.WriteStartObject();
        WriteHeader(w, chat ? "chat.completion"u8 : "text_completion"u8);
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
        if (chat)
        {
            w.WriteStartObject("message"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, text.WrittenSpan);
            w.WriteEndObject();
        }
        else w.WriteString("text"u8, text.WrittenSpan);
        w.WriteNull("logprobs"u8);
        WriteFinishReason(w, last.Finish);
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, last);
        w.WriteEndObject();
        await w.FlushAsync(ct);
    }

    async Task StreamAsync(CancellationToken ct)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var pipe = response.BodyWriter;
        await using var w = new Utf8JsonWriter(pipe);
        if (chat)
        {
            // The first delta carries the role, as OpenAI's does.
            BeginChunk(pipe, w);
            w.WriteStartObject("delta"u8);
            w.WriteString("role"u8, "assistant"u8);
            w.WriteString("content"u8, ""u8);
            w.WriteEndObject();
            EndChunk(pipe, w, FinishReason.None);
            await pipe.FlushAsync(ct);
        }
        var events = request.Events;
        TokenEvent last = default;
        while (await events.WaitToReadAsync(ct))
        {
            bool wrote = false;
            while (events.TryRead(out var ev))
            {
                if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text)
                {
                    if (ev.TextLength == 0) continue;
                    BeginChunk(pipe, w);
                    if (chat)
                    {
                        w.WriteStartObject("delta"u8);
                        w.WriteString("content"u8, ev.TextBytes);
                        w.WriteEndObject();
                    }
                    else w.WriteString("text"u8, ev.TextBytes);
                    EndChunk(pipe, w, FinishReason.None);
                    wrote = true;
                }
                else
                {
                    last = ev;
                    ended = true;
                }
            }
            if (wrote) await pipe.FlushAsync(ct);
        }
        if (last.Kind == TokenEventKind.Error)
        {
            // A mid-stream failure is an error event; no [DONE] follows, so clients raise instead of treating it as the end.
            pipe.Write("data: "u8);
            w.Reset();
            new ApiError(500, last.Error ?? "generation failed", "server_error").WriteJson(w);
            w.Flush();
            pipe.Write("\n\n"u8);
            await pipe.FlushAsync(ct);
            return;
        }
        BeginChunk(pipe, w);
        if (chat)
        {
            w.WriteStartObject("delta"u8);
            w.WriteEndObject();
        }
        else w.WriteString("text"u8, ""u8);
        EndChunk(pipe, w, last.Finish);
        if (includeUsage)
        {
            pipe.Write("data: "u8);
            w.Reset();
            w.WriteStartObject();
            WriteHeader(w, chat ? "chat.completion.chunk"u8 : "text_completion"u8);
            w.WriteStartArray("choices"u8);
            w.WriteEndArray();
            WriteUsage(w, last);
            w.WriteEndObject();
            w.Flush();
            pipe.Write("\n\n"u8);
        }
        pipe.Write("data: [DONE]\n\n"u8);
        await pipe.FlushAsync(ct);
    }

    void BeginChunk(PipeWriter pipe, Utf8JsonWriter w)
    {
        pipe.Write("data: "u8);
        w.Reset();
        w.WriteStartObject();
        WriteHeader(w, chat ? "chat.completion.chunk"u8 : "text_completion"u8);
        w.WriteStartArray("choices"u8);
        w.WriteStartObject();
        w.WriteNumber("index"u8, 0);
    }

    void EndChunk(PipeWriter pipe, Utf8JsonWriter w, FinishReason finish)
    {
        w.WriteNull("logprobs"u8);
        WriteFinishReason(w, finish);
        w.WriteEndObject();
        w.WriteEndArray();
        // With include_usage, OpenAI marks every chunk but the usage chunk with usage: null.
        if (includeUsage) w.WriteNull("usage"u8);
        w.WriteEndObject();
        w.Flush();
        pipe.Write("\n\n"u8);
    }

    void WriteHeader(Utf8JsonWriter w, ReadOnlySpan<byte> objectType)
    {
        w.WriteString("id"u8, id);
        w.WriteString("object"u8, objectType);
        w.WriteNumber("created"u8, created);
        w.WriteString("model"u8, model);
    }

    static void WriteFinishReason(Utf8JsonWriter w, FinishReason finish)
    {
        switch (finish)
        {
            case FinishReason.Stop: w.WriteString("finish_reason"u8, "stop"u8); break;
            case FinishReason.Length: w.WriteString("finish_reason"u8, "length"u8); break;
            default: w.WriteNull("finish_reason"u8); break;
        }
    }

    static void WriteUsage(Utf8JsonWriter w, in TokenEvent last)
    {
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, last.PromptTokens);
        w.WriteNumber("completion_tokens"u8, last.CompletionTokens);
        w.WriteNumber("total_tokens"u8, last.PromptTokens + last.CompletionTokens);
        w.WriteStartObject("prompt_tokens_details"u8);
        w.WriteNumber("cached_tokens"u8, last.CachedTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details"u8);
        w.WriteNumber("reasoning_tokens"u8, 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
