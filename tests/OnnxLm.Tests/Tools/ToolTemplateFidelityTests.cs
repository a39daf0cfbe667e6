using System.Text.Json.Nodes;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Text;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// Tool definitions reach each family's real template in the shape transformers passes them (OpenAI's
/// <c>[{"type":"function","function":{...}}]</c> list): onnxlm's render (GenAI's renderer, tools passed as the client
/// sent them) equals Hugging Face's JavaScript Jinja given the same <c>tools</c>, for plain turns, earlier calls and
/// tool results. (GenAI's <c>tojson(indent=...)</c> prints an empty object over three lines where Python prints
/// <c>{}</c>, so Llama 3.x renders of a tool with <c>"properties": {}</c> differ in that whitespace; the tools here
/// have properties.)
/// </summary>
public sealed class ToolTemplateFidelityTests
{
    public static IEnumerable<Func<RealFamily>> FamiliesWithToolTemplates() =>
        new[] { RealFamilies.Qwen25, RealFamilies.Qwen25JinjaFile, RealFamilies.Llama32, RealFamilies.Qwen3 }.Select(f => (Func<RealFamily>)(() => f));

    internal const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"],"additionalProperties":false},"strict":true}},{"type":"function","function":{"name":"now","description":"The current time.","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}]""";

    static readonly (string Name, string Messages)[] Conversations =
    [
        ("user-only", """[{"role":"user","content":"Weather in Paris?"}]"""),
        ("system-user", """[{"role":"system","content":"You are terse."},{"role":"user","content":"Weather in Paris?"}]"""),
        ("call-and-result", """[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},{"role":"tool","tool_call_id":"call_1","content":"{\"temp\": 21}"}]"""),
    ];

    [Test]
    [MethodDataSource(nameof(FamiliesWithToolTemplates))]
    public async Task Tools_render_as_Hugging_Face_Jinja_renders_them(RealFamily family)
    {
        string model = await family.ModelAsync();
        using var encoder = new PromptEncoder(model);
        string template = encoder.ChatTemplate.Template!;
        var context = ChatTemplateFidelityTests.SpecialTokenContext(Path.Combine(model, "tokenizer_config.json"));
        var cases = new JsonArray();
        foreach (var (_, messages) in Conversations)
        {
            var c = context.DeepClone().AsObject();
            c["messages"] = JsonNode.Parse(messages);
            c["tools"] = JsonNode.Parse(Tools);
            c["add_generation_prompt"] = true;
            cases.Add(new JsonObject { ["template"] = template, ["context"] = c });
        }
        var reference = await ChatTemplateFidelityTests.RenderReferenceAsync(cases);
        for (int i = 0; i < Conversations.Length; i++)
        {
            var (name, messages) = Conversations[i];
            var expected = reference[i]!.AsObject();
            await Assert.That(expected["error"]).IsNull().Because($"{family}/{name}: the reference renders");
            string ours = encoder.ApplyChatTemplate(messages, toolsJson: Tools);
            await Assert.That(ours).IsEqualTo(expected["text"]!.GetValue<string>()).Because($"{family}/{name}");
            // The definitions are really in the prompt (a template that ignored tools would pass the equality too).
            await Assert.That(ours).Contains("get_weather").And.Contains("Current weather for a city.");
        }
    }
}
