using System.Text;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;
using OpenAI.Chat;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// The official OpenAI .NET SDK (NuGet <c>OpenAI</c>) against a real server, unchanged except for its endpoint: what it
/// parses out of our JSON and SSE (text, finish reason, usage, ids, roles) must be what the wire tests pin, and options it
/// sends (stop, max tokens, seed, logit bias) must be honoured.
/// </summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class OpenAiSdkChatTests(ConformanceServerFixture fixture)
{
    static ChatMessage[] User(string text) => [new UserChatMessage(text)];

    int OraclePromptTokens(string user) =>
        Oracle.Encode(fixture.ModelDir, Oracle.ApplyChatTemplate(fixture.ModelDir, $"[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(user)}}}]", addGenerationPrompt: true)).Length;

    /// <summary>A streamed completion as the SDK hands it out.</summary>
    sealed record Streamed(List<StreamingChatCompletionUpdate> Updates, List<string> Pieces)
    {
        public string Text => string.Concat(Pieces);
    }

    static async Task<Streamed> StreamAsync(ChatClient client, ChatMessage[] messages, ChatCompletionOptions options)
    {
        var updates = new List<StreamingChatCompletionUpdate>();
        var pieces = new List<string>();
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
        {
            updates.Add(update);
            var piece = new StringBuilder();
            foreach (var part in update.ContentUpdate) piece.Append(part.Text);
            if (piece.Length > 0) pieces.Add(piece.ToString());
        }
        return new Streamed(updates, pieces);
    }

    [Test]
    public async Task Sdk_chat_completion_reads_text_finish_reason_length_and_usage()
    {
        const string user = "What lives in the deep ocean?";
        var client = SdkClients.Chat(fixture.Server);
        ChatCompletion completion = await client.CompleteChatAsync(User(user), SdkClients.Greedy(fixture.Server, 12));

        await Assert.That(completion.Id).StartsWith("chatcmpl-");
        await Assert.That(completion.Model).IsEqualTo(fixture.Server.Engine.ModelId);
        await Assert.That(completion.Role).IsEqualTo(ChatMessageRole.Assistant);
        await Assert.That(completion.FinishReason).IsEqualTo(ChatFinishReason.Length);
        await Assert.That(completion.Content.Count).IsEqualTo(1);
        await Assert.That(completion.Content[0].Text.Length).IsGreaterThan(0);
        await Assert.That(completion.CreatedAt).IsGreaterThan(DateTimeOffset.UtcNow.AddHours(-1));
        await Assert.That(completion.Usage.OutputTokenCount).IsEqualTo(12);
        await Assert.That(completion.Usage.InputTokenCount).IsEqualTo(OraclePromptTokens(user));
        await Assert.That(completion.Usage.TotalTokenCount).IsEqualTo(completion.Usage.InputTokenCount + 12);
        await Assert.That(completion.Usage.InputTokenDetails.CachedTokenCount).IsGreaterThanOrEqualTo(0);
    }

    [Test]
    public async Task Sdk_stream_starts_with_the_role_ends_with_usage_and_matches_the_non_stream_text()
    {
        const string user = "Describe a quiet harbour.";
        var client = SdkClients.Chat(fixture.Server);
        var options = SdkClients.Greedy(fixture.Server, 20);
        ChatCompletion whole = await client.CompleteChatAsync(User(user), options);
        var streamed = await StreamAsync(client, User(user), SdkClients.Greedy(fixture.Server, 20));

        var updates = streamed.Updates;
        await Assert.That(updates.Count).IsGreaterThanOrEqualTo(3);
        await Assert.That(updates[0].Role).IsEqualTo(ChatMessageRole.Assistant);
        await Assert.That(updates.Select(u => u.CompletionId).Distinct().Count()).IsEqualTo(1);
        await Assert.That(updates.Select(u => u.CreatedAt).Distinct().Count()).IsEqualTo(1);
        await Assert.That(updates.All(u => u.Model == fixture.Server.Engine.ModelId)).IsTrue();
        // finish_reason is null until one chunk carries it; the SDK asks for usage, which comes after it, once.
        var finishes = updates.Where(u => u.FinishReason is not null).ToList();
        await Assert.That(finishes.Count).IsEqualTo(1);
        await Assert.That(finishes[0].FinishReason).IsEqualTo(ChatFinishReason.Length);
        var usages = updates.Where(u => u.Usage is not null).ToList();
        await Assert.That(usages.Count).IsEqualTo(1);
        await Assert.That(updates.IndexOf(usages[0])).IsEqualTo(updates.Count - 1);
        await Assert.That(usages[0].Usage.OutputTokenCount).IsEqualTo(20);
        await Assert.That(usages[0].Usage.InputTokenCount).IsEqualTo(whole.Usage.InputTokenCount);
        await Assert.That(usages[0].Usage.TotalTokenCount).IsEqualTo(whole.Usage.TotalTokenCount);

        await Assert.That(streamed.Text).IsEqualTo(whole.Content[0].Text);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Sdk_stop_sequence_cuts_the_text_before_it_with_finish_reason_stop(bool stream)
    {
        const string user = "Count the waves.";
        var client = SdkClients.Chat(fixture.Server);
        var reference = await StreamAsync(client, User(user), SdkClients.Greedy(fixture.Server, 24));
        string stop = StopFixtures.SpanningStop([.. reference.Pieces]);
        string expected = reference.Text[..reference.Text.IndexOf(stop, StringComparison.Ordinal)];

        var options = SdkClients.Greedy(fixture.Server, 24);
        options.StopSequences.Add("never-in-this-output-\u00e6\u00f8\u00e5");
        options.StopSequences.Add(stop);
        string text;
        ChatFinishReason? finish;
        if (stream)
        {
            var streamed = await StreamAsync(client, User(user), options);
            text = streamed.Text;
            finish = streamed.Updates.Single(u => u.FinishReason is not null).FinishReason;
        }
        else
        {
            ChatCompletion completion = await client.CompleteChatAsync(User(user), options);
            text = completion.Content[0].Text;
            finish = completion.FinishReason;
        }
        await Assert.That(text).IsEqualTo(expected);
        await Assert.That(finish).IsEqualTo(ChatFinishReason.Stop);
    }

    [Test]
    public async Task Sdk_seed_makes_sampled_completions_reproducible()
    {
        var client = SdkClients.Chat(fixture.Server);
        ChatCompletionOptions Sampled(long seed)
        {
            var o = SdkClients.Greedy(fixture.Server, 16);
            o.Temperature = 1.2f;
            o.TopP = 0.95f;
#pragma warning disable OPENAI001 // the SDK marks Seed as experimental
            o.Seed = seed;
#pragma warning restore OPENAI001
            return o;
        }
        ChatCompletion a = await client.CompleteChatAsync(User("Roll the dice."), Sampled(1234));
        ChatCompletion b = await client.CompleteChatAsync(User("Roll the dice."), Sampled(1234));
        ChatCompletion other = await client.CompleteChatAsync(User("Roll the dice."), Sampled(1235));
        await Assert.That(b.Content[0].Text).IsEqualTo(a.Content[0].Text);
        // Fixed seeds, so not flaky: the seed reached the sampler.
        await Assert.That(other.Content[0].Text).IsNotEqualTo(a.Content[0].Text);
        await Assert.That(a.Usage.OutputTokenCount).IsEqualTo(16);
    }

    [Test]
    public async Task Sdk_logit_bias_forces_the_favoured_token()
    {
        var client = SdkClients.Chat(fixture.Server);
        var vocabulary = fixture.Server.Engine.Vocabulary;
        // A plain ASCII letter token, so the expected text is unambiguous.
        int token = Enumerable.Range(0, vocabulary.Count).First(t => !vocabulary.IsSpecial(t) && vocabulary.GetBytes(t).SequenceEqual("q"u8));
        var options = SdkClients.Greedy(fixture.Server, 5);
        options.LogitBiases[token] = 100;
        ChatCompletion completion = await client.CompleteChatAsync(User("anything"), options);
        await Assert.That(completion.Content[0].Text).IsEqualTo("qqqqq");
    }
}
