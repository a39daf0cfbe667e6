using System.Net;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Admission, cancellation and concurrency through real HTTP: a full queue answers 429 with Retry-After, a client that goes
/// away frees its engine row, many concurrent streams all finish, and stopping drains in-flight streams. Tests that
/// steer the engine (<see cref="InferenceEngine.BeforeRun"/>) use a server of their own.
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class ServerLoadTests(ServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";

    static string StreamingChat(string user, int maxTokens) =>
        $"{{\"messages\":[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(user)}}}],\"max_tokens\":{maxTokens},\"temperature\":0,\"ignore_eos\":true,\"stream\":true}}";

    static async Task WaitUntil(Func<bool> condition, string what, int timeoutMs = 30_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting until " + what);
            await Task.Delay(2);
        }
    }

    static bool RowsFree(InferenceEngine engine) => engine.RowOwners().All(o => o == 0);

    [Test]
    public async Task Full_queue_answers_429_with_retry_after_and_recovers()
    {
        await using var server = await ServerFixture.StartDedicatedAsync(o => { o.MaxBatchSize = 1; o.MaxQueue = 1; });
        using var client = ServerFixture.CreateClient(server);
        var engine = server.Engine;
        using var gate = new ManualResetEventSlim(false);
        // The engine blocks before every model run until the gate opens: the first request holds the only row, the
        // second waits in the queue, so the queue is deterministically full for the third.
        engine.BeforeRun = _ => gate.Wait();
        try
        {
            using var first = await OpenAiWire.PostAsync(client, Chat, StreamingChat("first", 200));
            await Assert.That(first.StatusCode).IsEqualTo(HttpStatusCode.OK);
            await WaitUntil(() => engine.WaitingRequests == 0 && !RowsFree(engine), "the first request holds the row");
            using var second = await OpenAiWire.PostAsync(client, Chat, StreamingChat("second", 200));
            await Assert.That(second.StatusCode).IsEqualTo(HttpStatusCode.OK);
            await Assert.That(engine.WaitingRequests).IsEqualTo(1);

            using var third = await OpenAiWire.PostAsync(client, Chat, StreamingChat("third", 5));
            await Assert.That(third.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
            await Assert.That(third.Headers.RetryAfter?.Delta).IsNotNull();
            await Assert.That(third.Headers.RetryAfter!.Delta!.Value.TotalSeconds).IsGreaterThanOrEqualTo(1);
            var error = (await OpenAiWire.JsonBodyAsync(third)).GetProperty("error");
            await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("rate_limit_exceeded");

            gate.Set();
            foreach (var response in new[] { first, second })
            {
                string wire = await response.Content.ReadAsStringAsync();
                await Assert.That(wire).EndsWith("data: [DONE]\n\n");
            }
        }
        finally
        {
            gate.Set();
        }
        await WaitUntil(() => engine.ActiveSequences == 0 && engine.WaitingRequests == 0 && RowsFree(engine), "every row is free");
        var (status, _) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", "{\"prompt\":\"again\",\"max_tokens\":3}");
        await Assert.That(status).IsEqualTo(200);
    }

    public enum Disconnect { DisposeResponse, CancelRead, CancelNonStream }

    [Test]
    [Arguments(Disconnect.DisposeResponse)]
    [Arguments(Disconnect.CancelRead)]
    [Arguments(Disconnect.CancelNonStream)]
    public async Task Client_going_away_cancels_the_sequence_and_frees_its_row(Disconnect how)
    {
        const int maxTokens = 450;
        await using var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server, drainOnDispose: false);
        var engine = server.Engine;
        // Slow every model run so an uncancelled request would need well over a second to finish on its own.
        engine.BeforeRun = _ => Thread.Sleep(3);

        if (how == Disconnect.CancelNonStream)
        {
            using var cts = new CancellationTokenSource();
            string body = StreamingChat("tell a long story", maxTokens).Replace(",\"stream\":true", "", StringComparison.Ordinal);
            var pending = OpenAiWire.PostAsync(client, Chat, body, cts.Token);
            await WaitUntil(() => engine.GeneratedTokensTotal >= 3, "generation started");
            await cts.CancelAsync();
            await Assert.That(async () => await pending).Throws<OperationCanceledException>();
        }
        else
        {
            using var cts = new CancellationTokenSource();
            var response = await OpenAiWire.PostAsync(client, Chat, StreamingChat("tell a long story", maxTokens));
            var stream = await response.Content.ReadAsStreamAsync();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            int events = 0;
            while (events < 4 && await reader.ReadLineAsync() is { } line)
                if (line.StartsWith("data: ", StringComparison.Ordinal)) events++;
            await Assert.That(events).IsEqualTo(4);
            if (how == Disconnect.DisposeResponse)
            {
                response.Dispose();
            }
            else
            {
                var read = reader.ReadToEndAsync(cts.Token);
                await cts.CancelAsync();
                await Assert.That(async () => await read).Throws<OperationCanceledException>();
                response.Dispose();
            }
        }

        // Generous hang guard, not a timing assertion.
        await WaitUntil(() => engine.ActiveSequences == 0 && engine.WaitingRequests == 0 && RowsFree(engine), "the row is freed");
        // The sequence was cut short, not run to its max_tokens.
        await Assert.That(engine.GeneratedTokensTotal).IsLessThan(maxTokens);
    }

    [Test]
    public async Task Eight_concurrent_streams_all_finish_with_done_and_match_their_single_runs()
    {
        var client = fixture.Client;
        var prompts = Enumerable.Range(0, 8).Select(i => $"Request number {i}: {new string((char)('a' + i), i + 1)}").ToArray();
        var wires = await Task.WhenAll(prompts.Select(async (p, i) =>
        {
            using var response = await OpenAiWire.PostAsync(client, Chat, StreamingChat(p, 16 + 2 * i));
            return await response.Content.ReadAsStringAsync();
        }));
        for (int i = 0; i < wires.Length; i++)
        {
            await Assert.That(wires[i]).EndsWith("\n\ndata: [DONE]\n\n");
            var events = OpenAiWire.DataEvents(wires[i]);
            await Assert.That(events.Count(e => e == "[DONE]")).IsEqualTo(1);
            var content = new StringBuilder();
            int tokens = 0;
            foreach (var e in events[..^1])
            {
                var choice = JsonDocument.Parse(e).RootElement.GetProperty("choices")[0];
                if (choice.GetProperty("delta").TryGetProperty("content", out var piece)) content.Append(piece.GetString());
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                    await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("length");
                tokens++;
            }
            // Batched greedy decoding gives what the same request gives alone.
            var (_, single) = await OpenAiWire.PostJsonAsync(client, Chat, StreamingChat(prompts[i], 16 + 2 * i).Replace(",\"stream\":true", "", StringComparison.Ordinal));
            await Assert.That(content.ToString()).IsEqualTo(single.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }
    }

    [Test]
    public async Task Stop_drains_an_in_flight_stream_to_done_then_stops_the_engine()
    {
        var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        server.Engine.BeforeRun = _ => Thread.Sleep(2);
        using var response = await OpenAiWire.PostAsync(client, Chat, StreamingChat("keep going", 150));
        var body = response.Content.ReadAsStringAsync();
        await WaitUntil(() => server.Engine.GeneratedTokensTotal >= 2, "generation started");
        var stopping = server.StopAsync();
        string wire = await body;
        await stopping;
        await Assert.That(wire).EndsWith("data: [DONE]\n\n");
        await Assert.That(wire).Contains("\"finish_reason\":\"length\"");
        // Stopped means stopped: nothing listens any more, and a second stop is harmless.
        await Assert.That(async () => await client.GetAsync("/health")).Throws<HttpRequestException>();
        await server.StopAsync();
    }

    [Test]
    public async Task Server_on_port_zero_reports_its_real_loopback_address()
    {
        await Assert.That(fixture.Server.BaseAddress.Host).IsEqualTo("127.0.0.1");
        await Assert.That(fixture.Server.BaseAddress.Port).IsGreaterThan(0);
        await Assert.That(fixture.Server.BaseAddress.Scheme).IsEqualTo("http");
    }

    [Test]
    public async Task Starting_on_a_port_in_use_is_a_start_error_naming_the_address()
    {
        int port = fixture.Server.BaseAddress.Port;
        var start = ServerFixture.StartDedicatedAsync(o => o.Port = port);
        var e = await Assert.That(async () => await start).Throws<ServerStartException>();
        await Assert.That(e!.Message).Contains($"127.0.0.1:{port}");
    }
}
