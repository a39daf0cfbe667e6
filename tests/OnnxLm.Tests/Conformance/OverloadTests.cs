using System.Net;
using System.Text.Json;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Overload: 4 × <c>--max-queue</c> concurrent streaming requests against a small server (<c>--max-queue 4
/// --max-batch-size 2</c>). Each must get either a complete stream ending in <c>data: [DONE]</c> or an immediate 429 with
/// Retry-After; nothing may hang (every exchange has a timeout) and no engine row may stay owned afterwards.
/// </summary>
public class OverloadTests
{
    const int MaxQueue = 4, MaxBatch = 2, Clients = 4 * MaxQueue, MaxTokens = 24;
    static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    static Task<OnnxLmServer> StartAsync() =>
        ServerFixture.StartDedicatedAsync(o => { o.MaxQueue = MaxQueue; o.MaxBatchSize = MaxBatch; });

    static string Body(int i, bool stream) =>
        $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"client {i}\"}}],\"max_tokens\":{MaxTokens},\"temperature\":0,\"ignore_eos\":true," +
        $"\"stream\":{(stream ? "true,\"stream_options\":{\"include_usage\":true}" : "false")}}}";

    /// <summary>Checks a refusal: 429, Retry-After of at least a second, OpenAI error JSON with code rate_limit_exceeded.</summary>
    static async Task AssertRateLimited(HttpResponseMessage response)
    {
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0).IsGreaterThanOrEqualTo(1);
        var error = (await OpenAiWire.JsonBodyAsync(response)).GetProperty("error");
        await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("rate_limit_exceeded");
    }

    /// <summary>Checks a complete stream: well-formed events, MaxTokens of text, finish_reason length, usage, then [DONE].</summary>
    static async Task AssertCompleteStream(string wire)
    {
        await Assert.That(wire).EndsWith("\n\ndata: [DONE]\n\n");
        var events = OpenAiWire.DataEvents(wire);
        var usage = JsonDocument.Parse(events[^2]).RootElement.GetProperty("usage");
        await Assert.That(usage.GetProperty("completion_tokens").GetInt32()).IsEqualTo(MaxTokens);
        string finish = JsonDocument.Parse(events[^3]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;
        await Assert.That(finish).IsEqualTo("length");
    }

    [Test]
    public async Task Burst_against_a_held_engine_admits_at_most_queue_plus_rows_and_refuses_the_rest_with_429()
    {
        await using var server = await StartAsync();
        using var client = ServerFixture.CreateClient(server);
        using var gate = new ManualResetEventSlim(false);
        // Nothing runs until the gate opens, so admission alone decides who gets in: at least the queue, at most queue + rows.
        server.Engine.BeforeRun = _ => gate.Wait();
        HttpResponseMessage[] responses = [];
        try
        {
            using var cts = new CancellationTokenSource(HangGuard);
            responses = await Task.WhenAll(Enumerable.Range(0, Clients).Select(i =>
                client.SendAsync(OpenAiWire.Post("/v1/chat/completions", Body(i, stream: true)), HttpCompletionOption.ResponseHeadersRead, cts.Token)));
            var admitted = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
            var refused = responses.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
            await Assert.That(admitted.Count).IsBetween(MaxQueue, MaxQueue + MaxBatch);
            await Assert.That(admitted.Count + refused.Count).IsEqualTo(Clients);
            await Assert.That(server.RateLimitedResponses).IsEqualTo(refused.Count);
            foreach (var r in refused) await AssertRateLimited(r);

            gate.Set();
            foreach (var r in admitted) await AssertCompleteStream(await r.Content.ReadAsStringAsync(cts.Token));
        }
        finally
        {
            gate.Set();
            foreach (var r in responses) r.Dispose();
        }
        await EngineIdle.WaitAsync(server.Engine, "every admitted stream finished");
    }

    [Test]
    public async Task Free_running_burst_of_streams_and_plain_requests_each_completes_or_gets_429_and_leaks_no_row()
    {
        await using var server = await StartAsync();
        using var client = ServerFixture.CreateClient(server);
        // A little slower than bare metal so requests overlap and the queue really fills.
        server.Engine.BeforeRun = _ => Thread.Sleep(2);
        using var cts = new CancellationTokenSource(HangGuard);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
        {
            bool stream = i % 4 != 3;
            using var response = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", Body(i, stream)), HttpCompletionOption.ResponseHeadersRead, cts.Token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                await AssertRateLimited(response);
                return 429;
            }
            await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
            string body = await response.Content.ReadAsStringAsync(cts.Token);
            if (stream) await AssertCompleteStream(body);
            else
            {
                using var doc = JsonDocument.Parse(body);
                await Assert.That(doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(MaxTokens);
            }
            return 200;
        }));
        await Assert.That(outcomes.Count(o => o == 200)).IsGreaterThanOrEqualTo(MaxQueue);
        await Assert.That(outcomes.Count(o => o == 429)).IsEqualTo((int)server.RateLimitedResponses);
        await EngineIdle.WaitAsync(server.Engine, "the burst is over");

        // The server is not worse for it: a request now is admitted and completes.
        var (status, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body(99, stream: false));
        await Assert.That(status).IsEqualTo(200);
    }

    [Test]
    public async Task Burst_where_half_the_admitted_clients_leave_mid_stream_leaves_no_row_owned()
    {
        await using var server = await StartAsync();
        using var client = ServerFixture.CreateClient(server, drainOnDispose: false);
        server.Engine.BeforeRun = _ => Thread.Sleep(5);
        using var cts = new CancellationTokenSource(HangGuard);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
        {
            var response = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", Body(i, stream: true)), HttpCompletionOption.ResponseHeadersRead, cts.Token);
            using (response)
            {
                if (response.StatusCode == HttpStatusCode.TooManyRequests) return "429";
                if (i % 2 == 0) return "left";   // disposing unread closes the connection
                await AssertCompleteStream(await response.Content.ReadAsStringAsync(cts.Token));
                return "done";
            }
        }));
        await Assert.That(outcomes.Count(o => o != "429")).IsGreaterThanOrEqualTo(MaxQueue);
        await EngineIdle.WaitAsync(server.Engine, "finished and abandoned streams");
        var (status, _) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body(99, stream: false));
        await Assert.That(status).IsEqualTo(200);
    }
}
