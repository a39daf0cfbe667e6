using System.Buffers;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Baseline;

/// <summary>
/// Handles <c>POST /v1/chat/completions</c> and <c>POST /v1/completions</c>: binds the request, turns it into a
/// <see cref="PromptInput"/>, waits for the model and streams (or returns) the answer. A client that disconnects
/// cancels its generation at the next token.
/// </summary>
public static class CompletionEndpoint
{
    public static async Task HandleAsync(HttpContext http, GenAiModel model, bool chat)
    {
        var ct = http.RequestAborted;
        BaselineRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, BaselineJsonContext.Default.BaselineRequest, ct).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await ResponseWriter.WriteErrorAsync(http.Response, 400, "invalid JSON: " + e.Message, "invalid_request_error").ConfigureAwait(false);
            return;
        }
        if (request is null)
        {
            await ResponseWriter.WriteErrorAsync(http.Response, 400, "empty body", "invalid_request_error").ConfigureAwait(false);
            return;
        }

        var writer = new ResponseWriter(http.Response, chat, request.Model ?? model.Name);
        var settings = new GenerationSettings(request.MaxCompletionTokens ?? request.MaxTokens, request.Temperature ?? 1f,
            request.TopP, request.TopK, request.Seed, request.IgnoreEos);
        try
        {
            var input = chat ? ChatInput(request) : CompletionInput(request);
            if (request.Stream)
            {
                writer.StartStream(request.StreamOptions?.IncludeUsage ?? false);
                var outcome = await model.GenerateAsync(input, settings, piece => Flushed(writer.WritePieceAsync(piece, ct)), ct).ConfigureAwait(false);
                await writer.EndStreamAsync(outcome, ct).ConfigureAwait(false);
            }
            else
            {
                var text = new StringBuilder();
                var outcome = await model.GenerateAsync(input, settings, piece =>
                {
                    text.Append(piece);
                    return ValueTask.CompletedTask;
                }, ct).ConfigureAwait(false);
                await writer.WriteBodyAsync(text.ToString(), outcome, ct).ConfigureAwait(false);
            }
        }
        catch (BadRequestException e) when (!http.Response.HasStarted)
        {
            await ResponseWriter.WriteErrorAsync(http.Response, 400, e.Message, "invalid_request_error").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client left; the permit is already released.
        }
    }

    static async ValueTask Flushed(ValueTask<System.IO.Pipelines.FlushResult> flush) => await flush.ConfigureAwait(false);

    static PromptInput ChatInput(BaselineRequest r)
    {
        if (r.Messages is not { Count: > 0 } messages) throw new BadRequestException("messages must be a non-empty array");
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var m in messages)
            {
                w.WriteStartObject();
                w.WriteString("role"u8, m.Role ?? "user");
                w.WriteString("content"u8, m.Content ?? "");
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return new PromptInput(Encoding.UTF8.GetString(buffer.WrittenSpan), null, null);
    }

    static PromptInput CompletionInput(BaselineRequest r)
    {
        var p = r.Prompt;
        switch (p.ValueKind)
        {
            case JsonValueKind.String:
                return new PromptInput(null, p.GetString(), null);
            case JsonValueKind.Array:
                var ids = new int[p.GetArrayLength()];
                int i = 0;
                foreach (var e in p.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.String && ids.Length == 1) return new PromptInput(null, e.GetString(), null);
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out ids[i++]))
                        throw new BadRequestException("prompt must be a string or an array of token ids");
                }
                return new PromptInput(null, null, ids);
            default:
                throw new BadRequestException("prompt must be a string or an array of token ids");
        }
    }
}
