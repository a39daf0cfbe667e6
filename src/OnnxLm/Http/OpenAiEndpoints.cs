using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>The HTTP surface: health, model list, chat and text completions. Handlers parse and validate on the request
/// thread, submit to the engine and stream its events back; errors always leave as OpenAI-shaped JSON.</summary>
internal static class OpenAiEndpoints
{
    public const long MaxRequestBytes = 8 << 20;

    public static void Map(WebApplication app, InferenceEngine engine)
    {
        // Routing answers a wrong method with an empty 405 and an unknown path with an empty 404; clients parse every
        // error body as OpenAI JSON, so fill those in (anything that already wrote a body or a Content-Type is left alone).
        app.Use(static async (HttpContext http, RequestDelegate next) =>
        {
            await next(http);
            var response = http.Response;
            if (response.HasStarted || response.ContentType is not null) return;
            if (response.StatusCode == StatusCodes.Status404NotFound)
                await new ApiError(404, $"Unknown path {http.Request.Path}", "invalid_request_error", null, "not_found").WriteAsync(response);
            else if (response.StatusCode == StatusCodes.Status405MethodNotAllowed)
                await new ApiError(405, $"Method {http.Request.Method} is not allowed on {http.Request.Path}", "invalid_request_error", null, "method_not_allowed")
                    .WriteAsync(response);
        });
        app.MapGet("/health", static (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            return http.Response.Body.WriteAsync(HealthBody).AsTask();
        });
        app.MapGet("/v1/models", (HttpContext http) => WriteModels(http, engine));
        app.MapPost("/v1/chat/completions", (HttpContext http) => Guard(http, () => ChatAsync(http, engine)));
        app.MapPost("/v1/completions", (HttpContext http) => Guard(http, () => CompletionAsync(http, engine)));
    }

    static async Task Guard(HttpContext http, Func<Task> handler)
    {
        try
        {
            await handler();
        }
        catch (ApiError e) when (!http.Response.HasStarted)
        {
            await e.WriteAsync(http.Response);
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            // Kestrel's own limits while reading the body (size, rate, truncated chunking), e.g. 413.
            await new ApiError(e.StatusCode, e.Message, "invalid_request_error").WriteAsync(http.Response);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // Client went away; nothing to answer.
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("onnxlm.http").LogError(e, "request failed");
            await new ApiError(500, "internal server error", "server_error").WriteAsync(http.Response);
        }
    }

    static async Task<T> ReadJson<T>(HttpContext http, JsonTypeInfo<T> type) where T : class
    {
        var req = http.Request;
        if (req.ContentType is not { } ct || !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(415, "Content-Type must be application/json", "invalid_request_error");
        if (req.ContentLength > MaxRequestBytes)
            throw new ApiError(413, $"request body exceeds {MaxRequestBytes} bytes", "invalid_request_error");
        try
        {
            return await JsonSerializer.DeserializeAsync(req.Body, type, http.RequestAborted)
                ?? throw ApiError.BadRequest("request body must be a JSON object");
        }
        catch (JsonException e)
        {
            // The serializer wraps reader (syntax) errors; a bare JsonException is a value that does not fit its field.
            // Its own messages are not used: under UseSystemResourceKeys they are bare resource keys.
            if (e.InnerException is JsonException || e.Path is not { Length: > 2 } path)
                throw ApiError.BadRequest($"The request body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}).");
            string param = path.TrimStart('$', '.');
            throw ApiError.BadRequest($"Invalid type or value for '{param}'.", param);
        }
    }

    static async Task ChatAsync(HttpContext http, InferenceEngine engine)
    {
        var r = await ReadJson(http, RequestJsonContext.Default.ChatCompletionRequest);
        string prompt = RequestReader.RenderChat(engine, r);
        var tokens = engine.Prompts.Encode(prompt);
        var request = RequestReader.Build(engine, r, tokens, r.MaxCompletionTokens, "messages");
        await new CompletionResponder(engine, http, request, chat: true, engine.ModelId).RunAsync(r.Stream, r.StreamOptions?.IncludeUsage == true);
    }

    static async Task CompletionAsync(HttpContext http, InferenceEngine engine)
    {
        var r = await ReadJson(http, RequestJsonContext.Default.CompletionRequest);
        var tokens = RequestReader.CompletionPrompt(engine, r);
        var request = RequestReader.Build(engine, r, tokens, null, "prompt");
        await new CompletionResponder(engine, http, request, chat: false, engine.ModelId).RunAsync(r.Stream, r.StreamOptions?.IncludeUsage == true);
    }

    static async Task WriteModels(HttpContext http, InferenceEngine engine)
    {
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteString("object"u8, "list"u8);
        w.WriteStartArray("data"u8);
        w.WriteStartObject();
        w.WriteString("id"u8, engine.ModelId);
        w.WriteString("object"u8, "model"u8);
        w.WriteNumber("created"u8, StartedAt);
        w.WriteString("owned_by"u8, "onnxlm"u8);
        w.WriteNumber("max_model_len"u8, engine.ContextLength);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    static readonly byte[] HealthBody = "{\"status\":\"ok\"}"u8.ToArray();
    static readonly long StartedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
