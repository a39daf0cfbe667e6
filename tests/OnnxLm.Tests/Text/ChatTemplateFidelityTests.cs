using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Conformance;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Text;

/// <summary>
/// Each family's real chat template, rendered by onnxlm (GenAI's renderer, fed the template and the messages whole) and
/// by Hugging Face's own JavaScript Jinja with the context transformers' <c>apply_chat_template</c> passes: the texts must
/// be equal, and a template that raises must raise for us too, with its own message.
/// </summary>
public sealed class ChatTemplateFidelityTests
{
    public static IEnumerable<Func<RealFamily>> FamiliesWithTemplates() =>
        RealFamilies.All.Where(f => f != RealFamilies.Llama2NoTemplate && f != RealFamilies.Llama2).Select(f => (Func<RealFamily>)(() => f));

    /// <summary>Conversations in the shape Hugging Face templates receive (tool-call arguments as objects).</summary>
    static readonly (string Name, string Messages)[] Conversations =
    [
        ("system-user", """[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Name three primes."}]"""),
        ("user-only", """[{"role":"user","content":"Hello there"}]"""),
        ("multi-turn", """[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello! How can I help?"},{"role":"user","content":"Tell me a joke."}]"""),
        ("multibyte", """[{"role":"system","content":"Réponds en français."},{"role":"user","content":"Grüße — 日本語 🙂 «ok»\n\ttabs"}]"""),
        ("tool-call", """[{"role":"system","content":"You can call tools."},{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris","unit":"celsius"}}}]},{"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"{\"temp\": 21}"},{"role":"user","content":"Thanks"}]"""),
        ("roles-not-alternating", """[{"role":"user","content":"a"},{"role":"user","content":"b"}]"""),
        ("assistant-last", """[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]"""),
    ];

    [Test]
    [MethodDataSource(nameof(FamiliesWithTemplates))]
    public async Task Renders_equal_Hugging_Face_Jinja_for_every_conversation(RealFamily family)
    {
        string model = await family.ModelAsync();
        using var encoder = new PromptEncoder(model);
        string template = encoder.ChatTemplate.Template ?? throw new InvalidOperationException($"{family} has no template");
        // The template as the server resolved it: a chat_template.jinja file's final newline is dropped, as Python's
        // Jinja drops it (trim_blocks after the last tag, keep_trailing_newline off) and GenAI's renderer does; HF's JS
        // Jinja would print it, the one place the JS reference departs from transformers here.
        var context = SpecialTokenContext(Path.Combine(model, "tokenizer_config.json"));

        var cases = new JsonArray();
        foreach (var (_, messages) in Conversations)
        {
            var c = context.DeepClone().AsObject();
            c["messages"] = JsonNode.Parse(messages);
            c["add_generation_prompt"] = true;
            cases.Add(new JsonObject { ["template"] = template, ["context"] = c });
        }
        var reference = await RenderReferenceAsync(cases);

        int rendered = 0, raised = 0;
        for (int i = 0; i < Conversations.Length; i++)
        {
            var (name, messages) = Conversations[i];
            var expected = reference[i]!.AsObject();
            string? ours = null, ourError = null;
            try
            {
                ours = encoder.ApplyChatTemplate(messages);
            }
            catch (ChatTemplateException e)
            {
                ourError = e.Message;
            }
            if (expected["error"] is { } error)
            {
                raised++;
                await Assert.That(ourError).IsNotNull().Because($"{family}/{name}: Hugging Face raised '{error}', we rendered:\n{ours}");
                await Assert.That(ourError!).Contains(error.GetValue<string>()).Because($"{family}/{name}");
            }
            else
            {
                rendered++;
                await Assert.That(ourError).IsNull().Because($"{family}/{name}: Hugging Face rendered, we raised");
                await Assert.That(ours).IsEqualTo(expected["text"]!.GetValue<string>()).Because($"{family}/{name}");
            }
        }
        await Assert.That(rendered).IsGreaterThanOrEqualTo(4).Because($"{family}: most conversations render");
    }

    [Test]
    public async Task Gemma_refuses_roles_that_do_not_alternate_with_the_templates_own_message()
    {
        using var encoder = new PromptEncoder(await RealFamilies.Gemma3.ModelAsync());
        var e = await Assert.ThrowsAsync<ChatTemplateException>(() =>
            Task.FromResult(encoder.ApplyChatTemplate("""[{"role":"user","content":"a"},{"role":"user","content":"b"}]""")));
        await Assert.That(e!.Message).StartsWith("chat template error: Conversation roles must alternate user/assistant/user/assistant/...");
        await Assert.That(e.Message).Contains("template line");
        await Assert.That(e.Missing).IsFalse();
        // The encoder keeps working after a template raised.
        await Assert.That(encoder.ApplyChatTemplate("""[{"role":"user","content":"a"}]""")).Contains("<start_of_turn>user\na<end_of_turn>");
    }

    [Test]
    public async Task Null_content_reaches_the_template_as_none()
    {
        // Python's Jinja prints None as "None" (Phi-3's template writes message['content'] as is); HF's JS Jinja prints
        // null as "", so this case is pinned to transformers' (Python) behaviour instead of the JS reference.
        using var encoder = new PromptEncoder(await RealFamilies.Phi3.ModelAsync());
        string text = encoder.ApplyChatTemplate("""[{"role":"user","content":"hi"},{"role":"assistant","content":null},{"role":"user","content":"x"}]""");
        await Assert.That(text).Contains("<|assistant|>\nNone<|end|>");
        // Qwen2.5 tests `message.content` for truth, so a null content is left out rather than printed.
        using var qwen = new PromptEncoder(await RealFamilies.Qwen25.ModelAsync());
        string q = qwen.ApplyChatTemplate("""[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]}]""", addGenerationPrompt: false);
        await Assert.That(q).Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><|im_end|>");
        await Assert.That(q).DoesNotContain("None");
    }

    [Test]
    public async Task A_folder_without_a_template_is_refused_as_missing()
    {
        using var encoder = new PromptEncoder(await RealFamilies.Llama2NoTemplate.ModelAsync());
        await Assert.That(encoder.ChatTemplate.Template).IsNull();
        var e = await Assert.ThrowsAsync<ChatTemplateException>(() => Task.FromResult(encoder.ApplyChatTemplate("""[{"role":"user","content":"a"}]""")));
        await Assert.That(e!.Missing).IsTrue();
        await Assert.That(e.Message).Contains("/v1/completions");
        await Assert.That(e.Message).Contains("--chat-template");
    }

    [Test]
    public async Task The_template_comes_from_chat_template_jinja_when_tokenizer_config_has_none()
    {
        string model = await RealFamilies.Qwen25.ModelAsync();
        string dir = CopyModel(model);
        try
        {
            var config = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
            string original = config["chat_template"]!.GetValue<string>();
            config.Remove("chat_template");
            await File.WriteAllTextAsync(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
            await File.WriteAllTextAsync(Path.Combine(dir, ChatTemplateSource.JinjaFileName), original);

            using var encoder = new PromptEncoder(dir);
            await Assert.That(encoder.ChatTemplate.Origin).IsEqualTo(ChatTemplateSource.JinjaFileName);
            using var reference = new PromptEncoder(model);
            const string messages = """[{"role":"user","content":"hi"}]""";
            await Assert.That(encoder.ApplyChatTemplate(messages)).IsEqualTo(reference.ApplyChatTemplate(messages));

            // When both are there, the file wins, as in transformers (a template fixed only in the file is the one used).
            config["chat_template"] = "{{ 'from the config' }}";
            await File.WriteAllTextAsync(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
            using (var both = new PromptEncoder(dir))
                await Assert.That(both.ApplyChatTemplate(messages)).IsEqualTo(reference.ApplyChatTemplate(messages));

            // An explicit --chat-template wins over both.
            string file = Path.Combine(dir, "override.jinja");
            await File.WriteAllTextAsync(file, "{{ bos_token }}|{{ eos_token }}|{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}");
            using var overridden = new PromptEncoder(dir, file);
            await Assert.That(overridden.ChatTemplate.Origin).IsEqualTo("--chat-template " + file);
            await Assert.That(overridden.ApplyChatTemplate(messages)).IsEqualTo("|<|im_end|>|[user]hi");   // Qwen has no BOS token
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task A_template_that_cannot_be_parsed_raises_a_template_error()
    {
        string dir = CopyModel(await RealFamilies.Qwen25.ModelAsync());
        try
        {
            string file = Path.Combine(dir, "broken.jinja");
            await File.WriteAllTextAsync(file, "{% if %}");
            using var encoder = new PromptEncoder(dir, file);
            var e = await Assert.ThrowsAsync<ChatTemplateException>(() => Task.FromResult(encoder.ApplyChatTemplate("""[{"role":"user","content":"a"}]""")));
            await Assert.That(e!.Missing).IsFalse();
            await Assert.That(e.Message).StartsWith("chat template error: ");
            await Assert.That(e.Message).Contains("template line 1");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The special tokens transformers puts into the template context (bos_token, eos_token, ...).</summary>
    internal static JsonObject SpecialTokenContext(string tokenizerConfigPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerConfigPath));
        var context = new JsonObject();
        foreach (string name in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
            if (BosPolicy.TokenContent(doc.RootElement, name) is { } content) context[name] = content;
        return context;
    }

    internal static async Task<JsonArray> RenderReferenceAsync(JsonArray cases)
    {
        string input = Path.Combine(Path.GetTempPath(), $"onnxlm-template-cases-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(input, cases.ToJsonString());
        try
        {
            string output = await NodeScript.RunReferenceAsync("template-reference.mjs", TimeSpan.FromSeconds(60), input);
            return JsonNode.Parse(output)!.AsArray();
        }
        finally
        {
            File.Delete(input);
        }
    }

    /// <summary>A copy of a model folder to change files in. The weights are copied too: ONNX Runtime refuses external
    /// data (model.onnx.data) that resolves outside the model's folder, so a symlink would not load.</summary>
    internal static string CopyModel(string model)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"onnxlm-template-model-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        foreach (string file in Directory.GetFiles(model))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }
}
