using System.Text.Json;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// <c>/tokenize</c> with <c>tools</c> counts the prompt a chat request with the same tools gets (clients budget their
/// context with it), and refuses tools beside a plain prompt.
/// </summary>
[ClassDataSource<ToolServer>(Shared = SharedType.PerTestSession)]
public class ToolTokenizeTests(ToolServer server)
{
    const string Messages = """[{"role":"user","content":"What is the weather in Paris?"}]""";

    [Test]
    public async Task Tokenize_with_tools_counts_what_a_chat_request_with_those_tools_is_charged()
    {
        using var withTools = await OpenAiWire.PostAsync(server.Client, "/tokenize", $"{{\"messages\":{Messages},\"tools\":{ToolCallingTests.Tools}}}");
        string withBody = await withTools.Content.ReadAsStringAsync();
        await Assert.That((int)withTools.StatusCode).IsEqualTo(200).Because(withBody);
        using var without = await OpenAiWire.PostAsync(server.Client, "/tokenize", $"{{\"messages\":{Messages}}}");
        using var chat = await OpenAiWire.PostAsync(server.Client, "/v1/chat/completions",
            $"{{\"messages\":{Messages},\"tools\":{ToolCallingTests.Tools},\"max_tokens\":1,\"temperature\":0}}");
        string chatBody = await chat.Content.ReadAsStringAsync();
        await Assert.That((int)chat.StatusCode).IsEqualTo(200).Because(chatBody);

        int counted = JsonDocument.Parse(withBody).RootElement.GetProperty("count").GetInt32();
        int bare = JsonDocument.Parse(await without.Content.ReadAsStringAsync()).RootElement.GetProperty("count").GetInt32();
        int charged = JsonDocument.Parse(chatBody).RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        await Assert.That(counted).IsEqualTo(charged);
        await Assert.That(counted).IsGreaterThan(bare + 50);   // the three definitions are in the prompt
    }

    [Test]
    public async Task Tokenize_refuses_tools_beside_a_prompt_and_bad_tools_as_chat_does()
    {
        using var prompt = await OpenAiWire.PostAsync(server.Client, "/tokenize", $"{{\"prompt\":\"hi\",\"tools\":{ToolCallingTests.Tools}}}");
        await Assert.That((int)prompt.StatusCode).IsEqualTo(400);
        await Assert.That(await prompt.Content.ReadAsStringAsync()).Contains("\"param\":\"tools\"");
        using var bad = await OpenAiWire.PostAsync(server.Client, "/tokenize", $"{{\"messages\":{Messages},\"tools\":{{}}}}");
        await Assert.That((int)bad.StatusCode).IsEqualTo(400);
        await Assert.That(await bad.Content.ReadAsStringAsync()).Contains("expected an array");
    }
}
