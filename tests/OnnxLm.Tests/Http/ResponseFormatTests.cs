using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Tests.Constraints;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary><c>response_format</c> through HTTP on a random-weight model: every <c>stop</c> output validates against its
/// schema, a <c>length</c> finish is a prefix the grammar accepts, and schemas or fields it cannot honour are 400s.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class ResponseFormatTests(ServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"Answer in JSON.\"}]";

    static readonly string[] Schemas =
    [
        """{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}""",
        """{"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":4}""",
        """{"type":"object","properties":{"kind":{"enum":["cat","dog"]},"ok":{"type":"boolean"},"n":{"type":"number"}},"required":["kind","ok"]}""",
        """{"type":"string","pattern":"^[a-c]{2,5}$"}""",
        """{"anyOf":[{"type":"integer"},{"type":"null"}]}""",
    ];

    /// <summary>Counts finishes so the test proves it saw complete documents, not only cut ones.</summary>
    static async Task<int> CheckChoices(JsonElement body, JsonElement schema, JsonGrammar grammar, bool anyObject = false)
    {
        int stops = 0;
        foreach (var choice in body.GetProperty("choices").EnumerateArray())
        {
            string text = choice.GetProperty("message").GetProperty("content").GetString()!;
            string finish = choice.GetProperty("finish_reason").GetString()!;
            if (finish == "stop")
            {
                stops++;
                using var doc = JsonDocument.Parse(text);
                bool valid = anyObject ? doc.RootElement.ValueKind == JsonValueKind.Object : new ReferenceValidator(schema).IsValid(doc.RootElement);
                await Assert.That(valid).IsTrue().Because(text);
            }
            else
            {
                await Assert.That(finish).IsEqualTo("length");
                var matcher = new GrammarMatcher(grammar, ConstraintFixtures.Bytes);
                await Assert.That(matcher.TryAdvanceBytes(Encoding.UTF8.GetBytes(text))).IsTrue().Because(text);
            }
        }
        return stops;
    }

    [Test]
    public async Task Every_stop_output_validates_and_every_length_output_is_a_viable_prefix()
    {
        int stops = 0;
        foreach (var schemaText in Schemas)
        {
            using var schemaDoc = JsonDocument.Parse(schemaText);
            var grammar = JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(schemaText));
            for (int seed = 0; seed < 3; seed++)
            {
                foreach (var sampling in new[] { "\"temperature\":0", "\"temperature\":1,\"top_p\":0.9,\"n\":2" })
                {
                    var json = $"{{\"messages\":{User},\"max_tokens\":{(seed == 0 ? 6 : 160)},\"seed\":{seed},{sampling}," +
                        $"\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"answer\",\"strict\":true,\"schema\":{schemaText}}}}}}}";
                    var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, json);
                    await Assert.That(status).IsEqualTo(200).Because(body.ToString());
                    stops += await CheckChoices(body, schemaDoc.RootElement, grammar);
                }
            }
        }
        await Assert.That(stops).IsGreaterThan(5);
    }

    [Test]
    public async Task Streamed_deltas_concatenate_to_the_same_valid_document_as_the_non_streamed_answer()
    {
        string schemaText = Schemas[0];
        using var schemaDoc = JsonDocument.Parse(schemaText);
        var grammar = JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(schemaText));
        string Body(bool stream) => $"{{\"messages\":{User},\"max_tokens\":160,\"temperature\":0,\"stream\":{(stream ? "true" : "false")}," +
            $"\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"answer\",\"schema\":{schemaText}}}}}}}";
        var (status, whole) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, Body(false));
        await Assert.That(status).IsEqualTo(200);
        await CheckChoices(whole, schemaDoc.RootElement, grammar);

        using var response = await OpenAiWire.PostAsync(fixture.Client, Chat, Body(true));
        var text = new StringBuilder();
        string? finish = null;
        foreach (var data in OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync()))
        {
            if (data == "[DONE]") break;
            using var chunk = JsonDocument.Parse(data);
            foreach (var choice in chunk.RootElement.GetProperty("choices").EnumerateArray())
            {
                if (choice.GetProperty("delta").TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) text.Append(c.GetString());
                if (choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String) finish = f.GetString();
            }
        }
        var choice0 = whole.GetProperty("choices")[0];
        await Assert.That(text.ToString()).IsEqualTo(choice0.GetProperty("message").GetProperty("content").GetString());
        await Assert.That(finish).IsEqualTo(choice0.GetProperty("finish_reason").GetString());
    }

    [Test]
    public async Task Json_object_outputs_are_objects()
    {
        var grammar = JsonSchemaCompiler.Compile("{\"type\":\"object\"}"u8.ToArray());
        for (int seed = 0; seed < 3; seed++)
        {
            var json = $"{{\"messages\":{User},\"max_tokens\":120,\"seed\":{seed},\"temperature\":1,\"response_format\":{{\"type\":\"json_object\"}}}}";
            var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, json);
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            await CheckChoices(body, default, grammar, anyObject: true);
        }
    }

    [Test]
    [Arguments("{\"type\":\"json_schema\"}", "response_format.json_schema", "missing_required_parameter", "Missing required parameter: 'response_format.json_schema'.")]
    [Arguments("{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}", "response_format.json_schema.name", "missing_required_parameter", "Missing required parameter: 'response_format.json_schema.name'.")]
    [Arguments("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}", "response_format.json_schema.schema", "missing_required_parameter", "Missing required parameter: 'response_format.json_schema.schema'.")]
    [Arguments("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\",\"schema\":{}}}", "response_format.json_schema.name", "invalid_value", null)]
    [Arguments("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":[]}}", "response_format.json_schema.schema", "invalid_type", null)]
    [Arguments("{\"type\":\"xml\"}", "response_format.type", "invalid_value", null)]
    public async Task Malformed_response_formats_get_OpenAIs_error_shapes(string format, string param, string code, string? message)
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, $"{{\"messages\":{User},\"response_format\":{format}}}");
        await Assert.That(status).IsEqualTo(400);
        var error = body.GetProperty("error");
        await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
        await Assert.That(error.GetProperty("param").GetString()).IsEqualTo(param);
        await Assert.That(error.GetProperty("code").GetString()).IsEqualTo(code);
        if (message is not null) await Assert.That(error.GetProperty("message").GetString()).IsEqualTo(message);
    }

    [Test]
    public async Task An_unenforceable_keyword_is_a_400_naming_keyword_and_pointer()
    {
        const string schema = """{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true}}}""";
        var json = $"{{\"messages\":{User},\"response_format\":{{\"type\":\"json_schema\",\"json_schema\":{{\"name\":\"x\",\"schema\":{schema}}}}}}}";
        for (int attempt = 0; attempt < 2; attempt++)   // the second answer comes from the cached refusal
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, Chat, json);
            await Assert.That(status).IsEqualTo(400);
            var error = body.GetProperty("error");
            await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
            await Assert.That(error.GetProperty("param").GetString()).IsEqualTo("response_format");
            string message = error.GetProperty("message").GetString()!;
            await Assert.That(message).Contains("uniqueItems");
            await Assert.That(message).Contains("#/properties/tags");
        }
    }
}
