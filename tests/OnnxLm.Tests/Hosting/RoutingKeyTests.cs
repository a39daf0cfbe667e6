using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Hosting;

/// <summary>
/// What a load balancer in front of several replicas relies on: OpenAI's <c>prompt_cache_key</c> and
/// <c>prompt_cache_retention</c> accepted by both completion endpoints, every response naming the replica that answered
/// (<c>X-Onnxlm-Replica</c>), and the request log saying which replica served which key (as a digest, never the key).
/// </summary>
public sealed class RoutingKeyTests
{
    const string Key = "session-42:alice@example.com";

    static string Digest(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)).AsSpan(0, 8));

    [Test]
    [Arguments(LogFormat.Text)]
    [Arguments(LogFormat.Json)]
    public async Task Both_endpoints_take_the_cache_key_and_every_response_names_the_replica(LogFormat format)
    {
        var log = new LineSink();
        await using var server = await OnnxLmServer.StartAsync(
            new ServeOptions { Model = TestModels.TinyFp32, Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false, ReplicaName = "replica-b", LogFormat = format },
            NullLoggerProvider.Instance, whileLoading: null, log);
        using var client = ServerFixture.CreateClient(server);

        using (var chat = await OpenAiWire.PostAsync(client, "/v1/chat/completions",
                   $$"""{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"prompt_cache_key":{{OpenAiWire.Json(Key)}},"prompt_cache_retention":"24h"}"""))
        {
            await Assert.That((int)chat.StatusCode).IsEqualTo(200);
            await Assert.That(chat.Headers.GetValues("X-Onnxlm-Replica").Single()).IsEqualTo("replica-b");
            string id = (await OpenAiWire.JsonBodyAsync(chat)).GetProperty("id").GetString()!;
            string line = await log.WaitForLineAsync(l => l.Contains(id, StringComparison.Ordinal));
            if (format == LogFormat.Text)
            {
                await Assert.That(line).Contains(" replica=replica-b ");
                await Assert.That(line).Contains(" cache_key=" + Digest(Key) + " ");
            }
            else
            {
                using var doc = JsonDocument.Parse(line);
                await Assert.That(doc.RootElement.GetProperty("replica").GetString()).IsEqualTo("replica-b");
                await Assert.That(doc.RootElement.GetProperty("cache_key").GetString()).IsEqualTo(Digest(Key));
            }
            await Assert.That(line).DoesNotContain("alice");
        }

        using (var text = await OpenAiWire.PostAsync(client, "/v1/completions",
                   """{"prompt":"hi","max_tokens":2,"prompt_cache_key":"k","prompt_cache_retention":"in-memory"}"""))
            await Assert.That((int)text.StatusCode).IsEqualTo(200);

        // Errors and probes name the replica too: a balancer's retry decision sees who refused.
        using (var bad = await OpenAiWire.PostAsync(client, "/v1/completions", """{"prompt":"hi","prompt_cache_retention":"forever"}"""))
        {
            await Assert.That((int)bad.StatusCode).IsEqualTo(400);
            await Assert.That(bad.Headers.GetValues("X-Onnxlm-Replica").Single()).IsEqualTo("replica-b");
            var error = (await OpenAiWire.JsonBodyAsync(bad)).GetProperty("error");
            await Assert.That(error.GetProperty("param").GetString()).IsEqualTo("prompt_cache_retention");
        }
        using var ready = await client.GetAsync("/readyz");
        await Assert.That(ready.Headers.GetValues("X-Onnxlm-Replica").Single()).IsEqualTo("replica-b");
    }

    [Test]
    public async Task Without_a_name_the_replica_is_its_listening_address()
    {
        await using var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        using var health = await client.GetAsync("/health");
        await Assert.That(health.Headers.GetValues("X-Onnxlm-Replica").Single())
            .IsEqualTo($"{server.BaseAddress.Host}:{server.BaseAddress.Port}");
    }
}
