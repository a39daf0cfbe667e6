using System.Net;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Every request parameter of issue 3 is either honoured (its effect is visible in the output) or refused with 400 and
/// <c>param</c> naming it; none is silently ignored.
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class RequestParameterTests(ServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";
    const string Completions = "/v1/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"Tell me a story about a cat.\"}]";

    async Task<JsonElement> Ok(string path, string json)
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, path, json);
        if (status != 200) throw new InvalidOperationException($"status {status}: {body}");
        return body;
    }

    async Task<string> ChatText(string extra, int maxTokens = 12) =>
        (await Ok(Chat, $"{{\"messages\":{User},\"max_tokens\":{maxTokens},\"ignore_eos\":true{extra}}}"))
            .GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    async Task<string> CompletionText(string prompt, string extra, int maxTokens = 12) =>
        (await Ok(Completions, $"{{\"prompt\":{prompt},\"max_tokens\":{maxTokens},\"ignore_eos\":true{extra}}}"))
            .GetProperty("choices")[0].GetProperty("text").GetString()!;

    async Task Refused(string path, string json, string param)
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, path, json);
        await Assert.That(status).IsEqualTo(400);
        await Assert.That(body.GetProperty("error").GetProperty("param").GetString()).IsEqualTo(param);
        await Assert.That(body.GetProperty("error").GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
    }

    [Test]
    [Arguments("system")]
    [Arguments("developer")]
    [Arguments("user")]
    [Arguments("assistant")]
    [Arguments("tool")]
    public async Task Every_openai_role_is_accepted(string role)
    {
        var body = await Ok(Chat, $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}},{{\"role\":\"{role}\",\"content\":\"ok\"}},{{\"role\":\"user\",\"content\":\"again\"}}],\"max_tokens\":2}}");
        await Assert.That(body.GetProperty("choices").GetArrayLength()).IsEqualTo(1);
    }

    [Test]
    public async Task Unknown_role_is_400_naming_it() =>
        await Refused(Chat, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "messages[0].role");

    [Test]
    public async Task Developer_role_renders_like_system()
    {
        var system = await Ok(Chat, "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true}");
        var developer = await Ok(Chat, "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true}");
        await Assert.That(developer.GetProperty("usage").GetProperty("prompt_tokens").GetInt32())
            .IsEqualTo(system.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        await Assert.That(developer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString())
            .IsEqualTo(system.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Test]
    public async Task Text_parts_are_the_same_prompt_as_the_joined_string()
    {
        var asString = await Ok(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a cat.\"}],\"max_tokens\":10,\"temperature\":0,\"ignore_eos\":true}");
        var asParts = await Ok(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tell me a story \"},{\"type\":\"text\",\"text\":\"about a \\\"cat\\\".\"}]}],\"max_tokens\":10,\"temperature\":0,\"ignore_eos\":true}");
        var escaped = await Ok(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a \\\"cat\\\".\"}],\"max_tokens\":10,\"temperature\":0,\"ignore_eos\":true}");
        await Assert.That(asParts.GetProperty("usage").GetProperty("prompt_tokens").GetInt32())
            .IsEqualTo(escaped.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        await Assert.That(asParts.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString())
            .IsEqualTo(escaped.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        await Assert.That(asString.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsGreaterThan(0);
    }

    [Test]
    [Arguments("max_tokens")]
    [Arguments("max_completion_tokens")]
    public async Task Max_tokens_and_max_completion_tokens_bound_the_completion(string field)
    {
        var body = await Ok(Chat, $"{{\"messages\":{User},\"{field}\":7,\"ignore_eos\":true}}");
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(7);
        await Assert.That(body.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
    }

    [Test]
    public async Task Max_completion_tokens_wins_over_max_tokens()
    {
        var body = await Ok(Chat, $"{{\"messages\":{User},\"max_tokens\":9,\"max_completion_tokens\":4,\"ignore_eos\":true}}");
        await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(4);
    }

    [Test]
    public async Task Same_seed_reproduces_a_sampled_completion_and_another_seed_changes_it()
    {
        string a = await ChatText(",\"temperature\":1.5,\"seed\":11", 24);
        string b = await ChatText(",\"temperature\":1.5,\"seed\":11", 24);
        string c = await ChatText(",\"temperature\":1.5,\"seed\":12", 24);
        await Assert.That(b).IsEqualTo(a);
        await Assert.That(c).IsNotEqualTo(a);
    }

    [Test]
    [Arguments(",\"top_k\":1")]
    [Arguments(",\"top_p\":0.000001")]
    [Arguments(",\"min_p\":1")]
    public async Task Truncating_samplers_down_to_one_token_give_the_greedy_text(string truncation)
    {
        string greedy = await ChatText(",\"temperature\":0", 16);
        string truncated = await ChatText(",\"temperature\":1.5,\"seed\":3" + truncation, 16);
        await Assert.That(truncated).IsEqualTo(greedy);
    }

    [Test]
    public async Task Top_k_minus_one_means_off()
    {
        string off = await ChatText(",\"temperature\":1.2,\"seed\":5", 16);
        string minusOne = await ChatText(",\"temperature\":1.2,\"seed\":5,\"top_k\":-1", 16);
        await Assert.That(minusOne).IsEqualTo(off);
    }

    [Test]
    public async Task Logit_bias_forces_a_token()
    {
        int token = Oracle.Encode(fixture.ModelDir, " cat")[^1];
        string text = await CompletionText("\"Once upon a time\"", $",\"temperature\":1,\"logit_bias\":{{\"{token}\":100}}", 6);
        await Assert.That(text).IsEqualTo(OpenAiWire.Detokenize(fixture.ModelDir, [token, token, token, token, token, token]));
    }

    [Test]
    [Arguments("presence_penalty", "2")]
    [Arguments("frequency_penalty", "2")]
    [Arguments("repetition_penalty", "3")]
    public async Task Penalties_change_a_seeded_sampled_completion(string penalty, string value)
    {
        // Same seed, same draws: only the penalty can move the sampled tokens (they repeat often in 32 tokens).
        const string sampled = ",\"temperature\":1.5,\"seed\":1";
        string plain = await CompletionText("\"Once upon a time\"", sampled, 32);
        string again = await CompletionText("\"Once upon a time\"", sampled, 32);
        string penalized = await CompletionText("\"Once upon a time\"", sampled + $",\"{penalty}\":{value}", 32);
        await Assert.That(again).IsEqualTo(plain);
        await Assert.That(penalized).IsNotEqualTo(plain);
    }

    [Test]
    public async Task User_and_text_response_format_and_tool_choice_none_are_accepted()
    {
        var body = await Ok(Chat, $"{{\"messages\":{User},\"max_tokens\":2,\"user\":\"u-1\",\"response_format\":{{\"type\":\"text\"}},\"tool_choice\":\"none\"}}");
        await Assert.That(body.GetProperty("choices").GetArrayLength()).IsEqualTo(1);
    }

    [Test]
    [Arguments("\"tool_choice\":\"auto\"", "tool_choice")]
    [Arguments("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", "tool_choice")]
    [Arguments("\"audio\":{\"voice\":\"alloy\",\"format\":\"wav\"}", "audio")]
    [Arguments("\"modalities\":[\"text\",\"audio\"]", "modalities")]
    [Arguments("\"top_logprobs\":21,\"logprobs\":true", "top_logprobs")]
    [Arguments("\"top_logprobs\":2", "top_logprobs")]
    [Arguments("\"temperature\":-1", "temperature")]
    [Arguments("\"top_p\":0", "top_p")]
    [Arguments("\"top_k\":-2", "top_k")]
    [Arguments("\"min_p\":2", "min_p")]
    [Arguments("\"presence_penalty\":3", "presence_penalty")]
    [Arguments("\"frequency_penalty\":-3", "frequency_penalty")]
    [Arguments("\"repetition_penalty\":0", "repetition_penalty")]
    [Arguments("\"logit_bias\":{\"99999999\":1}", "logit_bias")]
    [Arguments("\"logit_bias\":{\"1\":101}", "logit_bias")]
    [Arguments("\"stop\":[\"a\",\"\"]", "stop[1]")]
    [Arguments("\"seed\":\"x\"", "seed")]
    [Arguments("\"stream_options\":{\"include_usage\":3}", "stream_options.include_usage")]
    [Arguments("\"messages\":[]", "messages")]
    public async Task Unsupported_or_out_of_range_chat_parameter_is_400_naming_it(string field, string param)
    {
        string json = field.StartsWith("\"messages\"", StringComparison.Ordinal)
            ? $"{{{field},\"max_tokens\":2}}"
            : $"{{\"messages\":{User},\"max_tokens\":2,{field}}}";
        await Refused(Chat, json, param);
    }

    [Test]
    [Arguments("\"echo\":true", "echo")]
    [Arguments("\"suffix\":\"end\"", "suffix")]
    [Arguments("\"best_of\":3", "best_of")]
    [Arguments("\"logprobs\":21", "logprobs")]
    [Arguments("\"n\":0", "n")]
    public async Task Unsupported_completion_parameter_is_400_naming_it(string field, string param) =>
        await Refused(Completions, $"{{\"prompt\":\"hi\",\"max_tokens\":2,{field}}}", param);

    [Test]
    [Arguments("[\"a\",\"b\"]", "prompt")]
    [Arguments("[]", "prompt")]
    [Arguments("[1,2,999999]", "prompt[2]")]
    [Arguments("[[1,2]]", "prompt[0]")]
    public async Task Unusable_completion_prompt_is_400_naming_it(string prompt, string param) =>
        await Refused(Completions, $"{{\"prompt\":{prompt},\"max_tokens\":2}}", param);

    [Test]
    public async Task Echo_false_and_empty_suffix_are_accepted()
    {
        string text = await CompletionText("\"hello\"", ",\"echo\":false,\"suffix\":\"\"", 3);
        await Assert.That(text).IsNotNull();
    }
}
