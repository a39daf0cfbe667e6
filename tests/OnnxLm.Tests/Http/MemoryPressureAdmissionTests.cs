using System.Net;
using OnnxLm.Engine.Memory;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Memory;

namespace OnnxLm.Tests.Http;

/// <summary>
/// When the machine runs short of memory, new completions get 503 with Retry-After in OpenAI's error shape, counted in
/// /metrics; requests go through again once memory is back, and a machine with memory to spare refuses nothing. The
/// probe is injected (the gate reads it on every request here: interval 0), so nothing depends on timing.
/// </summary>
public class MemoryPressureAdmissionTests
{
    const string ChatBody = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":2,\"ignore_eos\":true}";

    [Test]
    public async Task Short_memory_gives_503_with_retry_after_and_normal_requests_pass()
    {
        await using OnnxLmServer server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        // The real probe on this machine: memory to spare, the request goes through.
        await Assert.That(server.State.Memory).IsNotNull();
        using (var ok = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", ChatBody)))
            await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);

        var probe = new FixedMemory(16L << 30, 512L << 20);
        server.State.Memory = new MemoryPressure(probe, minAvailableBytes: 1L << 30, intervalMs: 0);
        using (var refused = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", ChatBody)))
        {
            await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
            await Assert.That(refused.Headers.RetryAfter?.Delta).IsEqualTo(TimeSpan.FromSeconds(5));
            var error = (await OpenAiWire.JsonBodyAsync(refused)).GetProperty("error");
            await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("server_error");
            await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("memory_pressure");
            await Assert.That(error.GetProperty("message").GetString()).Contains("512 MiB available, below the 1024 MiB");
        }
        using (var text = await client.SendAsync(OpenAiWire.Post("/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":1}")))
            await Assert.That(text.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        // Probes and the tokenizer are not completions: they still answer.
        using (var ready = await client.GetAsync("/readyz"))
            await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.OK);

        string metrics = await client.GetStringAsync("/metrics");
        await Assert.That(metrics).Contains("reason=\"memory_pressure\"} 2");
        await Assert.That(metrics).Contains("onnxlm:memory_available_bytes{model_name=\"" + server.State.ModelName + "\"} " + (512L << 20));
        await Assert.That(metrics).Contains("onnxlm:memory_reserve_bytes{model_name=\"" + server.State.ModelName + "\"} " + (1L << 30));

        probe.Available = 4L << 30;
        using (var again = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", ChatBody)))
            await Assert.That(again.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(probe.Reads).IsEqualTo(3);   // one read per completion request, none for the others
    }
}
