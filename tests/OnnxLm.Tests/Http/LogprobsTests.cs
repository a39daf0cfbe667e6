using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// logprobs in both OpenAI shapes, streamed and not: chat's <c>logprobs.content[]</c> of {token, logprob, bytes,
/// top_logprobs} and text completions' {tokens, token_logprobs, top_logprobs, text_offset}. Greedy decoding makes the
/// chosen token the most likely alternative, which ties the numbers to each other.
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class LogprobsTests(ServerFixture fixture)
{
    const string ChatBody = "{\"messages\":[{\"role\":\"user\",\"content\":\"Name three colours.\"}],\"max_tokens\":10,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":true,\"top_logprobs\":3";

    static async Task AssertChatEntries(List<JsonElement> entries, string content, int top)
    {
        var bytes = new List<byte>();
        foreach (var e in entries)
        {
            var tokenBytes = e.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32()).ToArray();
            bytes.AddRange(tokenBytes);
            await Assert.That(e.GetProperty("token").GetString()).IsEqualTo(Encoding.UTF8.GetString(tokenBytes));
            float logprob = e.GetProperty("logprob").GetSingle();
            await Assert.That(logprob).IsLessThanOrEqualTo(0f);
            var alternatives = e.GetProperty("top_logprobs");
            await Assert.That(alternatives.GetArrayLength()).IsEqualTo(top);
            // Greedy: the chosen token is the best alternative, and alternatives come best first.
            await Assert.That(alternatives[0].GetProperty("token").GetString()).IsEqualTo(e.GetProperty("token").GetString());
            await Assert.That(Math.Abs(alternatives[0].GetProperty("logprob").GetSingle() - logprob)).IsLessThan(1e-4f);
            for (int i = 1; i < alternatives.GetArrayLength(); i++)
                await Assert.That(alternatives[i].GetProperty("logprob").GetSingle()).IsLessThanOrEqualTo(alternatives[i - 1].GetProperty("logprob").GetSingle());
            await Assert.That(alternatives[0].GetProperty("bytes").GetArrayLength()).IsGreaterThan(0);
        }
        // The tokens' bytes are the text (no special tokens in this completion).
        await Assert.That(Encoding.UTF8.GetString([.. bytes])).IsEqualTo(content);
    }

    [Test]
    public async Task Chat_logprobs_list_every_token_with_bytes_and_top_alternatives()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/chat/completions", ChatBody + "}");
        await Assert.That(status).IsEqualTo(200);
        var choice = body.GetProperty("choices")[0];
        var entries = choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
        await Assert.That(entries.Count).IsEqualTo(10);
        await AssertChatEntries(entries, choice.GetProperty("message").GetProperty("content").GetString()!, 3);
    }

    [Test]
    public async Task Streamed_chat_logprobs_come_one_per_token_chunk_and_match_the_plain_response()
    {
        var (_, plain) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/chat/completions", ChatBody + "}");
        var expected = plain.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();

        using var response = await OpenAiWire.PostAsync(fixture.Client, "/v1/chat/completions", ChatBody + ",\"stream\":true}");
        var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
        await Assert.That(events[^1]).IsEqualTo("[DONE]");
        var entries = new List<JsonElement>();
        var content = new StringBuilder();
        foreach (var e in events[..^1])
        {
            var choice = JsonDocument.Parse(e).RootElement.GetProperty("choices")[0];
            if (choice.GetProperty("delta").TryGetProperty("content", out var piece)) content.Append(piece.GetString());
            var logprobs = choice.GetProperty("logprobs");
            if (logprobs.ValueKind == JsonValueKind.Null) continue;
            var list = logprobs.GetProperty("content");
            await Assert.That(list.GetArrayLength()).IsEqualTo(1);
            entries.Add(list[0]);
        }
        await Assert.That(entries.Count).IsEqualTo(expected.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            await Assert.That(entries[i].GetProperty("token").GetString()).IsEqualTo(expected[i].GetProperty("token").GetString());
            // Batched and single-row runs differ in the last float bits.
            await Assert.That(entries[i].GetProperty("logprob").GetSingle()).IsEqualTo(expected[i].GetProperty("logprob").GetSingle()).Within(1e-3f);
        }
        await AssertChatEntries(entries, content.ToString(), 3);
    }

    [Test]
    public async Task Chat_without_logprobs_says_null()
    {
        var (_, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/chat/completions",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3}");
        await Assert.That(body.GetProperty("choices")[0].GetProperty("logprobs").ValueKind).IsEqualTo(JsonValueKind.Null);
    }

    [Test]
    public async Task Completion_logprobs_are_parallel_arrays_with_text_offsets()
    {
        var prompt = EngineDriver.RandomPrompt(seed: 21, length: 9);
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/completions",
            $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":2}}");
        await Assert.That(status).IsEqualTo(200);
        var choice = body.GetProperty("choices")[0];
        string text = choice.GetProperty("text").GetString()!;
        var logprobs = choice.GetProperty("logprobs");
        var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
        var values = logprobs.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()).ToList();
        var tops = logprobs.GetProperty("top_logprobs").EnumerateArray().ToList();
        var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()).ToList();
        await Assert.That(tokens.Count).IsEqualTo(8);
        await Assert.That(values.Count).IsEqualTo(8);
        await Assert.That(tops.Count).IsEqualTo(8);
        await Assert.That(offsets.Count).IsEqualTo(8);
        await Assert.That(offsets[0]).IsEqualTo(0);
        for (int i = 0; i < 8; i++)
        {
            var top = tops[i].EnumerateObject().ToList();
            await Assert.That(top.Count).IsBetween(1, 2);
            // Greedy: the chosen token is the best alternative.
            await Assert.That(top.Max(p => p.Value.GetSingle())).IsEqualTo(values[i]).Within(1e-4f);
            if (i > 0) await Assert.That(offsets[i]).IsGreaterThanOrEqualTo(offsets[i - 1]);
        }
        await Assert.That(string.Concat(tokens)).IsEqualTo(text);
    }

    [Test]
    public async Task Streamed_completion_logprobs_carry_one_token_each()
    {
        var prompt = EngineDriver.RandomPrompt(seed: 22, length: 9);
        using var response = await OpenAiWire.PostAsync(fixture.Client, "/v1/completions",
            $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,\"stream\":true}}");
        var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
        int withLogprobs = 0;
        foreach (var e in events[..^1])
        {
            var logprobs = JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("logprobs");
            if (logprobs.ValueKind == JsonValueKind.Null) continue;
            withLogprobs++;
            await Assert.That(logprobs.GetProperty("tokens").GetArrayLength()).IsEqualTo(1);
            await Assert.That(logprobs.GetProperty("token_logprobs")[0].GetSingle()).IsLessThanOrEqualTo(0f);
            await Assert.That(logprobs.GetProperty("top_logprobs")[0].EnumerateObject().Count()).IsEqualTo(0);
            await Assert.That(logprobs.GetProperty("text_offset").GetArrayLength()).IsEqualTo(1);
        }
        await Assert.That(withLogprobs).IsEqualTo(6);
    }
}
