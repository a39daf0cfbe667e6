using System.Net;
using System.Text;
using System.Text.Json;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Every refusal leaves as <c>{"error":{"message","type","param","code"}}</c> with the right status and, where the fault
/// is in one field, that field's name in <c>param</c> (OPENAI.md: clients parse this body for every non-2xx status).
/// </summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class ErrorResponseTests(ServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"hi\"}]";

    /// <summary>Checks the error envelope and returns the inner error object.</summary>
    static async Task<JsonElement> AssertError(HttpResponseMessage response, HttpStatusCode status, string? param = null, string? code = null)
    {
        await Assert.That(response.StatusCode).IsEqualTo(status);
        var body = await OpenAiWire.JsonBodyAsync(response);
        await Assert.That(body.EnumerateObject().Select(p => p.Name).ToArray()).IsEquivalentTo(new[] { "error" });
        var error = body.GetProperty("error");
        await Assert.That(error.EnumerateObject().Select(p => p.Name).Order().ToArray()).IsEquivalentTo(new[] { "code", "message", "param", "type" });
        await Assert.That(error.GetProperty("message").GetString()).IsNotNull().And.IsNotEmpty();
        await Assert.That(error.GetProperty("type").GetString()).IsNotNull().And.IsNotEmpty();
        if (param is not null) await Assert.That(error.GetProperty("param").GetString()).IsEqualTo(param);
        else await Assert.That(error.GetProperty("param").ValueKind is JsonValueKind.Null or JsonValueKind.String).IsTrue();
        if (code is not null) await Assert.That(error.GetProperty("code").GetString()).IsEqualTo(code);
        return error;
    }

    async Task<JsonElement> PostExpectingError(string path, string json, HttpStatusCode status, string? param = null, string? code = null)
    {
        using var response = await OpenAiWire.PostAsync(fixture.Client, path, json);
        return await AssertError(response, status, param, code);
    }

    [Test]
    public async Task Malformed_json_is_400_invalid_request()
    {
        var error = await PostExpectingError(Chat, "{\"messages\": [", HttpStatusCode.BadRequest);
        await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
        await Assert.That(error.GetProperty("param").ValueKind).IsEqualTo(JsonValueKind.Null);
        await Assert.That(error.GetProperty("message").GetString()).Contains("not valid JSON");
    }

    [Test]
    public async Task Wrongly_typed_field_is_400_naming_the_field()
    {
        var error = await PostExpectingError(Chat, $"{{\"messages\":{User},\"temperature\":\"hot\"}}", HttpStatusCode.BadRequest, "temperature");
        await Assert.That(error.GetProperty("message").GetString()).Contains("'temperature'");
    }

    [Test]
    public async Task Wrongly_typed_nested_field_is_400_naming_its_path() =>
        await PostExpectingError(Chat, "{\"messages\":[{\"role\":5,\"content\":\"hi\"}]}", HttpStatusCode.BadRequest, "messages[0].role");

    [Test]
    [Arguments("[]")]
    [Arguments("null")]
    [Arguments("")]
    public async Task Body_that_is_not_an_object_is_400(string json) =>
        await PostExpectingError(Chat, json, HttpStatusCode.BadRequest);

    [Test]
    public async Task Missing_messages_is_400_with_param_messages() =>
        await PostExpectingError(Chat, "{\"max_tokens\":3}", HttpStatusCode.BadRequest, "messages");

    [Test]
    public async Task Unknown_model_is_404_model_not_found() =>
        await PostExpectingError(Chat, $"{{\"model\":\"gpt-17\",\"messages\":{User}}}", HttpStatusCode.NotFound, "model", "model_not_found");

    [Test]
    public async Task Served_model_name_is_accepted()
    {
        var (status, _) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat,
            $"{{\"model\":{OpenAiWire.Json(fixture.Server.Engine.ModelId)},\"messages\":{User},\"max_tokens\":2}}");
        await Assert.That(status).IsEqualTo(200);
    }

    [Test]
    public async Task Token_prompt_longer_than_the_context_is_400_context_length_exceeded()
    {
        var prompt = EngineDriver.RandomPrompt(1, fixture.Server.Engine.ContextLength + 10);
        await PostExpectingError("/v1/completions", $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":4}}",
            HttpStatusCode.BadRequest, code: "context_length_exceeded");
    }

    [Test]
    public async Task Chat_prompt_plus_max_tokens_over_the_context_is_400_context_length_exceeded() =>
        await PostExpectingError(Chat, $"{{\"messages\":{User},\"max_tokens\":{fixture.Server.Engine.ContextLength}}}",
            HttpStatusCode.BadRequest, "max_tokens", "context_length_exceeded");

    [Test]
    public async Task Long_chat_message_over_the_context_is_400_context_length_exceeded()
    {
        string content = string.Concat(Enumerable.Repeat("many words of text ", 400));
        await PostExpectingError(Chat, $"{{\"messages\":[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(content)}}}]}}",
            HttpStatusCode.BadRequest, "messages", "context_length_exceeded");
    }

    [Test]
    [Arguments("max_tokens")]
    [Arguments("max_completion_tokens")]
    public async Task Prompt_alone_over_the_context_blames_the_prompt_even_with_max_tokens_set(string field)
    {
        // max_tokens 1 cannot be what made this too long: the param must point at what the client has to shorten.
        string content = string.Concat(Enumerable.Repeat("many words of text ", 400));
        await PostExpectingError(Chat, $"{{\"messages\":[{{\"role\":\"user\",\"content\":{OpenAiWire.Json(content)}}}],\"{field}\":1}}",
            HttpStatusCode.BadRequest, "messages", "context_length_exceeded");
        var prompt = EngineDriver.RandomPrompt(1, fixture.Server.Engine.ContextLength + 10);
        await PostExpectingError("/v1/completions", $"{{\"prompt\":{OpenAiWire.Ids(prompt)},\"max_tokens\":1}}",
            HttpStatusCode.BadRequest, "prompt", "context_length_exceeded");
    }

    [Test]
    [Arguments("\"\"")]
    [Arguments("[\"\"]")]
    public async Task Empty_prompt_is_400_naming_prompt_not_a_length_error(string prompt)
    {
        var error = await PostExpectingError("/v1/completions", $"{{\"prompt\":{prompt},\"max_tokens\":2}}", HttpStatusCode.BadRequest, "prompt");
        await Assert.That(error.GetProperty("message").GetString()).IsEqualTo("prompt must not be empty");
        await Assert.That(error.GetProperty("code").ValueKind).IsEqualTo(JsonValueKind.Null);
    }

    [Test]
    [Arguments("max_tokens")]
    [Arguments("max_completion_tokens")]
    public async Task Zero_max_tokens_is_400(string field) =>
        await PostExpectingError(Chat, $"{{\"messages\":{User},\"{field}\":0}}", HttpStatusCode.BadRequest, field);

    [Test]
    public async Task Image_content_part_is_400_naming_the_part_type() =>
        await PostExpectingError(Chat,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}}]}]}",
            HttpStatusCode.BadRequest, "messages[0].content[0].type");

    [Test]
    public async Task Tools_that_are_not_an_array_are_refused_with_param_tools() =>
        await PostExpectingError(Chat,
            $"{{\"messages\":{User},\"tools\":{{\"type\":\"function\",\"function\":{{\"name\":\"f\",\"parameters\":{{}}}}}}}}",
            HttpStatusCode.BadRequest, "tools", "invalid_type");

    [Test]
    [Arguments(0)]
    [Arguments(-1)]
    [Arguments(1000)]
    public async Task N_below_one_or_above_the_batch_is_refused_with_param_n(int n) =>
        await PostExpectingError(Chat, $"{{\"messages\":{User},\"n\":{n}}}", HttpStatusCode.BadRequest, "n");

    [Test]
    public async Task Wrong_content_type_is_415()
    {
        using var request = OpenAiWire.Post(Chat, $"{{\"messages\":{User}}}", "text/plain");
        using var response = await fixture.Client.SendAsync(request);
        await AssertError(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Test]
    [Arguments("/v1/chat/completions")]
    [Arguments("/v1/completions")]
    public async Task Get_on_a_post_route_is_405_in_openai_shape(string path)
    {
        using var response = await fixture.Client.GetAsync(path);
        await AssertError(response, HttpStatusCode.MethodNotAllowed);
        await Assert.That(response.Content.Headers.Allow).Contains("POST");
    }

    [Test]
    public async Task Unknown_path_is_404_in_openai_shape()
    {
        using var response = await fixture.Client.GetAsync("/v1/engines");
        var error = await AssertError(response, HttpStatusCode.NotFound);
        await Assert.That(error.GetProperty("message").GetString()).Contains("/v1/engines");
    }

    [Test]
    public async Task Body_over_the_size_limit_without_content_length_is_413()
    {
        // Chunked, so only Kestrel's body-size limit (not the Content-Length check) can catch it.
        var payload = new byte[(int)OnnxLm.Hosting.ServeOptions.DefaultMaxRequestBytes + 1024];
        Array.Fill(payload, (byte)' ');
        using var request = new HttpRequestMessage(HttpMethod.Post, Chat) { Content = new StreamContent(new MemoryStream(payload)) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.TransferEncodingChunked = true;
        using var response = await fixture.Client.SendAsync(request);
        await AssertError(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Test]
    public async Task Empty_stop_string_is_400_with_param_stop() =>
        await PostExpectingError(Chat, $"{{\"messages\":{User},\"stop\":\"\"}}", HttpStatusCode.BadRequest, "stop");

    [Test]
    public async Task Out_of_range_temperature_is_400_naming_it() =>
        await PostExpectingError(Chat, $"{{\"messages\":{User},\"temperature\":7}}", HttpStatusCode.BadRequest, "temperature");

    [Test]
    public async Task Error_before_streaming_is_plain_json_not_sse()
    {
        using var response = await OpenAiWire.PostAsync(fixture.Client, Chat, $"{{\"messages\":{User},\"stream\":true,\"n\":0}}");
        await AssertError(response, HttpStatusCode.BadRequest, "n");
        await Assert.That(Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync())).DoesNotContain("data:");
    }
}
