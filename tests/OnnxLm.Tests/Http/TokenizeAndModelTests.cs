using System.Net;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>POST /tokenize and /detokenize (vLLM's shapes) and GET /v1/models/{id}.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class TokenizeAndModelTests(ServerFixture fixture)
{
    [Test]
    public async Task Tokenize_matches_genai_and_detokenize_round_trips()
    {
        const string text = "The quick brown fox jumps over the lazy dog.";
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/tokenize", $"{{\"prompt\":{OpenAiWire.Json(text)}}}");
        await Assert.That(status).IsEqualTo(200);
        var tokens = body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await Assert.That(tokens).IsEquivalentTo(Oracle.Encode(fixture.ModelDir, text));
        await Assert.That(body.GetProperty("count").GetInt32()).IsEqualTo(tokens.Length);
        await Assert.That(body.GetProperty("max_model_len").GetInt32()).IsEqualTo(fixture.Server.Engine.ContextLength);

        var (status2, back) = await OpenAiWire.PostJsonAsync(fixture.Client, "/detokenize", $"{{\"tokens\":{OpenAiWire.Ids(tokens)}}}");
        await Assert.That(status2).IsEqualTo(200);
        await Assert.That(back.GetProperty("prompt").GetString()).IsEqualTo(text);
    }

    [Test]
    public async Task Tokenize_messages_counts_what_a_chat_completion_bills()
    {
        const string messages = "[{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":\"user\",\"content\":\"Hello there\"}]";
        var (_, tokenized) = await OpenAiWire.PostJsonAsync(fixture.Client, "/tokenize", $"{{\"messages\":{messages}}}");
        var (_, completion) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/chat/completions", $"{{\"messages\":{messages},\"max_tokens\":1}}");
        await Assert.That(tokenized.GetProperty("count").GetInt32()).IsEqualTo(completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var expected = Oracle.Encode(fixture.ModelDir, Oracle.ApplyChatTemplate(fixture.ModelDir, messages, addGenerationPrompt: true));
        await Assert.That(tokenized.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray()).IsEquivalentTo(expected);
    }

    [Test]
    public async Task Tokenize_messages_without_generation_prompt_matches_genai()
    {
        const string messages = "[{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":\"Hi\"}]";
        var (status, tokenized) = await OpenAiWire.PostJsonAsync(fixture.Client, "/tokenize", $"{{\"messages\":{messages},\"add_generation_prompt\":false}}");
        await Assert.That(status).IsEqualTo(200);
        var expected = Oracle.Encode(fixture.ModelDir, Oracle.ApplyChatTemplate(fixture.ModelDir, messages, addGenerationPrompt: false));
        await Assert.That(tokenized.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray()).IsEquivalentTo(expected);
    }

    [Test]
    [Arguments("/tokenize", "{}", "prompt")]
    [Arguments("/tokenize", "{\"prompt\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"b\"}]}", "messages")]
    [Arguments("/detokenize", "{\"tokens\":[1,-4]}", "tokens[1]")]
    [Arguments("/detokenize", "{\"tokens\":[1,99999999]}", "tokens[1]")]
    [Arguments("/detokenize", "{\"tokens\":\"abc\"}", "tokens")]
    [Arguments("/detokenize", "{}", "tokens")]
    public async Task Bad_tokenize_requests_are_400_naming_the_field(string path, string json, string param)
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, path, json);
        await Assert.That(status).IsEqualTo(400);
        await Assert.That(body.GetProperty("error").GetProperty("param").GetString()).IsEqualTo(param);
    }

    [Test]
    public async Task Model_by_id_answers_the_served_model_and_404_otherwise()
    {
        string id = fixture.Server.Engine.ModelId;
        using var ok = await fixture.Client.GetAsync("/v1/models/" + id);
        await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
        var model = await OpenAiWire.JsonBodyAsync(ok);
        await Assert.That(model.GetProperty("id").GetString()).IsEqualTo(id);
        await Assert.That(model.GetProperty("object").GetString()).IsEqualTo("model");
        await Assert.That(model.GetProperty("owned_by").GetString()).IsEqualTo("onnxlm");

        using var missing = await fixture.Client.GetAsync("/v1/models/gpt-4o");
        await Assert.That(missing.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        var error = (await OpenAiWire.JsonBodyAsync(missing)).GetProperty("error");
        await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("model_not_found");
    }

    [Test]
    public async Task Completions_naming_another_model_are_404_model_not_found()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, "/v1/completions", "{\"model\":\"davinci\",\"prompt\":\"x\"}");
        await Assert.That(status).IsEqualTo(404);
        await Assert.That(body.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("model_not_found");
    }

    [Test]
    public async Task Probes_answer_while_serving()
    {
        foreach (string path in new[] { "/health", "/livez", "/readyz" })
        {
            using var response = await fixture.Client.GetAsync(path);
            await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
            await Assert.That((await OpenAiWire.JsonBodyAsync(response)).GetProperty("status").ValueKind).IsEqualTo(JsonValueKind.String);
        }
    }
}
