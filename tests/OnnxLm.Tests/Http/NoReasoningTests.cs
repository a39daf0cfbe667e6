using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>A model without <c>&lt;think&gt;</c> tokens: the response has no reasoning field anywhere.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class NoReasoningTests(ServerFixture fixture)
{
    [Test]
    public async Task A_model_without_think_tokens_has_no_reasoning_content_field()
    {
        const string body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true";
        using var response = await OpenAiWire.PostAsync(fixture.Client, "/v1/chat/completions", body + "}");
        string raw = await response.Content.ReadAsStringAsync();
        var message = JsonDocument.Parse(raw).RootElement.GetProperty("choices")[0].GetProperty("message");
        await Assert.That(message.GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.String);
        await Assert.That(raw).DoesNotContain("reasoning_content");
        using var streamed = await OpenAiWire.PostAsync(fixture.Client, "/v1/chat/completions", body + ",\"stream\":true}");
        string wire = await streamed.Content.ReadAsStringAsync();
        await Assert.That(wire).Contains("\"content\"");
        await Assert.That(wire).DoesNotContain("reasoning_content");
    }
}
