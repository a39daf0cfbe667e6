using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// The npm <c>openai</c> client (7.x), driven by <c>tests/node/conformance.mjs</c>: chat and text completions, streaming
/// with <c>include_usage</c>, errors as its error classes, an abort mid-stream (then the engine must free the row), and
/// its retry of 429 (the server must see every retry, spaced by Retry-After).
/// </summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class NodeClientTests(ConformanceServerFixture fixture)
{
    [Test]
    public async Task Node_client_chat_completions_streaming_usage_and_errors_pass_the_script_checks()
    {
        var run = await NodeScript.RunAsync(fixture.Server.BaseAddress, "basic");
        await Assert.That(run.Stdout).Contains("basic: ");
        await Assert.That(run.Stdout).Contains("checks passed");
    }

    [Test]
    [Arguments("abort-signal")]
    [Arguments("abort-break")]
    public async Task Node_abort_mid_stream_cancels_the_sequence_and_frees_the_row(string scenario)
    {
        await using var server = await ServerFixture.StartDedicatedAsync();
        // ~10 ms per step: the 450-token request would run for seconds if the abort did not reach the engine.
        server.Engine.BeforeRun = _ => Thread.Sleep(10);
        var run = await NodeScript.RunAsync(server.BaseAddress, scenario);
        await Assert.That(run.Result.GetProperty("received").GetInt32()).IsEqualTo(4);
        await EngineIdle.WaitAsync(server.Engine, "the node client aborted");
        await Assert.That(server.Engine.GeneratedTokensTotal).IsLessThan(450);
    }

    static List<(int Status, long Started)> Attempts(JsonElement result) =>
        [.. result.GetProperty("attempts").EnumerateArray().Select(a => (a.GetProperty("status").GetInt32(), a.GetProperty("started").GetInt64()))];

    [Test]
    public async Task Node_client_retries_429_twice_honouring_retry_after_then_raises_RateLimitError()
    {
        await using var full = await FullQueueServer.StartAsync();
        long before = full.Server.RateLimitedResponses;
        var run = await NodeScript.RunAsync(full.Server.BaseAddress, "rate-limit");

        await Assert.That(run.Result.GetProperty("outcome").GetString()).IsEqualTo("RateLimitError");
        var attempts = Attempts(run.Result);
        // maxRetries 2: the first attempt and two retries, every one refused, and the server counted each.
        await Assert.That(attempts.Select(a => a.Status).ToArray()).IsEquivalentTo(new[] { 429, 429, 429 });
        await Assert.That(full.Server.RateLimitedResponses - before).IsEqualTo(3);
        // Retry-After: 1 is honoured (the client's own backoff would start at 0.5 s).
        for (int i = 1; i < attempts.Count; i++)
            await Assert.That(attempts[i].Started - attempts[i - 1].Started).IsGreaterThanOrEqualTo(900);
        await Assert.That(full.Server.Engine.WaitingRequests).IsEqualTo(1);
    }

    [Test]
    public async Task Node_client_retry_succeeds_once_the_queue_drains()
    {
        await using var full = await FullQueueServer.StartAsync();
        var running = NodeScript.RunAsync(full.Server.BaseAddress, "rate-limit");
        // Drain only after the server refused once, so success can only come from a retry.
        await EngineIdle.UntilAsync(() => full.Server.RateLimitedResponses >= 1 || running.IsCompleted, "the first attempt is refused");
        full.Release();
        var run = await running;

        await Assert.That(run.Result.GetProperty("outcome").GetString()).IsEqualTo("ok");
        var attempts = Attempts(run.Result);
        await Assert.That(attempts.Count).IsGreaterThanOrEqualTo(2);
        await Assert.That(attempts[^1].Status).IsEqualTo(200);
        await Assert.That(attempts.Take(attempts.Count - 1).All(a => a.Status == 429)).IsTrue();
        await Assert.That(full.Server.RateLimitedResponses).IsEqualTo(attempts.Count - 1);
        await EngineIdle.WaitAsync(full.Server.Engine, "every request finished");
    }
}
