using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Cli;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Hosting;

/// <summary>
/// The one line per request: its fields in text and JSON format, agreeing with the response's usage; the prompt text is
/// absent unless --log-prompts, and then cut to 2 KB; probes are not logged.
/// </summary>
public class RequestLogTests
{
    const string Secret = "zebra-violet-prompt";

    static Task<OnnxLmServer> StartAsync(LineSink log, LogFormat format, bool logPrompts) =>
        OnnxLmServer.StartAsync(
            new ServeOptions { Model = TestModels.TinyFp32, Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false, LogFormat = format, LogPrompts = logPrompts },
            NullLoggerProvider.Instance, whileLoading: null, log);

    static string ChatBody(string content, int maxTokens = 3) =>
        $"{{\"messages\":[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(content)}}}],\"max_tokens\":{maxTokens},\"ignore_eos\":true}}";

    [Test]
    public async Task Text_line_has_id_endpoint_status_tokens_ttft_rate_and_finish_but_no_prompt()
    {
        var log = new LineSink();
        await using var server = await StartAsync(log, LogFormat.Text, logPrompts: false);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", ChatBody(Secret));
        await Assert.That(status).IsEqualTo(200);
        string id = body.GetProperty("id").GetString()!;
        var usage = body.GetProperty("usage");

        string line = await log.WaitForLineAsync(l => l.Contains(id, StringComparison.Ordinal));
        await Assert.That(line).Contains(" info: request id=" + id + " endpoint=/v1/chat/completions status=200 ");
        await Assert.That(line).Contains($" prompt_tokens={usage.GetProperty("prompt_tokens").GetInt32()} ");
        await Assert.That(line).Contains(" cached_tokens=0 generated_tokens=3 ");
        await Assert.That(line).Matches(@" ttft_ms=\d+\.\d tokens_per_s=\d+\.\d finish=length duration_ms=\d+\.\d$");
        await Assert.That(line).DoesNotContain(Secret);
        await Assert.That(line).DoesNotContain("prompt=");
    }

    [Test]
    [Arguments(LogFormat.Text)]
    [Arguments(LogFormat.Json)]
    public async Task A_reasoning_models_line_counts_its_reasoning_tokens(LogFormat format)
    {
        // Qwen3 with <think> forced first: the thought opens and every token is in it.
        var log = new LineSink();
        await using var server = await OnnxLmServer.StartAsync(
            new ServeOptions { Model = await RealFamilies.Qwen3.ModelAsync(), Host = "127.0.0.1", Port = 0, Threads = 1, SsdCache = false, LogFormat = format },
            NullLoggerProvider.Instance, whileLoading: null, log);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4,\"temperature\":0,\"logit_bias\":{\"151667\":100}}");
        await Assert.That(status).IsEqualTo(200);
        string id = body.GetProperty("id").GetString()!;
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32()).IsEqualTo(4);

        string line = await log.WaitForLineAsync(l => l.Contains(id, StringComparison.Ordinal));
        if (format == LogFormat.Text) await Assert.That(line).Contains(" generated_tokens=4 reasoning_tokens=4 ");
        else
        {
            using var doc = JsonDocument.Parse(line);
            await Assert.That(doc.RootElement.GetProperty("reasoning_tokens").GetInt32()).IsEqualTo(4);
        }
    }

    [Test]
    public async Task Json_line_is_one_object_with_the_same_fields_and_the_prompt_with_log_prompts()
    {
        var log = new LineSink();
        await using var server = await StartAsync(log, LogFormat.Json, logPrompts: true);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", ChatBody(Secret + " \"quoted\"\nnext line", 4));
        await Assert.That(status).IsEqualTo(200);
        string id = body.GetProperty("id").GetString()!;

        string line = await log.WaitForLineAsync(l => l.Contains(id, StringComparison.Ordinal));
        using var doc = JsonDocument.Parse(line);
        var e = doc.RootElement;
        await Assert.That(e.GetProperty("event").GetString()).IsEqualTo("request");
        await Assert.That(e.GetProperty("id").GetString()).IsEqualTo(id);
        await Assert.That(e.GetProperty("endpoint").GetString()).IsEqualTo("/v1/chat/completions");
        await Assert.That(e.GetProperty("status").GetInt32()).IsEqualTo(200);
        await Assert.That(e.GetProperty("prompt_tokens").GetInt32()).IsEqualTo(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        await Assert.That(e.GetProperty("cached_tokens").GetInt32()).IsEqualTo(0);
        await Assert.That(e.GetProperty("generated_tokens").GetInt32()).IsEqualTo(4);
        await Assert.That(e.GetProperty("ttft_ms").GetDouble()).IsGreaterThan(0);
        await Assert.That(e.GetProperty("tokens_per_s").GetDouble()).IsGreaterThan(0);
        await Assert.That(e.GetProperty("finish_reason").GetString()).IsEqualTo("length");
        await Assert.That(e.GetProperty("duration_ms").GetDouble()).IsGreaterThanOrEqualTo(e.GetProperty("ttft_ms").GetDouble());
        // The prompt as the model saw it: the chat template around the user's text, quotes and newline intact.
        string prompt = e.GetProperty("prompt").GetString()!;
        await Assert.That(prompt).Contains(Secret + " \"quoted\"\nnext line");
        await Assert.That(e.TryGetProperty("prompt_truncated", out _)).IsFalse();
    }

    [Test]
    public async Task Json_line_without_log_prompts_has_no_prompt_text()
    {
        var log = new LineSink();
        await using var server = await StartAsync(log, LogFormat.Json, logPrompts: false);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", $"{{\"prompt\":\"{Secret}\",\"max_tokens\":2}}");
        await Assert.That(status).IsEqualTo(200);
        string line = await log.WaitForLineAsync(l => l.Contains(body.GetProperty("id").GetString()!, StringComparison.Ordinal));
        using var doc = JsonDocument.Parse(line);
        await Assert.That(doc.RootElement.GetProperty("endpoint").GetString()).IsEqualTo("/v1/completions");
        await Assert.That(doc.RootElement.TryGetProperty("prompt", out _)).IsFalse();
        await Assert.That(line).DoesNotContain(Secret);
    }

    [Test]
    public async Task A_logged_prompt_is_cut_to_2_KB()
    {
        var log = new LineSink();
        await using var server = await StartAsync(log, LogFormat.Json, logPrompts: true);
        using var client = ServerFixture.CreateClient(server);
        // 2047 ASCII bytes (" with" is one token of the test model: ~410 tokens, within its 512), then a 2-byte
        // character across the 2048-byte mark: the cut must drop the whole character, not half of it.
        string head = string.Concat(Enumerable.Repeat(" with", 409)) + "xy";
        string longPrompt = head + "é and more";
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", $"{{\"prompt\":\"{longPrompt}\",\"max_tokens\":1}}");
        await Assert.That(status).IsEqualTo(200);
        string line = await log.WaitForLineAsync(l => l.Contains(body.GetProperty("id").GetString()!, StringComparison.Ordinal));
        using var doc = JsonDocument.Parse(line);
        await Assert.That(System.Text.Encoding.UTF8.GetByteCount(head)).IsEqualTo(2047);
        await Assert.That(doc.RootElement.GetProperty("prompt").GetString()).IsEqualTo(head);
        await Assert.That(doc.RootElement.GetProperty("prompt_truncated").GetBoolean()).IsTrue();
    }

    [Test]
    public async Task Refused_requests_are_logged_with_their_status_and_probes_are_not()
    {
        var log = new LineSink();
        await using var server = await StartAsync(log, LogFormat.Text, logPrompts: false);
        using var client = ServerFixture.CreateClient(server);
        using (await client.GetAsync("/readyz")) { }
        using (await client.GetAsync("/health")) { }
        var (status, _) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":-1}");
        await Assert.That(status).IsEqualTo(400);
        string line = await log.WaitForLineAsync(l => l.Contains("status=400", StringComparison.Ordinal));
        await Assert.That(line).Contains("endpoint=/v1/completions");
        await Assert.That(line).DoesNotContain("generated_tokens");
        await Assert.That(log.Lines.Any(l => l.Contains("/readyz", StringComparison.Ordinal) || l.Contains("/health", StringComparison.Ordinal))).IsFalse();
    }
}
