using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OnnxLm.Load.Stats;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Load.Client;

/// <summary>
/// Sends one streaming request and times it: TTFT is from just before the request is sent to the arrival of the first
/// chunk with non-empty text (the chat role chunk does not count), inter-token gaps are between text chunks, E2E ends
/// when the stream ends. Never throws for server or network failures: they become a failed <see cref="RequestResult"/>.
/// </summary>
public sealed class StreamingClient : IDisposable
{
    static readonly MediaTypeHeaderValue JsonType = new("application/json");
    readonly HttpClient http;
    readonly Uri chatUri;
    readonly Uri completionUri;
    readonly RequestOptions options;
    readonly TimeSpan timeout;

    public StreamingClient(Uri baseUri, RequestOptions options, TimeSpan timeout)
        : this(new SocketsHttpHandler
        {
            // One connection per in-flight request; no pool limit so concurrency is what the runner says it is.
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        }, baseUri, options, timeout)
    {
    }

    /// <summary>Over any handler (tests use an in-memory server).</summary>
    internal StreamingClient(HttpMessageHandler handler, Uri baseUri, RequestOptions options, TimeSpan timeout)
    {
        http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        chatUri = new Uri(baseUri, "v1/chat/completions");
        completionUri = new Uri(baseUri, "v1/completions");
        this.options = options;
        this.timeout = timeout;
    }

    public async Task<RequestResult> SendAsync(RequestPlan plan, long runStartTimestamp, CancellationToken ct)
    {
        var result = new RequestResult();
        var body = new ArrayBufferWriter<byte>(4096);
        RequestBodyWriter.Write(body, plan, options);
        using var content = new ReadOnlyMemoryContent(body.WrittenMemory);
        content.Headers.ContentType = JsonType;
        using var request = new HttpRequestMessage(HttpMethod.Post, plan.Kind == EndpointKind.Chat ? chatUri : completionUri) { Content = content };
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        var text = plan.CollectText ? new StringBuilder() : null;

        long start = Stopwatch.GetTimestamp();
        result.StartMs = Stopwatch.GetElapsedTime(runStartTimestamp, start).TotalMilliseconds;
        long lastText = 0;
        int usageTokens = -1;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                string errorBody = await response.Content.ReadAsStringAsync(timeoutCts.Token).ConfigureAwait(false);
                result.Error = $"HTTP {(int)response.StatusCode}: {Truncate(errorBody, 200)}";
                result.E2eMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                return result;
            }
            await using var stream = await response.Content.ReadAsStreamAsync(timeoutCts.Token).ConfigureAwait(false);
            using var sse = new SseReader(stream);
            bool done = false;
            while (await sse.ReadEventAsync(timeoutCts.Token).ConfigureAwait(false))
            {
                long now = Stopwatch.GetTimestamp();
                var data = sse.Data;
                if (data.SequenceEqual("[DONE]"u8))
                {
                    done = true;
                    break;
                }
                if (!StreamChunk.TryParse(data, out var chunk, text))
                {
                    result.Error = "unparseable chunk: " + Truncate(Encoding.UTF8.GetString(data), 120);
                    break;
                }
                if (chunk.Error is not null)
                {
                    result.Error = "stream error: " + chunk.Error;
                    break;
                }
                if (chunk.HasText)
                {
                    if (result.TextChunks == 0) result.TtftMs = Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
                    else result.InterTokenMs.Add(Stopwatch.GetElapsedTime(lastText, now).TotalMilliseconds);
                    lastText = now;
                    result.TextChunks++;
                }
                if (chunk.CompletionTokens >= 0) usageTokens = chunk.CompletionTokens;
                if (chunk.PromptTokens >= 0) result.PromptTokens = chunk.PromptTokens;
                if (chunk.CachedTokens >= 0) result.CachedTokens = chunk.CachedTokens;
            }
            result.E2eMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (result.Error is null && !done) result.Error = "stream ended without [DONE]";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            result.Error = $"timed out after {timeout.TotalSeconds:0} s";
            result.E2eMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            result.Error = e.GetType().Name + ": " + e.Message;
            result.E2eMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        result.UsageReported = usageTokens >= 0;
        result.OutputTokens = usageTokens >= 0 ? usageTokens : result.TextChunks;
        result.Ok = result.Error is null;
        result.Text = text?.ToString();
        return result;
    }

    static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";

    public void Dispose() => http.Dispose();
}
