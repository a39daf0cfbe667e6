using System.Text;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Regressions from the fuzz corpus: a null message, raw invalid UTF-8 and escaped unpaired surrogates in string fields
/// were 500s (NullReferenceException; STJ's lazy string decoding throwing InvalidOperationException). They are the
/// client's fault: 400 naming the field.
/// </summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class InvalidTextFieldTests(ConformanceServerFixture fixture)
{
    const string Chat = "/v1/chat/completions";
    const string Completions = "/v1/completions";
    const string User = "[{\"role\":\"user\",\"content\":\"hi\"}]";

    [Test]
    [Arguments(Chat, "{\"messages\":[null]}", "messages[0]")]
    [Arguments(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\ud800b\"}]}", "messages[0].content")]
    [Arguments(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\\udc00\"}]}]}", "messages[0].content[0].text")]
    [Arguments(Chat, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"\\ud800\"}]}]}", "messages[0].content[0].type")]
    [Arguments(Chat, "{\"messages\":" + User + ",\"stop\":\"\\ud800\"}", "stop")]
    [Arguments(Chat, "{\"messages\":" + User + ",\"stop\":[\"ok\",\"\\ud800\"]}", "stop[1]")]
    [Arguments(Chat, "{\"messages\":" + User + ",\"tool_choice\":\"\\ud800\"}", "tool_choice")]
    [Arguments(Completions, "{\"prompt\":\"\\ud800\"}", "prompt")]
    [Arguments(Completions, "{\"prompt\":[\"\\ud800\"]}", "prompt[0]")]
    public async Task Unusable_text_in_a_string_field_is_400_naming_it(string path, string json, string param)
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(fixture.Client, path, json);
        await Assert.That(status).IsEqualTo(400);
        await Assert.That(body.GetProperty("error").GetProperty("param").GetString()).IsEqualTo(param);
    }

    [Test]
    public async Task Raw_invalid_utf8_in_message_content_is_400_naming_it()
    {
        byte[] body = [.. "{\"messages\":[{\"role\":\"user\",\"content\":\"a"u8, 0xFF, 0xFE, .. "b\"}]}"u8];
        using var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        using var response = await fixture.Client.PostAsync(Chat, content);
        var json = await OpenAiWire.JsonBodyAsync(response);
        await Assert.That((int)response.StatusCode).IsEqualTo(400);
        await Assert.That(json.GetProperty("error").GetProperty("param").GetString()).IsEqualTo("messages[0].content");
        await Assert.That(Encoding.UTF8.GetString(body)).Contains("\uFFFD");   // the body really is not UTF-8
    }
}
