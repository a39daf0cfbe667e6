using Microsoft.Extensions.AI;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;
using OpenAI.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over the OpenAI SDK (<c>chatClient.AsIChatClient()</c>), the way
/// .NET apps consume chat models: responses, streaming updates, usage, finish reasons, and the options it maps
/// (Temperature, MaxOutputTokens, StopSequences, Seed, TopP). Options it does not map (top_k, logit_bias) travel through
/// <see cref="ChatOptions.RawRepresentationFactory"/>, the adapter's documented escape hatch.
/// </summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class ExtensionsAiChatClientTests(ConformanceServerFixture fixture)
{
    IChatClient Client() => SdkClients.Chat(fixture.Server).AsIChatClient();

    /// <summary>Options that cannot end early on EOS (logit_bias travels in the raw OpenAI options, which must set nothing
    /// else: the adapter keeps what the raw options set over what ChatOptions says).</summary>
    ChatOptions NoEos(int maxTokens, float temperature = 0f) => new()
    {
        Temperature = temperature,
        MaxOutputTokens = maxTokens,
        RawRepresentationFactory = _ => SdkClients.NoEos(fixture.Server),
    };

    static async Task<(List<ChatResponseUpdate> Updates, List<string> Pieces)> StreamAsync(IChatClient client, string user, ChatOptions options)
    {
        var updates = new List<ChatResponseUpdate>();
        var pieces = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(user, options))
        {
            updates.Add(update);
            if (update.Text.Length > 0) pieces.Add(update.Text);
        }
        return (updates, pieces);
    }

    [Test]
    public async Task GetResponseAsync_returns_text_usage_and_finish_reason_length()
    {
        var client = Client();
        ChatResponse response = await client.GetResponseAsync(
            [new AiChatMessage(ChatRole.System, "You are terse."), new AiChatMessage(ChatRole.User, "Name a colour.")], NoEos(9));
        await Assert.That(response.Text.Length).IsGreaterThan(0);
        await Assert.That(response.FinishReason).IsEqualTo(AiFinishReason.Length);
        await Assert.That(response.ModelId).IsEqualTo(fixture.Server.Engine.ModelId);
        await Assert.That(response.ResponseId).StartsWith("chatcmpl-");
        await Assert.That(response.Messages.Count).IsEqualTo(1);
        await Assert.That(response.Messages[0].Role).IsEqualTo(ChatRole.Assistant);
        await Assert.That(response.Usage).IsNotNull();
        await Assert.That(response.Usage!.OutputTokenCount).IsEqualTo(9);
        await Assert.That(response.Usage.InputTokenCount ?? 0).IsGreaterThan(0);
        await Assert.That(response.Usage.TotalTokenCount).IsEqualTo(response.Usage.InputTokenCount + 9);
    }

    [Test]
    public async Task GetStreamingResponseAsync_concatenates_to_the_response_text_and_reports_usage()
    {
        var client = Client();
        ChatResponse whole = await client.GetResponseAsync("Describe the tide.", NoEos(15));
        var (updates, pieces) = await StreamAsync(client, "Describe the tide.", NoEos(15));

        await Assert.That(string.Concat(pieces)).IsEqualTo(whole.Text);
        // The adapter repeats the finish reason on the usage update that follows it, so it may appear twice.
        var finishes = updates.Where(u => u.FinishReason is not null).Select(u => u.FinishReason).ToArray();
        await Assert.That(finishes.Length).IsGreaterThanOrEqualTo(1);
        await Assert.That(finishes.All(f => f == AiFinishReason.Length)).IsTrue();
        await Assert.That(updates.Select(u => u.ResponseId).Distinct().Count()).IsEqualTo(1);
        ChatResponse merged = updates.ToChatResponse();
        await Assert.That(merged.Text).IsEqualTo(whole.Text);
        await Assert.That(merged.Usage).IsNotNull();
        await Assert.That(merged.Usage!.OutputTokenCount).IsEqualTo(15);
        await Assert.That(merged.Usage.InputTokenCount).IsEqualTo(whole.Usage!.InputTokenCount);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task StopSequences_cut_the_text_before_the_stop_with_finish_reason_stop(bool stream)
    {
        var client = Client();
        var (_, pieces) = await StreamAsync(client, "List some birds.", NoEos(24));
        string full = string.Concat(pieces);
        string stop = StopFixtures.SpanningStop([.. pieces]);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var options = NoEos(24);
        options.StopSequences = [stop];
        if (stream)
        {
            var (updates, cut) = await StreamAsync(client, "List some birds.", options);
            await Assert.That(string.Concat(cut)).IsEqualTo(expected);
            await Assert.That(updates.ToChatResponse().FinishReason).IsEqualTo(AiFinishReason.Stop);
        }
        else
        {
            ChatResponse response = await client.GetResponseAsync("List some birds.", options);
            await Assert.That(response.Text).IsEqualTo(expected);
            await Assert.That(response.FinishReason).IsEqualTo(AiFinishReason.Stop);
        }
    }

    [Test]
    public async Task Seed_with_temperature_and_top_p_reproduces_a_sampled_response()
    {
        var client = Client();
        ChatOptions Sampled(long seed) { var o = NoEos(16, temperature: 1.3f); o.Seed = seed; o.TopP = 0.9f; return o; }
        ChatResponse a = await client.GetResponseAsync("Pick a word.", Sampled(777));
        ChatResponse b = await client.GetResponseAsync("Pick a word.", Sampled(777));
        ChatResponse other = await client.GetResponseAsync("Pick a word.", Sampled(778));
        await Assert.That(b.Text).IsEqualTo(a.Text);
        // Fixed seeds, so not flaky: shows the options reached the sampler (a greedy or unseeded run would not do this).
        await Assert.That(other.Text).IsNotEqualTo(a.Text);
        await Assert.That(a.Usage!.OutputTokenCount).IsEqualTo(16);
    }

    [Test]
    public async Task Top_k_one_through_the_raw_options_samples_the_greedy_text()
    {
        var client = Client();
        ChatResponse greedy = await client.GetResponseAsync("Say something.", NoEos(16));
        // The adapter does not map ChatOptions.TopK (OpenAI has no top_k); the raw options' JSON patch adds it.
        var options = new ChatOptions
        {
            Temperature = 1.5f,
            Seed = 5,
            MaxOutputTokens = 16,
            RawRepresentationFactory = _ =>
            {
                var raw = SdkClients.NoEos(fixture.Server);
#pragma warning disable SCME0001 // JsonPatch is marked experimental
                raw.Patch.Set("$.top_k"u8, 1);
#pragma warning restore SCME0001
                return raw;
            },
        };
        ChatResponse topK = await client.GetResponseAsync("Say something.", options);
        await Assert.That(topK.Text).IsEqualTo(greedy.Text);
        // The same seed and temperature without top_k sample something else: top_k was what made it greedy.
        var unpatched = NoEos(16, temperature: 1.5f);
        unpatched.Seed = 5;
        ChatResponse sampled = await client.GetResponseAsync("Say something.", unpatched);
        await Assert.That(sampled.Text).IsNotEqualTo(greedy.Text);
    }
}
