using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Http;

/// <summary>
/// Writes one line per request, as text (<c>key=value</c> pairs) or as one JSON object, into a byte sink (stdout for the
/// CLI). A line is formatted into one reused buffer with UTF-8 interpolation and a reused <see cref="Utf8JsonWriter"/>
/// and written with one call, so lines from concurrent requests never interleave and a line allocates nothing beyond
/// its entry. Prompt text appears only when the entry carries it (<c>--log-prompts</c>). Invariant: the buffer and the
/// writer are touched only under <see cref="gate"/>.
/// </summary>
internal sealed class RequestLog
{
    /// <summary>Most prompt bytes a line carries (--log-prompts); the rest is cut at a character boundary.</summary>
    public const int MaxPromptBytes = 2048;

    readonly bool jsonLines;
    string replica = "";
    readonly Stream sink;
    readonly Lock gate = new();
    readonly ArrayBufferWriter<byte> buffer = new(4096);
    readonly ArrayBufferWriter<byte> finishText = new(64);
    readonly Utf8JsonWriter json;

    /// <param name="jsonLines">One JSON object per line (for log shippers); false: human-readable text.</param>
    public RequestLog(bool jsonLines, Stream sink)
    {
        this.jsonLines = jsonLines;
        this.sink = sink;
        // Relaxed escaping keeps non-ASCII prompt text readable; quotes, backslashes and control characters are still escaped.
        json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>The replica's name (<c>--replica-name</c>, else host:port once listening), on every line.</summary>
    public string Replica { get => replica; set => replica = value ?? ""; }

    /// <summary>A log that discards everything (tests that do not look at it).</summary>
    public static RequestLog Null { get; } = new(jsonLines: false, Stream.Null);

    public void Write(RequestLogEntry e, string fallbackId)
    {
        if (sink == Stream.Null) return;
        lock (gate)
        {
            buffer.ResetWrittenCount();
            if (jsonLines) WriteJson(e, fallbackId);
            else WriteText(e, fallbackId);
            try
            {
                sink.Write(buffer.WrittenSpan);
                sink.Flush();
            }
            catch (Exception x) when (x is IOException or ObjectDisposedException)
            {
                // stdout closed or full-and-broken: losing a log line must not fail the request.
            }
        }
    }

    void WriteText(RequestLogEntry e, string fallbackId)
    {
        var c = CultureInfo.InvariantCulture;
        string id = e.Id ?? fallbackId;
        // UTF-8 interpolation straight into the buffer; the span is sized for the longest line these parts can make.
        var span = buffer.GetSpan(256 + 3 * (id.Length + e.Endpoint.Length + replica.Length));
        if (Utf8.TryWrite(span, c, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fff}Z info: request id={id} endpoint={e.Endpoint} status={e.Status}", out int n))
            buffer.Advance(n);
        span = buffer.GetSpan(64 + 3 * replica.Length);
        if (replica.Length > 0 && Utf8.TryWrite(span, c, $" replica={replica}", out n)) buffer.Advance(n);
        span = buffer.GetSpan(64);
        if (e.CacheKey is { } key && Utf8.TryWrite(span, c, $" cache_key={key}", out n)) buffer.Advance(n);
        if (e.Generated)
        {
            span = buffer.GetSpan(256);
            if (Utf8.TryWrite(span, c, $" prompt_tokens={e.PromptTokens} cached_tokens={e.CachedTokens} generated_tokens={e.CompletionTokens}", out n))
                buffer.Advance(n);
            span = buffer.GetSpan(64);
            if (e.ReasoningTokens > 0 && Utf8.TryWrite(span, c, $" reasoning_tokens={e.ReasoningTokens}", out n)) buffer.Advance(n);
            span = buffer.GetSpan(128);
            if (e.FirstToken != 0 && Utf8.TryWrite(span, c, $" ttft_ms={RequestLogEntry.Milliseconds(e.Arrival, e.FirstToken):0.0}", out n))
                buffer.Advance(n);
            span = buffer.GetSpan(128);
            if (e.TokensPerSecond is { } rate && Utf8.TryWrite(span, c, $" tokens_per_s={rate:0.0}", out n)) buffer.Advance(n);
            Append(" finish="u8);
            WriteFinish(e, buffer);
        }
        span = buffer.GetSpan(128);
        if (Utf8.TryWrite(span, c, $" duration_ms={RequestLogEntry.Milliseconds(e.Arrival, e.End):0.0}", out n)) buffer.Advance(n);
        if (e.Prompt is { } prompt)
        {
            Append(" prompt="u8);
            json.Reset(buffer);
            json.WriteStringValue(prompt);   // a JSON string: quotes and newlines escaped, so the line stays one line
            json.Flush();
            if (e.PromptTruncated) Append(" prompt_truncated=true"u8);
        }
        Append("\n"u8);
    }

    void WriteJson(RequestLogEntry e, string fallbackId)
    {
        var w = json;
        w.Reset(buffer);
        w.WriteStartObject();
        // The first fields mirror the JSON console logger's, so one log shipper config reads both kinds of line.
        Span<char> time = stackalloc char[32];
        DateTime.UtcNow.TryFormat(time, out int length, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        w.WriteString("Timestamp"u8, time[..length]);
        w.WriteNumber("EventId"u8, 0);
        w.WriteString("LogLevel"u8, "Information"u8);
        w.WriteString("Category"u8, "onnxlm.request"u8);
        w.WriteString("event"u8, "request"u8);
        w.WriteString("id"u8, e.Id ?? fallbackId);
        w.WriteString("endpoint"u8, e.Endpoint);
        w.WriteNumber("status"u8, e.Status);
        if (replica.Length > 0) w.WriteString("replica"u8, replica);
        if (e.CacheKey is { } key) w.WriteString("cache_key"u8, key);
        if (e.Generated)
        {
            w.WriteNumber("prompt_tokens"u8, e.PromptTokens);
            w.WriteNumber("cached_tokens"u8, e.CachedTokens);
            w.WriteNumber("generated_tokens"u8, e.CompletionTokens);
            if (e.ReasoningTokens > 0) w.WriteNumber("reasoning_tokens"u8, e.ReasoningTokens);
            if (e.FirstToken != 0) w.WriteNumber("ttft_ms"u8, Math.Round(RequestLogEntry.Milliseconds(e.Arrival, e.FirstToken), 3));
            if (e.TokensPerSecond is { } rate) w.WriteNumber("tokens_per_s"u8, Math.Round(rate, 1));
            // Formatted aside into a reused scratch buffer: the writer cannot build one string value from parts.
            finishText.ResetWrittenCount();
            WriteFinish(e, finishText);
            w.WriteString("finish_reason"u8, finishText.WrittenSpan);
        }
        w.WriteNumber("duration_ms"u8, Math.Round(RequestLogEntry.Milliseconds(e.Arrival, e.End), 3));
        if (e.Prompt is { } prompt)
        {
            w.WriteString("prompt"u8, prompt);
            if (e.PromptTruncated) w.WriteBoolean("prompt_truncated"u8, true);
        }
        w.WriteEndObject();
        w.Flush();
        Append("\n"u8);
    }

    /// <summary>The choices' finish reasons, comma-separated ("stop", "length,stop").</summary>
    static void WriteFinish(RequestLogEntry e, ArrayBufferWriter<byte> target)
    {
        var finish = e.Finish;
        for (int i = 0; i < finish.Length; i++)
        {
            if (i > 0) target.Write(","u8);
            target.Write(finish[i] switch
            {
                FinishReason.Stop => "stop"u8,
                FinishReason.Length => "length"u8,
                FinishReason.Cancelled => "cancelled"u8,
                _ => e.Failed ? "error"u8 : "none"u8,
            });
        }
    }

    void Append(ReadOnlySpan<byte> bytes) => buffer.Write(bytes);
}
