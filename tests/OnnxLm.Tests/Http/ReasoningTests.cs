using System.Text;
using System.Text.Json;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Reasoning models over HTTP: the thought comes back as <c>reasoning_content</c> (message and deltas) and the answer as
/// <c>content</c>, as vLLM and llama-server return them; streamed and non-streamed agree; <c>reasoning_tokens</c> counts
/// the thought's tokens, tags included; <c>--reasoning-format none</c>, text completions and models without the tags keep
/// the plain shape. Scripted outputs (<see cref="ReasoningServers"/>) make every expected string exact.
/// </summary>
[ClassDataSource<ReasoningServers>(Shared = SharedType.PerClass)]
public class ReasoningTests(ReasoningServers servers)
{
    const string Chat = "/v1/chat/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"Why is the sky blue?\"}]";

    static string Body(ulong? seed, string extra = "") =>
        $"{{\"messages\":{User},\"max_tokens\":64,\"temperature\":0{(seed is { } s ? $",\"seed\":{s}" : "")}{extra}}}";

    /// <summary>The fields of one streamed choice, concatenated over its deltas.</summary>
    sealed record Streamed(string Reasoning, string Content, int ReasoningDeltas, int ContentDeltas, int LogprobEntries, string? Finish);

    static async Task<(List<Streamed> Choices, JsonElement? Usage, string Wire)> StreamAsync(HttpClient client, string body, int n = 1)
    {
        using var response = await OpenAiWire.PostAsync(client, Chat, body);
        await Assert.That((int)response.StatusCode).IsEqualTo(200);
        string wire = await response.Content.ReadAsStringAsync();
        var events = OpenAiWire.DataEvents(wire);
        await Assert.That(events[^1]).IsEqualTo("[DONE]");
        var reasoning = new StringBuilder[n];
        var content = new StringBuilder[n];
        var counts = new int[n, 3];
        var finish = new string?[n];
        JsonElement? usage = null;
        for (int i = 0; i < n; i++) (reasoning[i], content[i]) = (new(), new());
        foreach (var e in events[..^1])
        {
            var chunk = JsonDocument.Parse(e).RootElement;
            if (chunk.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object) usage = u.Clone();
            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
            {
                int index = choice.GetProperty("index").GetInt32();
                var delta = choice.GetProperty("delta");
                bool hasReasoning = delta.TryGetProperty("reasoning_content", out var r);
                bool hasContent = delta.TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 };
                // One token's text belongs to one side: a chunk never carries both.
                await Assert.That(hasReasoning && hasContent).IsFalse();
                if (hasReasoning)
                {
                    reasoning[index].Append(r.GetString());
                    counts[index, 0]++;
                    // The thought comes first: no reasoning after the answer began.
                    await Assert.That(content[index].Length).IsEqualTo(0);
                }
                if (hasContent)
                {
                    content[index].Append(c.GetString());
                    counts[index, 1]++;
                }
                if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object)
                    counts[index, 2] += lp.GetProperty("content").GetArrayLength();
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish[index] = choice.GetProperty("finish_reason").GetString();
            }
        }
        var list = Enumerable.Range(0, n).Select(i => new Streamed(reasoning[i].ToString(), content[i].ToString(), counts[i, 0], counts[i, 1], counts[i, 2], finish[i])).ToList();
        return (list, usage, wire);
    }

    static int ReasoningTokens(JsonElement body) =>
        body.GetProperty("usage").GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32();

    static JsonElement Message(JsonElement body, int choice = 0) => body.GetProperty("choices")[choice].GetProperty("message");

    [Test]
    public async Task Non_streamed_chat_returns_the_thought_as_reasoning_content_and_the_answer_as_content()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 1;
        using var response = await OpenAiWire.PostAsync(servers.R1Client, Chat, Body(seed));
        string raw = await response.Content.ReadAsStringAsync();
        var body = JsonDocument.Parse(raw).RootElement;
        var message = Message(body);
        await Assert.That(message.GetProperty("reasoning_content").GetString()).IsEqualTo(servers.ThoughtText(servers.R1, seed));
        await Assert.That(message.GetProperty("content").GetString()).IsEqualTo(ReasoningServers.Answer);
        await Assert.That(raw).DoesNotContain("think>");
        await Assert.That(body.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("stop");
        // The thought's tokens and the closing tag (R1's prompt opened the thought, so the model wrote no opening tag).
        await Assert.That(ReasoningTokens(body)).IsEqualTo(ReasoningServers.ThoughtLength(seed) + 1);
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(servers.Script(servers.R1, seed).Length);
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task Streamed_deltas_concatenate_to_the_non_streamed_fields(bool logprobs)
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 2;
        string extra = logprobs ? ",\"logprobs\":true,\"top_logprobs\":2" : "";
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1Client, Chat, Body(seed, extra));
        var (choices, usage, _) = await StreamAsync(servers.R1Client, Body(seed, extra + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        var streamed = choices[0];
        await Assert.That(streamed.Reasoning).IsEqualTo(Message(plain).GetProperty("reasoning_content").GetString());
        await Assert.That(streamed.Content).IsEqualTo(Message(plain).GetProperty("content").GetString());
        await Assert.That(streamed.Reasoning).IsEqualTo(servers.ThoughtText(servers.R1, seed));
        await Assert.That(streamed.Content).IsEqualTo(ReasoningServers.Answer);
        await Assert.That(streamed.ReasoningDeltas).IsGreaterThanOrEqualTo(2);
        await Assert.That(streamed.Finish).IsEqualTo("stop");
        await Assert.That(usage!.Value.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32()).IsEqualTo(ReasoningTokens(plain));
        if (logprobs)
        {
            // Every token but the (special) end-of-sequence one has its entry, the closing tag included, as in vLLM.
            var entries = plain.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
            int expected = servers.Script(servers.R1, seed).Length - 1;
            await Assert.That(entries.GetArrayLength()).IsEqualTo(expected);
            await Assert.That(entries.EnumerateArray().Count(e => e.GetProperty("token").GetString() == "</think>")).IsEqualTo(1);
            await Assert.That(streamed.LogprobEntries).IsEqualTo(expected);
        }
    }

    [Test]
    [Arguments(false)]
    [Arguments(true)]
    public async Task A_thought_cut_by_max_tokens_is_all_reasoning_with_null_content(bool stream)
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 3;   // 5 thought tokens
        string body = $"{{\"messages\":{User},\"max_tokens\":3,\"temperature\":0,\"seed\":{seed}{(stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "")}}}";
        string expected = OpenAiWire.Detokenize(servers.R1.Engine.Contract.Directory, servers.Script(servers.R1, seed).AsSpan(0, 3));
        if (stream)
        {
            var (choices, usage, _) = await StreamAsync(servers.R1Client, body);
            await Assert.That(choices[0].Reasoning).IsEqualTo(expected);
            await Assert.That(choices[0].ContentDeltas).IsEqualTo(0);
            await Assert.That(choices[0].Finish).IsEqualTo("length");
            await Assert.That(usage!.Value.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32()).IsEqualTo(3);
            return;
        }
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1Client, Chat, body);
        await Assert.That(Message(plain).GetProperty("reasoning_content").GetString()).IsEqualTo(expected);
        await Assert.That(Message(plain).GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(3);
    }

    [Test]
    public async Task Each_choice_of_n_splits_at_its_own_closing_tag()
    {
        // Choice i samples with seed + i, so each follows its own script: thoughts of 2, 3 and 4 tokens.
        const ulong seed = ReasoningServers.FirstScriptSeed + 4;
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1Client, Chat, Body(seed, ",\"n\":3"));
        var (choices, usage, _) = await StreamAsync(servers.R1Client, Body(seed, ",\"n\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}"), n: 3);
        int reasoningTokens = 0;
        for (int i = 0; i < 3; i++)
        {
            string thought = servers.ThoughtText(servers.R1, seed + (ulong)i);
            await Assert.That(Message(plain, i).GetProperty("reasoning_content").GetString()).IsEqualTo(thought);
            await Assert.That(Message(plain, i).GetProperty("content").GetString()).IsEqualTo(ReasoningServers.Answer);
            await Assert.That(choices[i].Reasoning).IsEqualTo(thought);
            await Assert.That(choices[i].Content).IsEqualTo(ReasoningServers.Answer);
            reasoningTokens += ReasoningServers.ThoughtLength(seed + (ulong)i) + 1;
        }
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(reasoningTokens);
        await Assert.That(usage!.Value.GetProperty("completion_tokens_details").GetProperty("reasoning_tokens").GetInt32()).IsEqualTo(reasoningTokens);
    }

    [Test]
    public async Task A_stop_string_in_the_answer_cuts_the_content_and_keeps_the_reasoning()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 5;
        string extra = ",\"stop\":[\" scattering\"]";
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1Client, Chat, Body(seed, extra));
        await Assert.That(Message(plain).GetProperty("reasoning_content").GetString()).IsEqualTo(servers.ThoughtText(servers.R1, seed));
        await Assert.That(Message(plain).GetProperty("content").GetString()).IsEqualTo("\n\nRayleigh");
        await Assert.That(plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("stop");
        var (choices, _, _) = await StreamAsync(servers.R1Client, Body(seed, extra + ",\"stream\":true"));
        await Assert.That(choices[0].Content).IsEqualTo("\n\nRayleigh");
        await Assert.That(choices[0].Reasoning).IsEqualTo(servers.ThoughtText(servers.R1, seed));
    }

    [Test]
    public async Task Qwen3_opening_its_own_thought_is_split_the_same_way()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 6;
        var (status, plain) = await OpenAiWire.PostJsonAsync(servers.Qwen3Client, Chat, Body(seed));
        await Assert.That(status).IsEqualTo(200);
        string thought = servers.ThoughtText(servers.Qwen3, seed);
        await Assert.That(Message(plain).GetProperty("reasoning_content").GetString()).IsEqualTo(thought);
        await Assert.That(Message(plain).GetProperty("content").GetString()).IsEqualTo(ReasoningServers.Answer);
        // The opening tag, the thought and the closing tag.
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(ReasoningServers.ThoughtLength(seed) + 2);
        var (choices, _, _) = await StreamAsync(servers.Qwen3Client, Body(seed, ",\"stream\":true"));
        await Assert.That(choices[0].Reasoning).IsEqualTo(thought);
        await Assert.That(choices[0].Content).IsEqualTo(ReasoningServers.Answer);
    }

    [Test]
    public async Task Reasoning_format_none_keeps_the_raw_text_in_content()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 7;
        var script = servers.Script(servers.R1Raw, seed);
        string raw = OpenAiWire.Detokenize(servers.R1Raw.Engine.Contract.Directory, script);
        await Assert.That(raw).IsEqualTo(servers.ThoughtText(servers.R1Raw, seed) + "</think>" + ReasoningServers.Answer);
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1RawClient, Chat, Body(seed));
        await Assert.That(Message(plain).GetProperty("content").GetString()).IsEqualTo(raw);
        await Assert.That(Message(plain).TryGetProperty("reasoning_content", out _)).IsFalse();
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(0);
        var (choices, _, wire) = await StreamAsync(servers.R1RawClient, Body(seed, ",\"stream\":true"));
        await Assert.That(choices[0].Content).IsEqualTo(raw);
        await Assert.That(wire).DoesNotContain("reasoning_content");
    }

    [Test]
    public async Task Text_completions_are_never_split()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 8;
        string raw = OpenAiWire.Detokenize(servers.R1.Engine.Contract.Directory, servers.Script(servers.R1, seed));
        var (status, body) = await OpenAiWire.PostJsonAsync(servers.R1Client, "/v1/completions",
            $"{{\"prompt\":\"<｜User｜>Why?<｜Assistant｜><think>\\n\",\"max_tokens\":64,\"temperature\":0,\"seed\":{seed}}}");
        await Assert.That(status).IsEqualTo(200);
        await Assert.That(body.GetProperty("choices")[0].GetProperty("text").GetString()).IsEqualTo(raw);
        await Assert.That(body.GetProperty("choices")[0].TryGetProperty("reasoning_content", out _)).IsFalse();
        await Assert.That(ReasoningTokens(body)).IsEqualTo(0);
    }

    [Test]
    public async Task The_npm_openai_client_receives_reasoning_content_streamed_and_not()
    {
        const ulong seed = ReasoningServers.FirstScriptSeed + 9;   // the seed tests/node/conformance.mjs sends
        var run = await Conformance.NodeScript.RunAsync(servers.R1.BaseAddress, "reasoning");
        await Assert.That(run.Result.GetProperty("reasoning").GetString()).IsEqualTo(servers.ThoughtText(servers.R1, seed));
        await Assert.That(run.Result.GetProperty("content").GetString()).IsEqualTo(ReasoningServers.Answer);
        await Assert.That(run.Result.GetProperty("reasoningTokens").GetInt32()).IsEqualTo(ReasoningServers.ThoughtLength(seed) + 1);
    }

    [Test]
    public async Task The_dotnet_openai_sdk_reads_the_answer_and_reasoning_tokens_and_accepts_null_content()
    {
        // The .NET SDK knows nothing of reasoning_content: it must still parse the response, give the clean answer as
        // the content (streamed or not) and read reasoning_tokens; a thought cut by max_tokens (content null) parses too.
        const ulong seed = ReasoningServers.FirstScriptSeed + 10;
        var client = Conformance.SdkClients.Chat(servers.R1);
        OpenAI.Chat.ChatMessage[] messages = [new OpenAI.Chat.UserChatMessage("Why is the sky blue?")];
#pragma warning disable OPENAI001   // Seed is marked experimental in the SDK
        var options = new OpenAI.Chat.ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 64, Seed = (long)seed };
        var completion = (await client.CompleteChatAsync(messages, options)).Value;
        await Assert.That(string.Concat(completion.Content.Select(p => p.Text))).IsEqualTo(ReasoningServers.Answer);
        await Assert.That(completion.Usage.OutputTokenDetails.ReasoningTokenCount).IsEqualTo(ReasoningServers.ThoughtLength(seed) + 1);
        var streamed = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
        await Assert.That(streamed.ToString()).IsEqualTo(ReasoningServers.Answer);

        var cut = (await client.CompleteChatAsync(messages, new OpenAI.Chat.ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 2, Seed = (long)seed })).Value;
#pragma warning restore OPENAI001
        await Assert.That(cut.Content.Count).IsEqualTo(0);
        await Assert.That(cut.FinishReason).IsEqualTo(OpenAI.Chat.ChatFinishReason.Length);
        await Assert.That(cut.Usage.OutputTokenDetails.ReasoningTokenCount).IsEqualTo(2);
    }

    [Test]
    public async Task Logit_bias_on_the_closing_tag_closes_the_thought_at_the_first_token()
    {
        // The real sampler, no script: +100 makes </think> every token. The first closes the thought the prompt opened
        // (nothing was thought), the others are stray tags, dropped from the text.
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.R1Client, Chat,
            $"{{\"messages\":{User},\"max_tokens\":3,\"temperature\":0,\"logit_bias\":{{\"151649\":100}}}}");
        await Assert.That(Message(plain).GetProperty("reasoning_content").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(Message(plain).GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(1);
        await Assert.That(plain.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(3);
    }

    [Test]
    public async Task Logit_bias_on_the_opening_tag_opens_a_qwen3_thought()
    {
        // Qwen3's template leaves the thought to the model: forcing <think> first opens it, and every later token is
        // inside it (stray opening tags count, text-free).
        var (_, plain) = await OpenAiWire.PostJsonAsync(servers.Qwen3Client, Chat,
            $"{{\"messages\":{User},\"max_tokens\":4,\"temperature\":0,\"logit_bias\":{{\"151667\":100}}}}");
        await Assert.That(ReasoningTokens(plain)).IsEqualTo(4);
        await Assert.That(Message(plain).GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
    }
}
