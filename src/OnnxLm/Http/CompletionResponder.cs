using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Http;

/// <summary>
/// Runs the <c>n</c> engine requests of one completion to their end and writes the OpenAI response: one JSON body, or
/// Server-Sent Events with a chunk per token flushed as produced (keep-alive comments until the first token), a final chunk
/// per choice carrying its finish_reason, an optional usage chunk and <c>data: [DONE]</c>. Records latency metrics as
/// tokens arrive. If the client goes away every request of the group is cancelled, so the engine frees their rows.
/// For a chat completion of a reasoning model the engine flags the text of each choice's thought
/// (<see cref="TokenEvent.Reasoning"/>): it goes to <c>reasoning_content</c> and the rest to <c>content</c>, each null when
/// empty (as vLLM does), and the flagged tokens are counted as <c>reasoning_tokens</c>.
/// </summary>
internal sealed class CompletionResponder
{
    /// <summary>How often a comment line is sent while a stream has produced no token yet.</summary>
    public static TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(1);

    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    readonly ServingState state;
    readonly InferenceEngine engine;
    readonly HttpContext http;
    readonly GenerationRequest[] group;
    readonly bool chat;
    readonly bool splitsReasoning;
    readonly long arrival;
    readonly string id;
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    readonly long[] lastToken;
    readonly FinishReason[] finish;
    readonly int[] completionTokens;
    readonly int[] textOffset;   // UTF-16 length of each choice's text so far (text completions' text_offset)
    CompletionUsage usage;
    bool firstTokenSeen;
    long firstTokenAt;
    int ended;
    string? error;

    public CompletionResponder(ServingState state, InferenceEngine engine, HttpContext http, GenerationRequest[] group, bool chat, long arrival)
    {
        this.state = state;
        this.engine = engine;
        this.http = http;
        this.group = group;
        this.chat = chat;
        splitsReasoning = chat && group[0].Reasoning is not null;
        this.arrival = arrival;
        id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        lastToken = new long[group.Length];
        finish = new FinishReason[group.Length];
        completionTokens = new int[group.Length];
        textOffset = new int[group.Length];
    }

    /// <summary>The request's tools: each choice's output is split into content and tool calls (<see cref="ToolCallParser"/>).</summary>
    public ToolRequest? Tools { get; init; }

    ToolCallParser[]? parsers;
    List<string>[]? callIds;

    public async Task RunAsync(bool stream, bool includeUsage, LogprobsMode logprobs, int topLogprobs)
    {
        if (Tools is { } tools && tools.Mode != Engine.Constraints.ToolChoiceMode.None)
        {
            parsers = new ToolCallParser[group.Length];
            callIds = new List<string>[group.Length];
            for (int i = 0; i < group.Length; i++)
            {
                parsers[i] = new ToolCallParser(tools.Format, engine.Vocabulary, startsInCall: tools.Mode == Engine.Constraints.ToolChoiceMode.Required);
                callIds[i] = [];
            }
        }
        bool submitted = group.Length == 1 ? engine.TrySubmit(group[0]) : engine.TrySubmitGroup(group);
        if (!submitted)
        {
            if (engine.IsStopping) throw ServingState.Unavailable("The server is shutting down. Retry shortly.");
            throw new ApiError(429, "The server is busy: too many requests are waiting. Retry shortly.", "rate_limit_exceeded", null, "rate_limit_exceeded") { RetryAfter = 1 };
        }
        var ct = http.RequestAborted;
        var events = new GroupEvents(group);
        try
        {
            if (stream) await StreamAsync(events, includeUsage, logprobs, topLogprobs, ct);
            else await CompleteAsync(events, logprobs, topLogprobs, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away (or the connection broke while writing): nobody reads the rest.
            CancelAll();
            await events.SettleAsync();
            if (e is OperationCanceledException && !ct.IsCancellationRequested) throw;
        }
        finally
        {
            // Whatever happened above, make sure the engine lets go of every row.
            if (ended < group.Length) CancelAll();
            RecordForLog();
        }
    }

    /// <summary>Once per request, at its end: the figures of its log line.</summary>
    void RecordForLog()
    {
        if (http.Features.Get<RequestLogEntry>() is not { } log) return;
        long last = 0;
        foreach (long t in lastToken) last = Math.Max(last, t);
        log.Id = id;
        log.RecordGeneration(usage, finish, error is not null, firstTokenAt, last);
    }

    void CancelAll()
    {
        foreach (var r in group) engine.Cancel(r);
    }

    /// <summary>Bookkeeping shared by both paths; false for an event that carries no output (the group's end).</summary>
    void OnEvent(int member, in TokenEvent ev)
    {
        switch (ev.Kind)
        {
            case TokenEventKind.Token:
                {
                    long now = Stopwatch.GetTimestamp();
                    var metrics = state.Metrics;
                    if (!firstTokenSeen)
                    {
                        firstTokenSeen = true;
                        firstTokenAt = now;
                        metrics.TimeToFirstToken.Observe(now - arrival);
                    }
                    if (lastToken[member] != 0) metrics.InterTokenLatency.Observe(now - lastToken[member]);
                    lastToken[member] = now;
                    if (ev.Reasoning) usage = usage with { ReasoningTokens = usage.ReasoningTokens + 1 };
                    break;
                }
            case TokenEventKind.Finished:
                finish[member] = ev.Finish;
                completionTokens[member] = ev.CompletionTokens;
                if (member == 0) usage = usage with { PromptTokens = ev.PromptTokens, CachedTokens = ev.CachedTokens };
                usage = usage with { CompletionTokens = usage.CompletionTokens + ev.CompletionTokens };
                state.Metrics.Finished(ev.Finish);
                if (++ended == group.Length) state.Metrics.EndToEnd.Observe(Stopwatch.GetTimestamp() - arrival);
                break;
            case TokenEventKind.Error:
                error ??= ev.Error;
                if (member == 0) usage = usage with { PromptTokens = ev.PromptTokens };
                state.Metrics.Failed();
                ended++;
                break;
        }
    }

    bool IsLoggable(in TokenEvent ev) => !engine.Vocabulary.IsSpecial(ev.TokenId);

    ApiError FailureError()
    {
        // The engine's message may hold runtime details: log it, tell the client only what kind of failure it was.
        state.Log.LogError("generation failed: {Error}", error);
        if (engine.IsStopping) return ServingState.Unavailable("The server is shutting down. Retry shortly.");
        return new ApiError(500, "Generation failed on the server.", "server_error", null, "internal_error");
    }

    async Task CompleteAsync(GroupEvents events, LogprobsMode logprobs, int topLogprobs, CancellationToken ct)
    {
        var texts = new ArrayBufferWriter<byte>[group.Length];
        var thoughts = splitsReasoning ? new ArrayBufferWriter<byte>[group.Length] : null;
        var logged = logprobs == LogprobsMode.None ? null : new List<LoggedToken>[group.Length];
        for (int i = 0; i < group.Length; i++)
        {
            texts[i] = new ArrayBufferWriter<byte>(256);
            if (thoughts is not null) thoughts[i] = new ArrayBufferWriter<byte>(256);
            if (logged is not null) logged[i] = [];
        }
        while (await events.WaitAsync(ct))
        {
            while (events.TryRead(out int m, out var ev))
            {
                OnEvent(m, ev);
                if (ev.Kind == TokenEventKind.Token && logged is not null && IsLoggable(ev))
                    logged[m].Add(new LoggedToken(ev.TokenId, ev.Logprob, ev.Index, Math.Min(topLogprobs, (int)ev.TopLogprobCount), textOffset[m]));
                if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text)
                {
                    if (parsers is not null && !(ev.Reasoning && thoughts is not null))
                        parsers[m].Feed(ev.Kind == TokenEventKind.Token ? ev.TokenId : -1, ev.TextBytes);
                    else (ev.Reasoning && thoughts is not null ? thoughts[m] : texts[m]).Write(ev.TextBytes);
                    textOffset[m] += Encoding.UTF8.GetCharCount(ev.TextBytes);
                }
            }
        }
        if (error is not null)
        {
            await FailureError().WriteAsync(http.Response);
            return;
        }
        var response = http.Response;
        response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(response.BodyWriter, WriterOptions);
        w.WriteStartObject();
        w.WriteString("id"u8, id);
        w.WriteString("object"u8, chat ? "chat.completion"u8 : "text_completion"u8);
        w.WriteNumber("created"u8, created);
        w.WriteString("model"u8, state.ModelNameJson);
        w.WriteStartArray("choices"u8);
        for (int i = 0; i < group.Length; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("index"u8, i);
            if (chat)
            {
                w.WriteStartObject("message"u8);
                w.WriteString("role"u8, "assistant"u8);
                if (parsers is not null)
                {
                    var parser = parsers[i];
                    parser.Finish();
                    bool calls = WriteToolCalls(w, i, parser);
                    if (calls) WriteStringOrNull(w, "content"u8, parser.Content);
                    else w.WriteString("content"u8, parser.Content);
                    if (thoughts is not null) WriteStringOrNull(w, "reasoning_content"u8, thoughts[i].WrittenSpan);
                }
                else if (thoughts is null) w.WriteString("content"u8, texts[i].WrittenSpan);
                else
                {
                    WriteStringOrNull(w, "content"u8, texts[i].WrittenSpan);
                    WriteStringOrNull(w, "reasoning_content"u8, thoughts[i].WrittenSpan);
                }
                w.WriteEndObject();
            }
            else w.WriteString("text"u8, texts[i].WrittenSpan);
            if (logged is null) w.WriteNull("logprobs"u8);
            else if (chat) WriteChatLogprobs(w, group[i], logged[i]);
            else WriteLegacyLogprobs(w, group[i], logged[i]);
            SseChunkWriter.WriteFinishReason(w, finish[i], parsers is not null && parsers[i].HasCalls);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        SseChunkWriter.WriteUsageObject(w, usage);
        w.WriteEndObject();
        await w.FlushAsync(ct);
    }

    /// <summary><c>message.tool_calls</c> of choice <paramref name="member"/>; false (nothing written) when it made none.</summary>
    bool WriteToolCalls(Utf8JsonWriter w, int member, ToolCallParser parser)
    {
        var calls = parser.Calls;
        if (calls.Count == 0 || calls[0].Name is null) return false;
        w.WriteStartArray("tool_calls"u8);
        for (int k = 0; k < calls.Count && calls[k].Name is { } name; k++)
        {
            w.WriteStartObject();
            w.WriteString("id"u8, CallId(member, k));
            w.WriteString("type"u8, "function"u8);
            w.WriteStartObject("function"u8);
            w.WriteString("name"u8, name);
            w.WriteString("arguments"u8, calls[k].Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        return true;
    }

    /// <summary>The id of call <paramref name="call"/> of a choice, made on first use: <c>call_</c> and 24 random
    /// alphanumerics, or Mistral's 9.</summary>
    string CallId(int member, int call)
    {
        var ids = callIds![member];
        while (ids.Count <= call)
        {
            bool shortIds = Tools!.Format.ShortIds;
            const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            string random = System.Security.Cryptography.RandomNumberGenerator.GetString(alphabet, shortIds ? 9 : 24);
            ids.Add(shortIds ? random : "call_" + random);
        }
        return ids[call];
    }

    /// <summary>Streams what <paramref name="parser"/> released since the last call: content, then each call's first
    /// delta (once its name is complete) and its new argument bytes.</summary>
    bool WriteToolDeltas(SseChunkWriter sse, int member, ToolCallParser parser, ref int contentSent, List<int> argsSent)
    {
        bool wrote = false;
        var content = parser.Content;
        if (content.Length > contentSent)
        {
            sse.WriteText(member, content[contentSent..]);
            textOffset[member] += Encoding.UTF8.GetCharCount(content[contentSent..]);
            contentSent = content.Length;
            wrote = true;
        }
        var calls = parser.Calls;
        for (int k = 0; k < calls.Count && calls[k].Name is { } name; k++)
        {
            if (k >= argsSent.Count)
            {
                sse.WriteToolCallStart(member, k, CallId(member, k), name);
                argsSent.Add(0);
                wrote = true;
            }
            var args = calls[k].Arguments;
            if (args.Length > argsSent[k])
            {
                sse.WriteToolCallArguments(member, k, args[argsSent[k]..]);
                argsSent[k] = args.Length;
                wrote = true;
            }
        }
        return wrote;
    }

    static void WriteStringOrNull(Utf8JsonWriter w, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    void WriteChatLogprobs(Utf8JsonWriter w, GenerationRequest request, List<LoggedToken> tokens)
    {
        w.WriteStartObject("logprobs"u8);
        w.WriteStartArray("content"u8);
        foreach (var t in tokens)
            LogprobJson.WriteChatEntry(w, engine.Vocabulary, t.TokenId, t.Logprob, request.TopLogprobs(t.Index, t.TopCount));
        w.WriteEndArray();
        w.WriteNull("refusal"u8);
        w.WriteEndObject();
    }

    void WriteLegacyLogprobs(Utf8JsonWriter w, GenerationRequest request, List<LoggedToken> tokens)
    {
        var vocabulary = engine.Vocabulary;
        w.WriteStartObject("logprobs"u8);
        w.WriteStartArray("tokens"u8);
        foreach (var t in tokens) LogprobJson.WriteTokenText(w, vocabulary, t.TokenId);
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs"u8);
        foreach (var t in tokens) w.WriteNumberValue(LogprobJson.Finite(t.Logprob));
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs"u8);
        foreach (var t in tokens) LogprobJson.WriteLegacyTop(w, vocabulary, request.TopLogprobs(t.Index, t.TopCount));
        w.WriteEndArray();
        w.WriteStartArray("text_offset"u8);
        foreach (var t in tokens) w.WriteNumberValue(t.TextOffset);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    async Task StreamAsync(GroupEvents events, bool includeUsage, LogprobsMode logprobs, int topLogprobs, CancellationToken ct)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var pipe = response.BodyWriter;
        var sse = new SseChunkWriter(pipe, chat, JsonEncodedText.Encode(id), created, state.ModelNameJson, includeUsage, engine.Vocabulary);
        if (chat)
            for (int i = 0; i < group.Length; i++) sse.WriteRole(i);
        // Headers and the role reach the client now, before a possibly long prefill.
        await pipe.FlushAsync(ct);
        var contentSent = new int[group.Length];
        var argsSent = new List<int>[group.Length];
        for (int i = 0; i < group.Length; i++) argsSent[i] = [];
        while (firstTokenSeen ? await events.WaitAsync(ct) : await WaitWithKeepAliveAsync(events, sse, ct))
        {
            bool wrote = false;
            while (events.TryRead(out int m, out var ev))
            {
                OnEvent(m, ev);
                if (parsers is not null && !(ev.Reasoning && splitsReasoning))
                {
                    // Tools: the parser decides what is content and what is a call; a token's logprobs go in a chunk
                    // of their own (empty content) before the deltas its text released.
                    var parser = parsers[m];
                    if (ev.Kind is TokenEventKind.Token or TokenEventKind.Text)
                    {
                        if (ev.Kind == TokenEventKind.Token && logprobs != LogprobsMode.None && IsLoggable(ev))
                        {
                            var bare = ev;
                            bare.TextLength = 0;
                            sse.WriteToken(m, bare, logprobs, group[m], topLogprobs, textOffset[m]);
                        }
                        parser.Feed(ev.Kind == TokenEventKind.Token ? ev.TokenId : -1, ev.TextBytes);
                        wrote |= WriteToolDeltas(sse, m, parser, ref contentSent[m], argsSent[m]);
                        continue;
                    }
                    if (ev.Kind == TokenEventKind.Finished && error is null)
                    {
                        parser.Finish();
                        WriteToolDeltas(sse, m, parser, ref contentSent[m], argsSent[m]);
                        sse.WriteFinish(m, ev.Finish, parser.HasCalls);
                        wrote = true;
                        continue;
                    }
                }
                switch (ev.Kind)
                {
                    case TokenEventKind.Token:
                        {
                            var mode = IsLoggable(ev) ? logprobs : LogprobsMode.None;
                            if (ev.TextLength == 0 && mode == LogprobsMode.None) break;
                            sse.WriteToken(m, ev, mode, group[m], topLogprobs, textOffset[m]);
                            textOffset[m] += Encoding.UTF8.GetCharCount(ev.TextBytes);
                            wrote = true;
                            break;
                        }
                    case TokenEventKind.Text:
                        if (ev.TextLength == 0) break;
                        sse.WriteText(m, ev.TextBytes, ev.Reasoning);
                        textOffset[m] += Encoding.UTF8.GetCharCount(ev.TextBytes);
                        wrote = true;
                        break;
                    case TokenEventKind.Finished when error is null:
                        sse.WriteFinish(m, ev.Finish);
                        wrote = true;
                        break;
                }
            }
            if (error is not null)
            {
                CancelAll();
                sse.WriteError(FailureError());
                await pipe.FlushAsync(ct);
                await events.SettleAsync();
                return;
            }
            if (wrote) await pipe.FlushAsync(ct);
        }
        if (includeUsage) sse.WriteUsage(usage);
        sse.WriteDone();
        await pipe.FlushAsync(ct);
    }

    /// <summary>Waits for events, sending a keep-alive comment every <see cref="KeepAliveInterval"/> meanwhile.</summary>
    static async Task<bool> WaitWithKeepAliveAsync(GroupEvents events, SseChunkWriter sse, CancellationToken ct)
    {
        var wait = events.WaitAsync(ct);
        if (wait.IsCompleted) return wait.Result;
        var task = wait.AsTask();
        while (true)
        {
            var delay = Task.Delay(KeepAliveInterval, ct);
            if (await Task.WhenAny(task, delay) == task) return await task;
            ct.ThrowIfCancellationRequested();
            sse.WriteKeepAlive();
            await sse.FlushAsync(ct);
        }
    }
}
