using System.Net;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Tests.Load;

/// <summary>
/// An in-memory OpenAI streaming endpoint for the load generator's tests: answers each request with <c>tokens</c> chat
/// chunks ("t0 ", "t1 ", …) after a role chunk, a finish chunk, a usage chunk and [DONE]; or with <c>failStatus</c>.
/// Records request bodies and the highest number of requests in flight at once.
/// </summary>
public sealed class FakeStreamingServer(int tokens, int delayMs = 5, HttpStatusCode? failStatus = null) : HttpMessageHandler
{
    int inFlight;
    int maxInFlight;
    readonly List<string> bodies = [];

    public int MaxInFlight => Volatile.Read(ref maxInFlight);

    public IReadOnlyList<string> Bodies
    {
        get { lock (bodies) return bodies.ToArray(); }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        string body = await request.Content!.ReadAsStringAsync(ct);
        lock (bodies) bodies.Add(body);
        int now = Interlocked.Increment(ref inFlight);
        int seen;
        while ((seen = Volatile.Read(ref maxInFlight)) < now && Interlocked.CompareExchange(ref maxInFlight, now, seen) != seen) { }
        try
        {
            await Task.Delay(delayMs, ct);
            if (failStatus is { } status)
                return new HttpResponseMessage(status) { Content = new StringContent("{\"error\":{\"message\":\"busy\"}}") };
            int prompt = JsonDocument.Parse(body).RootElement.GetProperty("messages").GetArrayLength();
            var sse = new StringBuilder();
            sse.Append("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
            for (int i = 0; i < tokens; i++)
                sse.Append("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t").Append(i).Append(" \"},\"finish_reason\":null}],\"usage\":null}\n\n");
            sse.Append("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\n\n");
            sse.Append("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":").Append(prompt)
               .Append(",\"completion_tokens\":").Append(tokens).Append(",\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n");
            sse.Append("data: [DONE]\n\n");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(sse.ToString(), Encoding.UTF8, "text/event-stream") };
        }
        finally
        {
            Interlocked.Decrement(ref inFlight);
        }
    }
}
