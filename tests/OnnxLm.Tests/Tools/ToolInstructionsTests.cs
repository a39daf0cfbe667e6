using System.Text;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Text;
using OnnxLm.Http;
using OnnxLm.Http.Parsing;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// A template that never reads <c>tools</c> (Gemma 3) would drop the definitions: the server then adds them, with the
/// call format, to the system message (or as one). Proven on the prompt the engine ran: its token count equals the
/// template's render of the conversation with that system text, and differs from the render without it.
/// </summary>
public sealed class ToolInstructionsTests
{
    const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":8}},"required":["city"]}}}]""";

    [Test]
    public async Task Gemma_gets_the_tools_as_system_text_merged_or_inserted()
    {
        string model = await RealFamilies.Gemma3.ModelAsync();
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = model);
        using var client = ServerFixture.CreateClient(server);
        using var encoder = new PromptEncoder(model);
        await Assert.That(encoder.ChatTemplate.Template!).DoesNotContain("tools");

        foreach (string messages in new[]
        {
            """[{"role":"user","content":"Weather in Oslo?"}]""",
            """[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in Oslo?"}]""",
        })
        {
            string request = $"{{\"messages\":{messages},\"tools\":{Tools},\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"max_tokens\":60,\"seed\":1}}";
            var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", request);
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            int promptTokens = body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
            var call = body.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
            await Assert.That(call.GetProperty("name").GetString()).IsEqualTo("get_weather");

            // The expected conversation: the instructions joined to the system message, or a system message of their own.
            byte[] json = Encoding.UTF8.GetBytes(request);
            var parsed = new ChatCompletionBody();
            await Assert.That(ChatCompletionBody.TryParse(json, parsed, out _)).IsTrue();
            string instructions = ToolRequest.Read(server.Engine, ToolCallFormat.Generic, json, parsed)!.Instructions!;
            await Assert.That(instructions).Contains("get_weather").And.Contains("{\"tool_calls\": [{\"name\": \"FUNCTION_NAME\"");
            var list = JsonNode.Parse(messages)!.AsArray();
            if (list[0]!["role"]!.GetValue<string>() == "system") list[0]!["content"] = list[0]!["content"]!.GetValue<string>() + "\n\n" + instructions;
            else list.Insert(0, new JsonObject { ["role"] = "system", ["content"] = instructions });
            int expected = encoder.Encode(encoder.ApplyChatTemplate(list.ToJsonString())).Length;
            int without = encoder.Encode(encoder.ApplyChatTemplate(messages)).Length;
            await Assert.That(promptTokens).IsEqualTo(expected);
            await Assert.That(promptTokens).IsGreaterThan(without + 20);
        }
    }
}
