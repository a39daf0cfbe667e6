using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// <c>n</c> &gt; 1: one choice per sequence of a group that shares the prompt's prefill. Greedy members are identical,
/// seeded members differ from each other yet reproduce, usage counts the prompt once and sums the completions, and
/// streamed chunks carry their choice's index.
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class ChoiceGroupTests(ServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"Describe the weather.\"}]";

    static List<string> Contents(JsonElement body) =>
        body.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("message").GetProperty("content").GetString()!).ToList();

    [Test]
    [Arguments(2)]
    [Arguments(3)]
    public async Task Greedy_choices_are_identical_with_indices_and_summed_usage(int n)
    {
        var (_, single) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, $"{{\"messages\":{User},\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}}");
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, $"{{\"messages\":{User},\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true,\"n\":{n}}}");
        await Assert.That(status).IsEqualTo(200);
        var choices = body.GetProperty("choices");
        await Assert.That(choices.GetArrayLength()).IsEqualTo(n);
        for (int i = 0; i < n; i++)
        {
            await Assert.That(choices[i].GetProperty("index").GetInt32()).IsEqualTo(i);
            await Assert.That(choices[i].GetProperty("finish_reason").GetString()).IsEqualTo("length");
        }
        string expected = Contents(single)[0];
        await Assert.That(Contents(body).All(c => c == expected)).IsTrue();
        var usage = body.GetProperty("usage");
        await Assert.That(usage.GetProperty("prompt_tokens").GetInt32()).IsEqualTo(single.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        await Assert.That(usage.GetProperty("completion_tokens").GetInt32()).IsEqualTo(6 * n);
        await Assert.That(usage.GetProperty("total_tokens").GetInt32()).IsEqualTo(usage.GetProperty("prompt_tokens").GetInt32() + 6 * n);
    }

    [Test]
    public async Task Seeded_choices_differ_from_each_other_and_reproduce()
    {
        string request = $"{{\"messages\":{User},\"max_tokens\":20,\"temperature\":1.5,\"seed\":77,\"ignore_eos\":true,\"n\":3}}";
        var (_, first) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, request);
        var (_, second) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, request);
        var a = Contents(first);
        await Assert.That(a.Distinct().Count()).IsEqualTo(3);
        await Assert.That(Contents(second)).IsEquivalentTo(a);
        // Choice 0 uses the seed itself: it is what n=1 gives with that seed.
        var (_, one) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, request.Replace(",\"n\":3", "", StringComparison.Ordinal));
        await Assert.That(Contents(one)[0]).IsEqualTo(a[0]);
    }

    [Test]
    public async Task Streamed_choices_carry_their_index_and_each_ends_with_its_finish_reason()
    {
        string request = $"{{\"messages\":{User},\"max_tokens\":8,\"temperature\":1.5,\"seed\":5,\"ignore_eos\":true,\"n\":2";
        var (_, plain) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, request + "}");
        using var response = await OpenAiWire.PostAsync(fixture.Client, Chat, request + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
        await Assert.That(events[^1]).IsEqualTo("[DONE]");
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var text = new[] { new StringBuilder(), new StringBuilder() };
        var roles = new int[2];
        var finishes = new int[2];
        foreach (var c in chunks[..^1])
        {
            var choices = c.GetProperty("choices");
            await Assert.That(choices.GetArrayLength()).IsEqualTo(1);
            var choice = choices[0];
            int index = choice.GetProperty("index").GetInt32();
            await Assert.That(finishes[index]).IsEqualTo(0);   // nothing after a choice's final chunk
            var delta = choice.GetProperty("delta");
            if (delta.TryGetProperty("role", out _)) roles[index]++;
            if (delta.TryGetProperty("content", out var piece)) text[index].Append(piece.GetString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finishes[index]++;
        }
        await Assert.That(roles).IsEquivalentTo(new[] { 1, 1 });
        await Assert.That(finishes).IsEquivalentTo(new[] { 1, 1 });
        var expected = Contents(plain);
        await Assert.That(text[0].ToString()).IsEqualTo(expected[0]);
        await Assert.That(text[1].ToString()).IsEqualTo(expected[1]);
        var usage = chunks[^1].GetProperty("usage");
        await Assert.That(chunks[^1].GetProperty("choices").GetArrayLength()).IsEqualTo(0);
        await Assert.That(usage.GetProperty("completion_tokens").GetInt32()).IsEqualTo(16);
    }

    [Test]
    public async Task Completions_accept_n_too()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/completions",
            "{\"prompt\":\"The sea\",\"max_tokens\":5,\"temperature\":0,\"ignore_eos\":true,\"n\":2}");
        await Assert.That(status).IsEqualTo(200);
        var choices = body.GetProperty("choices");
        await Assert.That(choices.GetArrayLength()).IsEqualTo(2);
        await Assert.That(choices[1].GetProperty("index").GetInt32()).IsEqualTo(1);
        await Assert.That(choices[1].GetProperty("text").GetString()).IsEqualTo(choices[0].GetProperty("text").GetString());
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(10);
    }
}
