using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Cli;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Hosting;

/// <summary>
/// <see cref="OnnxLmServer.StopAsync"/> (what SIGTERM/SIGINT runs): while draining, new work and /readyz get 503 with
/// Retry-After and the running request finishes; past <see cref="ServeOptions.DrainTimeout"/> the running request is
/// cancelled and the server stops within the timeout plus a little. Each test holds the engine with its BeforeRun hook.
/// </summary>
public class DrainTests
{
    static Task<OnnxLmServer> StartAsync(TimeSpan drainTimeout, LineSink? requestLog = null) =>
        OnnxLmServer.StartAsync(
            new ServeOptions { Model = TestModels.TinyFp32, Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false, DrainTimeout = drainTimeout },
            NullLoggerProvider.Instance, whileLoading: null, requestLog);

    [Test]
    public async Task During_the_drain_new_requests_get_503_with_retry_after_and_the_running_one_finishes()
    {
        await using var server = await StartAsync(TimeSpan.FromSeconds(30));
        using var client = ServerFixture.CreateClient(server);
        using var gate = new ManualResetEventSlim(false);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Engine.BeforeRun = _ =>
        {
            held.TrySetResult();
            gate.Wait(TimeSpan.FromSeconds(30));
        };
        try
        {
            var running = OpenAiWire.PostJsonAsync(client, "/v1/completions", "{\"prompt\":\"hello\",\"max_tokens\":4,\"ignore_eos\":true}");
            await held.Task.WaitAsync(TimeSpan.FromSeconds(20));

            var stopping = server.StopAsync();
            while (!server.State.IsDraining) await Task.Delay(5);
            await Assert.That(stopping.IsCompleted).IsFalse();

            using var refused = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
            await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
            await Assert.That(refused.Headers.RetryAfter).IsNotNull();
            using var ready = await client.GetAsync("/readyz");
            await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
            await Assert.That(ready.Headers.RetryAfter).IsNotNull();

            gate.Set();
            var (status, body) = await running.WaitAsync(TimeSpan.FromSeconds(20));
            await Assert.That(status).IsEqualTo(200);
            await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(4);
            await Assert.That(body.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
            await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            gate.Set();
        }
    }

    [Test]
    public async Task Past_the_drain_timeout_the_running_request_is_cancelled_and_the_server_stops_in_time()
    {
        var drainTimeout = TimeSpan.FromSeconds(1);
        var log = new LineSink();
        await using var server = await StartAsync(drainTimeout, log);
        using var client = ServerFixture.CreateClient(server);
        // Every model run takes 20 ms: 500 tokens would need 10 s.
        server.Engine.BeforeRun = _ => Thread.Sleep(20);
        using var response = await OpenAiWire.PostAsync(client, "/v1/completions",
            "{\"prompt\":\"hello\",\"max_tokens\":500,\"ignore_eos\":true,\"stream\":true}");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string first = (await reader.ReadLineAsync(timeout.Token))!;   // the first token is out: generation is running
        await Assert.That(first).StartsWith("data: ");

        var clock = Stopwatch.StartNew();
        await server.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var stoppedAfter = clock.Elapsed;
        await Assert.That(stoppedAfter).IsGreaterThanOrEqualTo(drainTimeout - TimeSpan.FromMilliseconds(50));
        await Assert.That(stoppedAfter).IsLessThan(drainTimeout + TimeSpan.FromSeconds(4));

        // The stream ended cleanly, well short of its 500 tokens, and its log line says it was cancelled.
        string rest = await reader.ReadToEndAsync(timeout.Token);
        var events = OpenAiWire.DataEvents(first + "\n" + rest);
        await Assert.That(events[^1]).IsEqualTo("[DONE]");
        await Assert.That(events.Count).IsLessThan(400);
        string line = await log.WaitForLineAsync(l => l.Contains("endpoint=/v1/completions", StringComparison.Ordinal));
        await Assert.That(line).Contains("finish=cancelled");
    }
}
