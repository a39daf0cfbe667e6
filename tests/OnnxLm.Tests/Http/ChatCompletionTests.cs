using System.Net;
using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// POST /v1/chat/completions against a real server: the response shape, usage counts checked against GenAI's template and
/// tokenizer, greedy determinism through the whole stack (HTTP text == engine text), the SSE framing clients parse, and
/// stop strings cut on the wire.
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class ChatCompletionTests(ServerFixture fixture)
{
    const string Path = "/v1/chat/completions";

    static string Messages(string user) => $"[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(user)}}}]";

    static string Body(string user, int maxTokens, string extra = "") =>
        $"{{\"messages\":{Messages(user)},\"max_tokens\":{maxTokens},\"temperature\":0{extra}}}";

    /// <summary>The prompt tokens GenAI produces for a single user message (template, then encode).</summary>
    int[] OraclePrompt(string user) =>
        Oracle.Encode(fixture.ModelDir, Oracle.ApplyChatTemplate(fixture.ModelDir, Messages(user), addGenerationPrompt: true));

    [Test]
    public async Task Non_stream_response_has_openai_shape_and_consistent_usage()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Path, Body("Tell me about the sea.", 12, ",\"ignore_eos\":true"));
        await Assert.That(status).IsEqualTo(200);
        await Assert.That(body.GetProperty("id").GetString()).StartsWith("chatcmpl-");
        await Assert.That(body.GetProperty("object").GetString()).IsEqualTo("chat.completion");
        await Assert.That(body.GetProperty("model").GetString()).IsEqualTo(fixture.Server.Engine.ModelId);
        await Assert.That(body.GetProperty("created").ValueKind).IsEqualTo(JsonValueKind.Number);
        var choices = body.GetProperty("choices");
        await Assert.That(choices.GetArrayLength()).IsEqualTo(1);
        await Assert.That(choices[0].GetProperty("index").GetInt32()).IsEqualTo(0);
        var message = choices[0].GetProperty("message");
        await Assert.That(message.GetProperty("role").GetString()).IsEqualTo("assistant");
        await Assert.That(message.GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.String);
        await Assert.That(choices[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");

        var usage = body.GetProperty("usage");
        int prompt = usage.GetProperty("prompt_tokens").GetInt32();
        int completion = usage.GetProperty("completion_tokens").GetInt32();
        await Assert.That(completion).IsEqualTo(12);
        await Assert.That(prompt).IsEqualTo(OraclePrompt("Tell me about the sea.").Length);
        await Assert.That(usage.GetProperty("total_tokens").GetInt32()).IsEqualTo(prompt + completion);
        // The shared server may hold KV of an earlier request with the same template prefix: never more than the prompt less one.
        int cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        await Assert.That(cached).IsGreaterThanOrEqualTo(0);
        await Assert.That(cached).IsLessThan(prompt);
    }

    [Test]
    public async Task Greedy_chat_over_http_equals_engine_greedy_on_the_oracle_prompt()
    {
        const string user = "Write one line about mountains.";
        var tokens = OraclePrompt(user);
        var expected = await EngineDriver.RunAsync(fixture.Server.Engine, EngineDriver.Greedy(tokens, 30));
        await Assert.That(expected.Text.Length).IsGreaterThan(0);

        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Path, Body(user, 30));
        await Assert.That(status).IsEqualTo(200);
        var choice = body.GetProperty("choices")[0];
        await Assert.That(choice.GetProperty("message").GetProperty("content").GetString()).IsEqualTo(expected.Text);
        await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo(expected.Finish == Engine.Scheduling.FinishReason.Length ? "length" : "stop");
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(expected.CompletionTokens);
        // The engine's own text is the oracle's tokens through our detokenizer (EOS excluded).
        var oracle = Oracle.GreedyTokens(fixture.ModelDir, tokens, 30);
        await Assert.That(expected.Text).IsEqualTo(OpenAiWire.Detokenize(fixture.ModelDir, oracle));
    }

    [Test]
    public async Task Stream_is_well_formed_sse_and_concatenates_to_the_non_stream_content()
    {
        const string user = "Stream a short story.";
        var (_, plain) = await OpenAiWire.PostJsonAsync(fixture.Client, Path, Body(user, 25));
        string expectedContent = plain.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        string expectedFinish = plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;
        await Assert.That(expectedContent.Length).IsGreaterThan(5);

        using var response = await OpenAiWire.PostAsync(fixture.Client, Path, Body(user, 25, ",\"stream\":true"));
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(response.Content.Headers.ContentType?.MediaType).IsEqualTo("text/event-stream");
        string wire = await response.Content.ReadAsStringAsync();
        await Assert.That(wire).EndsWith("\n\ndata: [DONE]\n\n");
        var events = OpenAiWire.DataEvents(wire);
        await Assert.That(events.Count(e => e == "[DONE]")).IsEqualTo(1);
        await Assert.That(events[^1]).IsEqualTo("[DONE]");

        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        await Assert.That(chunks.Count).IsGreaterThanOrEqualTo(2);
        string id = chunks[0].GetProperty("id").GetString()!;
        long created = chunks[0].GetProperty("created").GetInt64();
        await Assert.That(id).StartsWith("chatcmpl-");
        await Assert.That(chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString()).IsEqualTo("assistant");
        var content = new StringBuilder();
        for (int i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            await Assert.That(c.GetProperty("object").GetString()).IsEqualTo("chat.completion.chunk");
            await Assert.That(c.GetProperty("id").GetString()).IsEqualTo(id);
            await Assert.That(c.GetProperty("created").GetInt64()).IsEqualTo(created);
            await Assert.That(c.GetProperty("model").GetString()).IsEqualTo(fixture.Server.Engine.ModelId);
            var choice = c.GetProperty("choices")[0];
            await Assert.That(choice.GetProperty("index").GetInt32()).IsEqualTo(0);
            var finish = choice.GetProperty("finish_reason");
            if (i < chunks.Count - 1) await Assert.That(finish.ValueKind).IsEqualTo(JsonValueKind.Null);
            else await Assert.That(finish.GetString()).IsEqualTo(expectedFinish);
            var delta = choice.GetProperty("delta");
            if (i > 0) await Assert.That(delta.TryGetProperty("role", out _)).IsFalse();
            if (delta.TryGetProperty("content", out var piece)) content.Append(piece.GetString());
            // Without include_usage there is no usage anywhere.
            await Assert.That(c.TryGetProperty("usage", out _)).IsFalse();
        }
        await Assert.That(content.ToString()).IsEqualTo(expectedContent);
    }

    [Test]
    public async Task Stream_with_include_usage_sends_one_usage_chunk_right_before_done()
    {
        using var response = await OpenAiWire.PostAsync(fixture.Client, Path,
            Body("Count to ten.", 9, ",\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
        await Assert.That(events[^1]).IsEqualTo("[DONE]");
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var usageChunks = chunks.Where(c => c.GetProperty("usage").ValueKind == JsonValueKind.Object).ToList();
        await Assert.That(usageChunks.Count).IsEqualTo(1);
        var last = chunks[^1];
        await Assert.That(last.GetProperty("choices").GetArrayLength()).IsEqualTo(0);
        await Assert.That(last.GetProperty("id").GetString()).IsEqualTo(chunks[0].GetProperty("id").GetString());
        var usage = last.GetProperty("usage");
        await Assert.That(usage.GetProperty("completion_tokens").GetInt32()).IsEqualTo(9);
        await Assert.That(usage.GetProperty("prompt_tokens").GetInt32()).IsEqualTo(OraclePrompt("Count to ten.").Length);
        await Assert.That(usage.GetProperty("total_tokens").GetInt32())
            .IsEqualTo(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32());
        // Every other chunk says usage: null explicitly, and the finish chunk precedes the usage chunk.
        foreach (var c in chunks[..^1])
            await Assert.That(c.GetProperty("usage").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Stop_string_spanning_a_token_boundary_cuts_the_output_exactly_before_it(bool stream)
    {
        const string user = "Say something long.";
        var tokens = OraclePrompt(user);
        var generated = Oracle.GreedyTokens(fixture.ModelDir, tokens, 40);
        var pieces = OpenAiWire.TokenPieces(fixture.ModelDir, generated);
        string full = string.Concat(pieces);
        string stop = StopFixtures.SpanningStop(pieces);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        await Assert.That(expected.Length).IsGreaterThan(0);

        string extra = $",\"stop\":[{OpenAiWire.Json(stop)}]" + (stream ? ",\"stream\":true" : "");
        using var response = await OpenAiWire.PostAsync(fixture.Client, Path, Body(user, 40, extra));
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        string content, finish;
        if (stream)
        {
            var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
            await Assert.That(events[^1]).IsEqualTo("[DONE]");
            var sb = new StringBuilder();
            finish = "";
            foreach (var e in events[..^1])
            {
                var choice = JsonDocument.Parse(e).RootElement.GetProperty("choices")[0];
                if (choice.GetProperty("delta").TryGetProperty("content", out var piece)) sb.Append(piece.GetString());
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString()!;
            }
            content = sb.ToString();
        }
        else
        {
            var choice = (await OpenAiWire.JsonBodyAsync(response)).GetProperty("choices")[0];
            content = choice.GetProperty("message").GetProperty("content").GetString()!;
            finish = choice.GetProperty("finish_reason").GetString()!;
        }
        await Assert.That(content).IsEqualTo(expected);
        await Assert.That(finish).IsEqualTo("stop");
    }
}
