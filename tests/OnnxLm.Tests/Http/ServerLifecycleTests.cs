using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Cli;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Readiness and liveness across the server's life (loading, serving, draining) and keep-alive comments on a stream
/// whose first token is held back. Each test uses a server of its own.
/// </summary>
public class ServerLifecycleTests
{
    const string ChatBody = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":3,\"ignore_eos\":true,\"stream\":true}";

    [Test]
    public async Task While_loading_livez_is_200_and_readyz_and_completions_are_503_with_retry_after()
    {
        var options = new ServeOptions { Model = TestModels.TinyFp32, Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false };
        var seen = new List<(string What, HttpStatusCode Status, bool RetryAfter)>();
        await using var server = await OnnxLmServer.StartAsync(options, NullLoggerProvider.Instance, async address =>
        {
            using var http = new HttpClient { BaseAddress = address };
            foreach (string path in new[] { "/livez", "/readyz" })
            {
                using var r = await http.GetAsync(path);
                seen.Add((path, r.StatusCode, r.Headers.RetryAfter is not null));
            }
            using var chat = await http.SendAsync(OpenAiWire.Post("/v1/chat/completions", ChatBody));
            seen.Add(("chat", chat.StatusCode, chat.Headers.RetryAfter is not null));
        });
        await Assert.That(seen[0]).IsEqualTo(("/livez", HttpStatusCode.OK, false));
        await Assert.That(seen[1]).IsEqualTo(("/readyz", HttpStatusCode.ServiceUnavailable, true));
        await Assert.That(seen[2]).IsEqualTo(("chat", HttpStatusCode.ServiceUnavailable, true));

        using var client = ServerFixture.CreateClient(server);
        using var ready = await client.GetAsync("/readyz");
        await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task While_draining_new_work_and_readyz_get_503_and_livez_stays_200()
    {
        await using var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        server.State.BeginDraining();

        using var ready = await client.GetAsync("/readyz");
        await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(ready.Headers.RetryAfter).IsNotNull();
        using var live = await client.GetAsync("/livez");
        await Assert.That(live.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using var chat = await client.SendAsync(OpenAiWire.Post("/v1/chat/completions", ChatBody));
        await Assert.That(chat.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(chat.Headers.RetryAfter).IsNotNull();
        var error = (await OpenAiWire.JsonBodyAsync(chat)).GetProperty("error");
        await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("unavailable");
    }

    [Test]
    public async Task Held_prefill_sends_keep_alive_comments_before_the_first_token()
    {
        await using var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        using var gate = new ManualResetEventSlim(false);
        server.Engine.BeforeRun = prefill => gate.Wait(TimeSpan.FromSeconds(30));
        try
        {
            using var response = await OpenAiWire.PostAsync(client, "/v1/chat/completions", ChatBody);
            await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
            var lines = new List<string>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (line == ": keep-alive") break;
            }
            await Assert.That(lines).Contains(": keep-alive");
            // Before the first token only the role chunk has been sent.
            await Assert.That(lines.Count(l => l.StartsWith("data: ", StringComparison.Ordinal))).IsEqualTo(1);
            gate.Set();
            string rest = await reader.ReadToEndAsync(timeout.Token);
            await Assert.That(rest).EndsWith("data: [DONE]\n\n");
            var events = OpenAiWire.DataEvents(string.Join("\n", lines) + "\n" + rest);
            await Assert.That(events[^1]).IsEqualTo("[DONE]");
        }
        finally
        {
            gate.Set();
            server.Engine.BeforeRun = null;
        }
    }

    [Test]
    public async Task Model_failure_mid_stream_is_an_sse_error_event_without_done_or_details()
    {
        await using var server = await ServerFixture.StartDedicatedAsync();
        using var client = ServerFixture.CreateClient(server);
        // Prefill (and its first token) succeed; the first decode step fails.
        server.Engine.BeforeRun = prefill =>
        {
            if (!prefill) throw new InvalidOperationException("secret-internal-detail");
        };
        using var response = await OpenAiWire.PostAsync(client, "/v1/chat/completions", ChatBody.Replace("\"max_tokens\":3", "\"max_tokens\":8", StringComparison.Ordinal));
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        string wire = await response.Content.ReadAsStringAsync();
        var events = OpenAiWire.DataEvents(wire);
        await Assert.That(events).DoesNotContain("[DONE]");
        var error = System.Text.Json.JsonDocument.Parse(events[^1]).RootElement.GetProperty("error");
        await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("server_error");
        await Assert.That(wire).DoesNotContain("secret-internal-detail");
        server.Engine.BeforeRun = null;
        // The server keeps serving.
        var (status, _) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", "{\"prompt\":\"again\",\"max_tokens\":2}");
        await Assert.That(status).IsEqualTo(200);
    }
}
