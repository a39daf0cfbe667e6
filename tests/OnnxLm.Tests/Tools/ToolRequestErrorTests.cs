using System.Net;
using System.Text.Json;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Tools;

/// <summary>Bad <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c> get OpenAI's 400 shape naming the offending
/// value; a parameters schema the decoder cannot enforce names the keyword and its JSON pointer.</summary>
[ClassDataSource<ToolServer>(Shared = SharedType.PerTestSession)]
public class ToolRequestErrorTests(ToolServer server)
{
    const string User = """[{"role":"user","content":"hi"}]""";
    const string Weather = """{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}""";

    async Task<JsonElement> Error(string fields, string param, string? code = null)
    {
        using var response = await OpenAiWire.PostAsync(server.Client, "/v1/chat/completions", $"{{\"messages\":{User},\"max_tokens\":4,{fields}}}");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        var body = await OpenAiWire.JsonBodyAsync(response);
        var error = body.GetProperty("error");
        await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
        await Assert.That(error.GetProperty("param").GetString()).IsEqualTo(param);
        if (code is not null) await Assert.That(error.GetProperty("code").GetString()).IsEqualTo(code);
        return error;
    }

    [Test]
    [Arguments("\"tools\":{\"type\":\"function\"}", "tools", "invalid_type")]
    [Arguments("\"tools\":[]", "tools", "empty_array")]
    [Arguments("\"tools\":[3]", "tools[0]", "invalid_type")]
    [Arguments("\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"x\"}}]", "tools[0].type", "invalid_value")]
    [Arguments("\"tools\":[{\"type\":\"function\"}]", "tools[0].function", "missing_required_parameter")]
    [Arguments("\"tools\":[{\"type\":\"function\",\"function\":{}}]", "tools[0].function.name", "missing_required_parameter")]
    [Arguments("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get weather\"}}]", "tools[0].function.name", "invalid_value")]
    [Arguments("\"tools\":[" + Weather + "," + Weather + "]", "tools[1].function.name", "invalid_value")]
    [Arguments("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]", "tools[0].function.parameters", "invalid_type")]
    [Arguments("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"string\"}}}]", "tools[0].function.parameters", "invalid_function_parameters")]
    [Arguments("\"tools\":[" + Weather + "],\"tool_choice\":\"sometimes\"", "tool_choice", "invalid_value")]
    [Arguments("\"tools\":[" + Weather + "],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"other\"}}", "tool_choice.function.name", "invalid_value")]
    [Arguments("\"tools\":[" + Weather + "],\"tool_choice\":{\"type\":\"function\"}", "tool_choice.function", "missing_required_parameter")]
    [Arguments("\"tools\":[" + Weather + "],\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"always\",\"tools\":[]}}", "tool_choice.allowed_tools.mode", "invalid_value")]
    [Arguments("\"tools\":[" + Weather + "],\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"x\"}}]}}", "tool_choice.allowed_tools.tools[0].function.name", "invalid_value")]
    [Arguments("\"tools\":[" + Weather + "],\"parallel_tool_calls\":\"yes\"", "parallel_tool_calls", "invalid_type")]
    [Arguments("\"tool_choice\":\"required\"", "tool_choice", null)]
    public async Task Bad_tool_fields_are_400s_naming_the_value(string fields, string param, string? code) =>
        await Error(fields, param, code);

    [Test]
    public async Task A_parameters_keyword_that_cannot_be_enforced_names_the_keyword_and_its_pointer()
    {
        var error = await Error("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"not\":{\"const\":\"x\"}}}}}}]",
            "tools[0].function.parameters", "invalid_function_parameters");
        string message = error.GetProperty("message").GetString()!;
        await Assert.That(message).Contains("'f'");
        await Assert.That(message).Contains("'not'");
        await Assert.That(message).Contains("#/properties/a");
    }

    [Test]
    public async Task Tool_choice_none_and_tools_with_a_response_format_are_accepted()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, "/v1/chat/completions",
            $"{{\"messages\":{User},\"max_tokens\":4,\"tools\":[{Weather}],\"tool_choice\":\"none\",\"parallel_tool_calls\":false}}");
        await Assert.That(status).IsEqualTo(200).Because(body.ToString());
        (status, body) = await OpenAiWire.PostJsonAsync(server.Client, "/v1/chat/completions",
            $"{{\"messages\":{User},\"max_tokens\":40,\"tools\":[{Weather}],\"response_format\":{{\"type\":\"json_object\"}},\"seed\":1}}");
        await Assert.That(status).IsEqualTo(200).Because(body.ToString());
        var message = body.GetProperty("choices")[0].GetProperty("message");
        if (!message.TryGetProperty("tool_calls", out _) && body.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "stop")
        {
            using var doc = JsonDocument.Parse(message.GetProperty("content").GetString()!);
            await Assert.That(doc.RootElement.ValueKind).IsEqualTo(JsonValueKind.Object);
        }
    }
}
