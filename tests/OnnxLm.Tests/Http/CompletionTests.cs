using System.Net;
using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>POST /v1/completions: string and token-id prompts, greedy output equal to GenAI's tokens through our
/// detokenizer, streaming framing and stop strings.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class CompletionTests(ServerFixture fixture)
{
    const string Path = "/v1/completions";

    [Test]
    public async Task Token_id_prompt_greedy_text_equals_oracle_tokens_detokenized()
    {
        var prompt = EngineDriver.RandomPrompt(seed: 7, length: 21);
        var oracle = Oracle.GreedyTokens(fixture.ModelDir, prompt, 30, out bool stoppedAtEos);
        string expected = OpenAiWire.Detokenize(fixture.ModelDir, oracle);
        await Assert.That(expected.Length).IsGreaterThan(0);

        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Path,
            $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":30,\"temperature\":0}}");
        await Assert.That(status).IsEqualTo(200);
        await Assert.That(body.GetProperty("id").GetString()).StartsWith("cmpl-");
        await Assert.That(body.GetProperty("object").GetString()).IsEqualTo("text_completion");
        var choice = body.GetProperty("choices")[0];
        await Assert.That(choice.GetProperty("index").GetInt32()).IsEqualTo(0);
        await Assert.That(choice.GetProperty("text").GetString()).IsEqualTo(expected);
        await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo(stoppedAtEos ? "stop" : "length");
        var usage = body.GetProperty("usage");
        await Assert.That(usage.GetProperty("prompt_tokens").GetInt32()).IsEqualTo(21);
        // Our count includes the EOS token the model produced; GenAI's sequence leaves it out.
        await Assert.That(usage.GetProperty("completion_tokens").GetInt32()).IsEqualTo(oracle.Length + (stoppedAtEos ? 1 : 0));
    }

    [Test]
    public async Task String_prompt_is_encoded_like_genai_and_generates_like_the_engine()
    {
        const string prompt = "The old lighthouse keeper";
        var tokens = Oracle.Encode(fixture.ModelDir, prompt);
        var expected = await EngineDriver.RunAsync(fixture.Server.Engine, EngineDriver.Greedy(tokens, 16));

        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Path,
            $"{{\"prompt\":{OpenAiWire.Json(prompt)},\"max_tokens\":16,\"temperature\":0}}");
        await Assert.That(status).IsEqualTo(200);
        await Assert.That(body.GetProperty("choices")[0].GetProperty("text").GetString()).IsEqualTo(expected.Text);
        await Assert.That(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsEqualTo(tokens.Length);

        // A one-element array holding the string is the same prompt.
        var (_, again) = await OpenAiWire.PostJsonAsync(fixture.Client, Path,
            $"{{\"prompt\":[{OpenAiWire.Json(prompt)}],\"max_tokens\":16,\"temperature\":0}}");
        await Assert.That(again.GetProperty("choices")[0].GetProperty("text").GetString()).IsEqualTo(expected.Text);
    }

    [Test]
    public async Task Stream_chunks_are_text_completions_and_concatenate_to_the_non_stream_text()
    {
        var prompt = EngineDriver.RandomPrompt(seed: 8, length: 12);
        string request = $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":20,\"temperature\":0,\"ignore_eos\":true";
        var (_, plain) = await OpenAiWire.PostJsonAsync(fixture.Client, Path, request + "}");
        string expected = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;

        using var response = await OpenAiWire.PostAsync(fixture.Client, Path, request + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        await Assert.That(response.Content.Headers.ContentType?.MediaType).IsEqualTo("text/event-stream");
        string wire = await response.Content.ReadAsStringAsync();
        await Assert.That(wire).EndsWith("data: [DONE]\n\n");
        var events = OpenAiWire.DataEvents(wire);
        await Assert.That(events.Count(e => e == "[DONE]")).IsEqualTo(1);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        string id = chunks[0].GetProperty("id").GetString()!;
        var text = new StringBuilder();
        for (int i = 0; i < chunks.Count - 1; i++)
        {
            await Assert.That(chunks[i].GetProperty("object").GetString()).IsEqualTo("text_completion");
            await Assert.That(chunks[i].GetProperty("id").GetString()).IsEqualTo(id);
            var choice = chunks[i].GetProperty("choices")[0];
            text.Append(choice.GetProperty("text").GetString());
            var finish = choice.GetProperty("finish_reason");
            if (i < chunks.Count - 2) await Assert.That(finish.ValueKind).IsEqualTo(JsonValueKind.Null);
            else await Assert.That(finish.GetString()).IsEqualTo("length");
        }
        await Assert.That(text.ToString()).IsEqualTo(expected);
        var usageChunk = chunks[^1];
        await Assert.That(usageChunk.GetProperty("choices").GetArrayLength()).IsEqualTo(0);
        await Assert.That(usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(20);
        await Assert.That(usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsEqualTo(12);
    }

    [Test]
    public async Task Stop_string_spanning_tokens_cuts_completion_text_exactly()
    {
        var prompt = EngineDriver.RandomPrompt(seed: 9, length: 15);
        var generated = Oracle.GreedyTokens(fixture.ModelDir, prompt, 40);
        var pieces = OpenAiWire.TokenPieces(fixture.ModelDir, generated);
        string full = string.Concat(pieces);
        string stop = StopFixtures.SpanningStop(pieces);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Path,
            $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":40,\"temperature\":0,\"stop\":{OpenAiWire.Json(stop)}}}");
        await Assert.That(status).IsEqualTo(200);
        var choice = body.GetProperty("choices")[0];
        await Assert.That(choice.GetProperty("text").GetString()).IsEqualTo(expected);
        await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("stop");
    }

    [Test]
    public async Task Sampled_completion_with_default_temperature_answers_json_200()
    {
        using var response = await OpenAiWire.PostAsync(fixture.Client, Path, "{\"prompt\":\"hi\",\"max_tokens\":2}");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(response.Content.Headers.ContentType?.MediaType).IsEqualTo("application/json");
    }
}
