using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Http;

/// <summary>
/// The HTTP surface: OpenAI chat and text completions, models, tokenize/detokenize, health probes and metrics, behind
/// CORS and API-key checks. Handlers read the body into a pooled buffer, parse it with the generated parsers into a pooled
/// body object, build the engine requests synchronously (returning both to their pools) and then stream the engine's
/// events back. Every refusal leaves as OpenAI-shaped JSON and is counted by reason.
/// </summary>
internal static class OpenAiEndpoints
{
    static readonly byte[] LiveBody = "{\"status\":\"ok\"}"u8.ToArray();

    public static void Map(WebApplication app, ServingState state)
    {
        app.Use((HttpContext http, RequestDelegate next) => Gate(http, next, state));

        app.MapGet("/health", (HttpContext http) => WriteStatus(http, 200, state.Status));
        app.MapGet("/livez", static (HttpContext http) =>
        {
            http.Response.ContentType = "application/json";
            return http.Response.Body.WriteAsync(LiveBody).AsTask();
        });
        app.MapGet("/readyz", (HttpContext http) =>
        {
            if (state.IsReady) return WriteStatus(http, 200, "ready");
            http.Response.Headers.RetryAfter = "5";
            return WriteStatus(http, 503, state.Status);
        });
        app.MapGet("/metrics", (HttpContext http) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return http.Response.WriteAsync(state.Metrics.Render(state.Engine, state.ModelName, state.Memory), Encoding.UTF8);
        });
        app.MapGet("/v1/models", (HttpContext http) => Guard(http, state, () => WriteModels(http, state, null)));
        app.MapGet("/v1/models/{**id}", (HttpContext http, string id) => Guard(http, state, () => WriteModels(http, state, id)));
        app.MapPost("/v1/chat/completions", (HttpContext http) => Guard(http, state, () => ChatAsync(http, state)));
        app.MapPost("/v1/completions", (HttpContext http) => Guard(http, state, () => CompletionAsync(http, state)));
        app.MapPost("/tokenize", (HttpContext http) => Guard(http, state, () => TokenizeAsync(http, state)));
        app.MapPost("/detokenize", (HttpContext http) => Guard(http, state, () => DetokenizeAsync(http, state)));
    }

    /// <summary>CORS, then the API key, then the route; empty 404/405 answers from routing get an OpenAI body.</summary>
    static async Task Gate(HttpContext http, RequestDelegate next, ServingState state)
    {
        if (state.Cors.IsEnabled && state.Cors.Apply(http)) return;   // a preflight, answered
        if (state.Keys.IsEnabled && NeedsKey(http.Request.Path, state) && !state.Keys.IsAuthorized(http.Request))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await Reject(http, state, new ApiError(401, "Incorrect or missing API key. Send it as 'Authorization: Bearer KEY' or 'api-key: KEY'.",
                "invalid_request_error", null, "invalid_api_key"));
            return;
        }
        await next(http);
        var response = http.Response;
        if (response.HasStarted || response.ContentType is not null) return;
        if (response.StatusCode == StatusCodes.Status404NotFound)
            await Reject(http, state, new ApiError(404, $"Unknown path {http.Request.Path}", "invalid_request_error", null, "not_found"));
        else if (response.StatusCode == StatusCodes.Status405MethodNotAllowed)
            await Reject(http, state, new ApiError(405, $"Method {http.Request.Method} is not allowed on {http.Request.Path}", "invalid_request_error", null, "method_not_allowed"));
    }

    static bool NeedsKey(PathString path, ServingState state)
    {
        if (path.Equals("/health") || path.Equals("/livez") || path.Equals("/readyz")) return false;
        if (path.Equals("/metrics")) return state.Options.MetricsRequireKey;
        return true;
    }

    static Task Reject(HttpContext http, ServingState state, ApiError error)
    {
        state.Metrics.Rejected(ServerMetrics.ReasonFor(error));
        return error.WriteAsync(http.Response);
    }

    static async Task Guard(HttpContext http, ServingState state, Func<Task> handler)
    {
        try
        {
            await handler();
        }
        catch (ApiError e) when (!http.Response.HasStarted)
        {
            await Reject(http, state, e);
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            // Kestrel's own limits while reading the body (size, rate, truncated chunking), e.g. 413.
            await Reject(http, state, new ApiError(e.StatusCode, e.Message, "invalid_request_error"));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // Client went away; nothing to answer.
        }
        catch (Exception e)
        {
            // A bug: logged with its stack trace here, never sent to the client (which would only retry it).
            state.Log.LogError(e, "request {Method} {Path} failed", http.Request.Method, http.Request.Path);
            if (!http.Response.HasStarted)
                await Reject(http, state, new ApiError(500, "Internal server error.", "server_error", null, "internal_error"));
            else http.Abort();
        }
    }

    static ApiError ParseError(RequestParseError e) =>
        e.Param is null ? ApiError.BadRequest(e.Detail) : ApiError.BadRequest($"Invalid value for '{e.Param}': {e.Detail}.", e.Param);

    /// <summary>What the synchronous preparation hands to the streaming part.</summary>
    readonly record struct Prepared(GenerationRequest[] Group, bool Stream, bool IncludeUsage, LogprobsMode Logprobs, int TopLogprobs, ToolRequest? Tools);

    static Task ChatAsync(HttpContext http, ServingState state) => CompleteAsync<ChatEndpoint, ChatCompletionBody>(http, state);

    static Task CompletionAsync(HttpContext http, ServingState state) => CompleteAsync<TextEndpoint, CompletionBody>(http, state);

    /// <summary>Chat and text completions: read, parse and admit synchronously, then stream or answer.</summary>
    static async Task CompleteAsync<TEndpoint, TBody>(HttpContext http, ServingState state)
        where TEndpoint : ICompletionEndpoint<TBody> where TBody : class, ICompletionFields, new()
    {
        long arrival = Stopwatch.GetTimestamp();
        var engine = state.RequireReady();
        state.CheckMemory();
        Prepared p;
        using (var body = await RequestBodyReader.ReadAsync(http.Request, state.Options.MaxRequestBytes, http.RequestAborted))
            p = Prepare<TEndpoint, TBody>(state, engine, body, http.Features.Get<RequestLogEntry>());
        await new CompletionResponder(state, engine, http, p.Group, TEndpoint.Chat, arrival) { Tools = p.Tools }.RunAsync(p.Stream, p.IncludeUsage, p.Logprobs, p.TopLogprobs);
    }

    static Prepared Prepare<TEndpoint, TBody>(ServingState state, InferenceEngine engine, in RentedBody body, RequestLogEntry? log)
        where TEndpoint : ICompletionEndpoint<TBody> where TBody : class, ICompletionFields, new()
    {
        var json = body.Span;
        var r = BodyPool<TBody>.Rent();
        try
        {
            if (!TEndpoint.TryParse(json, r, out var error)) throw ParseError(error);
            state.CheckModel(json, r.Model);
            // OpenAI's values; blocks here live in the pool and on disk by their own policy either way.
            if (r.PromptCacheRetention.HasValue && !r.PromptCacheRetention.ValueEquals(json, "in-memory"u8)
                && !r.PromptCacheRetention.ValueEquals(json, "24h"u8))
                throw ApiError.BadRequest("prompt_cache_retention must be \"in-memory\" or \"24h\"", "prompt_cache_retention");
            if (log is not null && r.PromptCacheKey.HasValue)
                log.CacheKey = RequestLogEntry.Digest(System.Text.Encoding.UTF8.GetBytes(r.PromptCacheKey.GetString(json)));
            var tools = TEndpoint.Tools(state, engine, json, r);
            int[] prompt = TEndpoint.Prompt(engine, json, r, tools);
            if (log is not null && state.Options.LogPrompts) CapturePrompt(engine, prompt, log);
            var grammar = TEndpoint.Grammar(engine, json, r);
            var (mode, top) = TEndpoint.Logprobs(r);
            // Only chat splits reasoning: a text completion is the raw continuation of its prompt.
            var group = RequestReader.Build(engine, json, r, prompt, TEndpoint.MaxCompletionTokens(r), TEndpoint.PromptParam,
                mode != LogprobsMode.None, top, TEndpoint.Chat ? state.Reasoning : null, grammar, tools?.Grammar(engine, grammar));
            return new Prepared(group, r.Stream, r.StreamOptions?.IncludeUsage == true, mode, top, tools);
        }
        finally
        {
            TEndpoint.Reset(r);   // drop the slices of this request's buffer before the instance is reused
            BodyPool<TBody>.Return(r);
        }
    }

    /// <summary>What differs between <c>/v1/chat/completions</c> and <c>/v1/completions</c>; the flow is shared
    /// (<see cref="CompleteAsync"/>). Static members on a struct, so the generic code is specialised, not dispatched.</summary>
    interface ICompletionEndpoint<TBody> where TBody : class, ICompletionFields
    {
        static abstract bool Chat { get; }
        /// <summary>The body field a bad prompt is reported against.</summary>
        static abstract string PromptParam { get; }
        static abstract bool TryParse(ReadOnlySpan<byte> json, TBody body, out RequestParseError error);
        static abstract void Reset(TBody body);
        /// <summary>Chat only: the request's tools, or null.</summary>
        static abstract ToolRequest? Tools(ServingState state, InferenceEngine engine, ReadOnlySpan<byte> json, TBody body);
        static abstract int[] Prompt(InferenceEngine engine, ReadOnlySpan<byte> json, TBody body, ToolRequest? tools);
        static abstract int? MaxCompletionTokens(TBody body);
        /// <summary>The grammar the output must follow (<c>response_format</c>), or null.</summary>
        static abstract JsonGrammar? Grammar(InferenceEngine engine, ReadOnlySpan<byte> json, TBody body);
        static abstract (LogprobsMode Mode, int Top) Logprobs(TBody body);
    }

    readonly struct ChatEndpoint : ICompletionEndpoint<ChatCompletionBody>
    {
        public static bool Chat => true;
        public static string PromptParam => "messages";
        public static bool TryParse(ReadOnlySpan<byte> json, ChatCompletionBody body, out RequestParseError error) => ChatCompletionBody.TryParse(json, body, out error);
        public static void Reset(ChatCompletionBody body) => body.Reset();
        public static ToolRequest? Tools(ServingState state, InferenceEngine engine, ReadOnlySpan<byte> json, ChatCompletionBody body) =>
            ToolRequest.Read(engine, state.ToolFormat(engine), json, body);
        public static int[] Prompt(InferenceEngine engine, ReadOnlySpan<byte> json, ChatCompletionBody body, ToolRequest? tools) =>
            RequestReader.ChatPrompt(engine, json, body, tools);
        public static int? MaxCompletionTokens(ChatCompletionBody body) => body.MaxCompletionTokens;
        public static JsonGrammar? Grammar(InferenceEngine engine, ReadOnlySpan<byte> json, ChatCompletionBody body) => RequestReader.ResponseGrammar(engine, json, body);
        public static (LogprobsMode, int) Logprobs(ChatCompletionBody body) =>
            (body.Logprobs == true ? LogprobsMode.Chat : LogprobsMode.None, body.TopLogprobs ?? 0);
    }

    readonly struct TextEndpoint : ICompletionEndpoint<CompletionBody>
    {
        public static bool Chat => false;
        public static string PromptParam => "prompt";
        public static bool TryParse(ReadOnlySpan<byte> json, CompletionBody body, out RequestParseError error) => CompletionBody.TryParse(json, body, out error);
        public static void Reset(CompletionBody body) => body.Reset();
        public static ToolRequest? Tools(ServingState state, InferenceEngine engine, ReadOnlySpan<byte> json, CompletionBody body) => null;
        public static int[] Prompt(InferenceEngine engine, ReadOnlySpan<byte> json, CompletionBody body, ToolRequest? tools) => RequestReader.CompletionPrompt(engine, json, body);
        public static int? MaxCompletionTokens(CompletionBody body) => null;   // legacy completions have only max_tokens
        public static JsonGrammar? Grammar(InferenceEngine engine, ReadOnlySpan<byte> json, CompletionBody body) => null;
        /// <summary>Legacy <c>logprobs</c> is a count of alternatives, and asking for 0 still returns the chosen token's.</summary>
        public static (LogprobsMode, int) Logprobs(CompletionBody body) =>
            (body.Logprobs is not null ? LogprobsMode.Legacy : LogprobsMode.None, body.Logprobs ?? 0);
    }

    /// <summary>--log-prompts: the prompt as the model sees it (a chat prompt after its template, special tokens
    /// included), cut to <see cref="RequestLog.MaxPromptBytes"/> at a character boundary. Only runs when asked for.</summary>
    static void CapturePrompt(InferenceEngine engine, int[] prompt, RequestLogEntry log)
    {
        var detokenizer = new IncrementalDetokenizer(engine.Vocabulary);
        var text = new ArrayBufferWriter<byte>(512);
        foreach (int id in prompt)
        {
            detokenizer.Append(id, skipSpecial: false);
            text.Write(detokenizer.TakeCompleted());
            if (text.WrittenCount > RequestLog.MaxPromptBytes) break;
        }
        if (text.WrittenCount <= RequestLog.MaxPromptBytes) text.Write(detokenizer.Flush());
        var bytes = text.WrittenSpan;
        if (bytes.Length > RequestLog.MaxPromptBytes)
        {
            int cut = RequestLog.MaxPromptBytes;
            while (cut > 0 && (bytes[cut] & 0xC0) == 0x80) cut--;   // never split a UTF-8 sequence
            bytes = bytes[..cut];
            log.PromptTruncated = true;
        }
        log.Prompt = bytes.ToArray();
    }

    static async Task TokenizeAsync(HttpContext http, ServingState state)
    {
        var engine = state.RequireReady();
        int[] tokens;
        using (var body = await RequestBodyReader.ReadAsync(http.Request, state.Options.MaxRequestBytes, http.RequestAborted))
            tokens = Tokenize(state, engine, body);
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteStartArray("tokens"u8);
        foreach (int t in tokens) w.WriteNumberValue(t);
        w.WriteEndArray();
        w.WriteNumber("count"u8, tokens.Length);
        w.WriteNumber("max_model_len"u8, engine.ContextLength);
        w.WriteEndObject();
    }

    static int[] Tokenize(ServingState state, InferenceEngine engine, in RentedBody body)
    {
        var json = body.Span;
        var r = BodyPool<TokenizeBody>.Rent();
        try
        {
            if (!TokenizeBody.TryParse(json, r, out var error)) throw ParseError(error);
            state.CheckModel(json, r.Model);
            if (r.Messages.IsPresent == r.Prompt.IsPresent)
                throw ApiError.BadRequest("send either prompt or messages", r.Prompt.IsPresent ? "messages" : "prompt");
            if (r.Prompt.IsPresent && r.Tools.HasValue) throw ApiError.BadRequest("tools apply to messages, not to a prompt", "tools");
            if (r.Prompt.IsPresent) return RequestReader.PromptTokens(engine, json, r.Prompt, "prompt");
            var tools = ToolRequest.Read(engine, state.ToolFormat(engine), json, new ToolRequest.ToolFields(r.Tools, r.ToolChoice, r.ParallelToolCalls));
            return engine.Prompts.Encode(Http.ChatPrompt.Render(engine, json, r.Messages, r.AddGenerationPrompt != false,
                toolsJson: tools?.TemplateJson, toolInstructions: tools?.Instructions));
        }
        finally
        {
            r.Reset();
            BodyPool<TokenizeBody>.Return(r);
        }
    }

    static async Task DetokenizeAsync(HttpContext http, ServingState state)
    {
        var engine = state.RequireReady();
        byte[] text;
        using (var body = await RequestBodyReader.ReadAsync(http.Request, state.Options.MaxRequestBytes, http.RequestAborted))
            text = Detokenize(state, engine, body);
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteString("prompt"u8, text);
        w.WriteEndObject();
    }

    static byte[] Detokenize(ServingState state, InferenceEngine engine, in RentedBody body)
    {
        var json = body.Span;
        var r = BodyPool<DetokenizeBody>.Rent();
        try
        {
            if (!DetokenizeBody.TryParse(json, r, out var error)) throw ParseError(error);
            state.CheckModel(json, r.Model);
            var input = r.Tokens;
            if (input.Kind == PromptKind.Texts && input.Texts.Count == 0) return [];
            if (input.Kind != PromptKind.Tokens) throw ApiError.BadRequest("tokens must be an array of token ids", "tokens");
            var vocabulary = engine.Vocabulary;
            var detokenizer = new IncrementalDetokenizer(vocabulary);
            var text = new System.Buffers.ArrayBufferWriter<byte>(256);
            var ids = input.Tokens;
            for (int i = 0; i < ids.Length; i++)
            {
                if ((uint)ids[i] >= (uint)vocabulary.Count)
                    throw ApiError.BadRequest($"tokens[{i}] = {ids[i]} is not a token id in [0, {vocabulary.Count})", $"tokens[{i}]");
                detokenizer.Append(ids[i], skipSpecial: true);
                text.Write(detokenizer.TakeCompleted());
            }
            text.Write(detokenizer.Flush());
            return text.WrittenSpan.ToArray();
        }
        finally
        {
            r.Reset();
            BodyPool<DetokenizeBody>.Return(r);
        }
    }

    static Task WriteStatus(HttpContext http, int status, string text)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        using var buffer = new MemoryStream(64);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("status"u8, text);
            w.WriteEndObject();
        }
        return http.Response.Body.WriteAsync(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    static async Task WriteModels(HttpContext http, ServingState state, string? id)
    {
        var engine = state.Engine ?? throw ServingState.Unavailable("The model is still loading. Retry shortly.");
        if (id is not null && id != state.ModelName)
            throw new ApiError(404, $"The model '{id}' does not exist; this server serves '{state.ModelName}'.", "invalid_request_error", "model", "model_not_found");
        http.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(http.Response.BodyWriter);
        if (id is null)
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list"u8);
            w.WriteStartArray("data"u8);
        }
        w.WriteStartObject();
        w.WriteString("id"u8, state.ModelNameJson);
        w.WriteString("object"u8, "model"u8);
        w.WriteNumber("created"u8, state.CreatedAt);
        w.WriteString("owned_by"u8, "onnxlm"u8);
        w.WriteString("root"u8, engine.ModelId);
        w.WriteNumber("max_model_len"u8, engine.ContextLength);
        w.WriteEndObject();
        if (id is null)
        {
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }
}
