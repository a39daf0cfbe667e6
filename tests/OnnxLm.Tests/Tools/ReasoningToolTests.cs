using System.Text.Json;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// A reasoning model with tools (DeepSeek-R1-Distill's template and added tokens, the deepseek-r1 call format spelled
/// in bytes): the thought is free text in <c>reasoning_content</c>, then the required call is enforced and returned as
/// <c>tool_calls</c>, streamed or not.
/// </summary>
public sealed class ReasoningToolTests
{
    const int CloseThink = 151649;

    [Test]
    public async Task The_call_follows_the_thought_and_the_thought_stays_out_of_it()
    {
        string model = await RealFamilies.DeepSeekR1Distill.ModelAsync(contextLength: 2048);
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = model);
        using var client = ServerFixture.CreateClient(server);
        // A logit_bias on </think> closes the thought after a few tokens' worth of chance; min length comes from the seed.
        string Body(bool stream) => "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Oslo?\"}],\"tools\":" + ToolCallingTests.Tools +
            ",\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"max_tokens\":400,\"temperature\":1,\"seed\":4," +
            $"\"logit_bias\":{{\"{CloseThink}\":12}},\"stream\":{(stream ? "true" : "false")}}}";
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions", Body(false));
        await Assert.That(status).IsEqualTo(200).Because(body.ToString());
        var choice = body.GetProperty("choices")[0];
        await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls").Because(body.ToString());
        var message = choice.GetProperty("message");
        var call = message.GetProperty("tool_calls")[0].GetProperty("function");
        string name = call.GetProperty("name").GetString()!;
        await Assert.That(new[] { "get_weather", "now", "get_weather_alerts" }).Contains(name);
        using (JsonDocument.Parse(call.GetProperty("arguments").GetString()!)) { }
        await Assert.That(message.GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
        string thought = message.GetProperty("reasoning_content").ValueKind == JsonValueKind.String ? message.GetProperty("reasoning_content").GetString()! : "";
        await Assert.That(thought).DoesNotContain("tool▁call");

        using var response = await OpenAiWire.PostAsync(client, "/v1/chat/completions", Body(true));
        string? streamedName = null;
        var args = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        foreach (string data in OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync()))
        {
            if (data == "[DONE]") break;
            using var chunk = JsonDocument.Parse(data);
            var delta = chunk.RootElement.GetProperty("choices")[0].GetProperty("delta");
            if (delta.TryGetProperty("reasoning_content", out var r)) reasoning.Append(r.GetString());
            if (!delta.TryGetProperty("tool_calls", out var calls)) continue;
            var f = calls[0].GetProperty("function");
            if (f.TryGetProperty("name", out var n)) streamedName = n.GetString();
            args.Append(f.GetProperty("arguments").GetString());
        }
        await Assert.That(streamedName).IsEqualTo(name);
        await Assert.That(args.ToString()).IsEqualTo(call.GetProperty("arguments").GetString());
        await Assert.That(reasoning.ToString()).IsEqualTo(thought);
    }
}
