using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Text;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Servers on random-weight models of real families: what a user sees on their first requests — template errors as
/// 400s, a model without a chat template, OpenAI-shaped tool conversations reaching the template as Hugging Face passes
/// them, BOS on text prompts as Hugging Face's tokenizer adds it, the model's own stop ids and sampling defaults.
/// </summary>
public sealed class RealModelServingTests
{
    [Test]
    public async Task A_template_that_raises_gives_400_with_its_message_and_the_server_stays_up()
    {
        string dir = ChatTemplateFidelityTests.CopyModel(await RealFamilies.Qwen25.ModelAsync());
        try
        {
            string template = Path.Combine(dir, "one-message.jinja");
            await File.WriteAllTextAsync(template,
                "{% if messages | length > 1 %}{{ raise_exception('Only one message, please') }}{% endif %}{{ messages[0]['content'] }}");
            await using var server = await ServerFixture.StartDedicatedAsync(o => { o.Model = dir; o.ChatTemplate = template; });
            using var client = ServerFixture.CreateClient(server);

            var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
                """{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],"max_tokens":2}""");
            await Assert.That(status).IsEqualTo(400);
            var error = body.GetProperty("error");
            await Assert.That(error.GetProperty("type").GetString()).IsEqualTo("invalid_request_error");
            await Assert.That(error.GetProperty("param").GetString()).IsEqualTo("messages");
            await Assert.That(error.GetProperty("message").GetString()).Contains("Only one message, please");

            var (ok, completion) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
                """{"messages":[{"role":"user","content":"a"}],"max_tokens":2}""");
            await Assert.That(ok).IsEqualTo(200);
            await Assert.That(completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsEqualTo(1);   // "a"
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task A_model_without_a_chat_template_answers_chat_with_400_and_serves_text_completions()
    {
        string modelDir = await RealFamilies.Llama2NoTemplate.ModelAsync();
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = modelDir);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}""");
        await Assert.That(status).IsEqualTo(400);
        await Assert.That(body.GetProperty("error").GetProperty("message").GetString()).Contains("/v1/completions");
        await Assert.That(body.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("chat_template_missing");

        var (ok, completion) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", """{"prompt":"Hello world","max_tokens":2}""");
        await Assert.That(ok).IsEqualTo(200);
        // Llama 2's tokenizer adds <s>: "Hello world" is ▁Hello ▁world plus BOS.
        await Assert.That(completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsEqualTo(3);
    }

    [Test]
    public async Task An_OpenAI_shaped_tool_conversation_reaches_the_template_as_Hugging_Face_passes_it()
    {
        string model = await RealFamilies.Qwen25.ModelAsync();
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = model);
        using var client = ServerFixture.CreateClient(server);
        // As the OpenAI SDKs send it: arguments as a JSON string, null content beside tool_calls, content as text parts.
        const string openAi = """
            [{"role":"system","content":[{"type":"text","text":"You can "},{"type":"text","text":"call tools."}]},
             {"role":"user","content":"Weather in Paris and Köln?"},
             {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Köln\",\"days\":[1,2]}"}}]},
             {"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"{\"temp\": 21}"},
             {"role":"tool","tool_call_id":"call_2","name":"get_weather","content":"sunny"},
             {"role":"user","content":"Thanks"}]
            """;
        // As transformers' apply_chat_template receives it from vLLM: arguments parsed, parts joined.
        const string huggingFace = """
            [{"role":"system","content":"You can call tools."},
             {"role":"user","content":"Weather in Paris and Köln?"},
             {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":{"city":"Köln","days":[1,2]}}}]},
             {"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"{\"temp\": 21}"},
             {"role":"tool","tool_call_id":"call_2","name":"get_weather","content":"sunny"},
             {"role":"user","content":"Thanks"}]
            """;
        var context = ChatTemplateFidelityTests.SpecialTokenContext(Path.Combine(model, "tokenizer_config.json"));
        context["messages"] = JsonNode.Parse(huggingFace);
        context["add_generation_prompt"] = true;
        var reference = await ChatTemplateFidelityTests.RenderReferenceAsync(
            [new JsonObject { ["template"] = server.Engine.Prompts.ChatTemplate.Template, ["context"] = context }]);
        string expectedText = reference[0]!["text"]!.GetValue<string>();
        await Assert.That(expectedText).Contains("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Köln\", \"days\": [1, 2]}}");

        var (status, tokenized) = await OpenAiWire.PostJsonAsync(client, "/tokenize", $"{{\"messages\":{openAi}}}");
        await Assert.That(status).IsEqualTo(200);
        var ids = tokenized.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await Assert.That(ids).IsEquivalentTo(server.Engine.Prompts.Encode(expectedText));
    }

    [Test]
    public async Task Tool_calls_that_are_not_a_list_of_calls_are_a_400_naming_the_message()
    {
        string modelDir = await RealFamilies.Qwen25.ModelAsync();
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = modelDir);
        using var client = ServerFixture.CreateClient(server);
        var (status, body) = await OpenAiWire.PostJsonAsync(client, "/v1/chat/completions",
            """{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[{"id":"x"}]}],"max_tokens":1}""");
        await Assert.That(status).IsEqualTo(400);
        await Assert.That(body.GetProperty("error").GetProperty("param").GetString()).IsEqualTo("messages[1].tool_calls[0]");
    }

    public static IEnumerable<Func<(RealFamily Family, int Bos)>> BosCases() =>
    [
        // tokenizer.json's post_processor decides (Hugging Face's JS tokenizer agrees on these):
        () => (RealFamilies.Qwen25, -1),
        () => (RealFamilies.Qwen3, -1),
        () => (RealFamilies.Llama32, 128_000),
        () => (RealFamilies.Llama31, 128_000),
        // The Llama/Gemma tokenizer classes rebuild the post-processor from add_bos_token (transformers'
        // LlamaTokenizerFast.update_post_processor); the JS tokenizer does not, so these are pinned here:
        () => (RealFamilies.Gemma3, 2),
        () => (RealFamilies.Phi3, -1),             // add_bos_token false in the current revision
        () => (RealFamilies.Phi3Legacy, 1),        // true in the 2024 one
        () => (RealFamilies.Llama2NoTemplate, 1),
        () => (RealFamilies.Llama2, 1),
        () => (RealFamilies.DeepSeekR1Distill, 151_646),
        () => (RealFamilies.DeepSeekV3, 0),
    ];

    [Test]
    [MethodDataSource(nameof(BosCases))]
    public async Task Text_prompts_start_with_BOS_exactly_when_Hugging_Face_adds_one((RealFamily Family, int Bos) c)
    {
        string tokenizerJson = await c.Family.TokenizerJsonAsync();
        string dir = Path.GetDirectoryName(await c.Family.TokenizerConfigAsync())!;
        var vocabulary = TokenVocabularyForBos(tokenizerJson);
        string folder = Path.Combine(Path.GetTempPath(), $"onnxlm-bos-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            File.Copy(tokenizerJson, Path.Combine(folder, "tokenizer.json"));
            File.Copy(await c.Family.TokenizerConfigAsync(), Path.Combine(folder, "tokenizer_config.json"));
            await Assert.That(BosPolicy.Read(folder, vocabulary)).IsEqualTo(c.Bos).Because($"{c.Family} (files from {dir})");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static TokenVocabulary TokenVocabularyForBos(string tokenizerJson)
    {
        // Only the added-token map matters here; a decoder the vocabulary does not (yet) support must not hide the BOS rule.
        var root = JsonNode.Parse(File.ReadAllText(tokenizerJson))!.AsObject();
        root["decoder"] = new JsonObject { ["type"] = "ByteLevel" };
        return TokenVocabulary.Parse(System.Text.Encoding.UTF8.GetBytes(root.ToJsonString()), tokenizerJson);
    }

    [Test]
    public async Task Completions_add_BOS_once_and_chat_never_doubles_it()
    {
        string modelDir = await RealFamilies.Llama32.ModelAsync();
        await using var server = await ServerFixture.StartDedicatedAsync(o => o.Model = modelDir);
        using var client = ServerFixture.CreateClient(server);
        var prompts = server.Engine.Prompts;
        int plain = prompts.Encode("Hello world").Length;

        var (_, completion) = await OpenAiWire.PostJsonAsync(client, "/tokenize", """{"prompt":"Hello world"}""");
        var ids = completion.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await Assert.That(ids.Length).IsEqualTo(plain + 1);
        await Assert.That(ids[0]).IsEqualTo(128_000);

        // A prompt that already starts with the BOS text keeps one BOS.
        var (_, again) = await OpenAiWire.PostJsonAsync(client, "/tokenize", """{"prompt":"<|begin_of_text|>Hello world"}""");
        var againIds = again.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await Assert.That(againIds).IsEquivalentTo(ids);

        // Llama 3's template writes {{ bos_token }}: the chat prompt has exactly one.
        var (_, chat) = await OpenAiWire.PostJsonAsync(client, "/tokenize", """{"messages":[{"role":"user","content":"hi"}]}""");
        var chatIds = chat.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
        await Assert.That(chatIds[0]).IsEqualTo(128_000);
        await Assert.That(chatIds.Count(id => id == 128_000)).IsEqualTo(1);

        var (_, usage) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", """{"prompt":"Hello world","max_tokens":1}""");
        await Assert.That(usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).IsEqualTo(plain + 1);
    }

    [Test]
    public async Task Generation_stops_on_the_eos_ids_of_generation_config_json()
    {
        string dir = ChatTemplateFidelityTests.CopyModel(TestModels.TinyFp32);
        try
        {
            const int stopId = 300;   // an ordinary token of the tiny vocabulary
            const string request = """{"prompt":"Hello","max_tokens":6,"temperature":0,"logit_bias":{"300":100}}""";
            await using (var before = await ServerFixture.StartDedicatedAsync(o => o.Model = dir))
            {
                using var client = ServerFixture.CreateClient(before);
                var (_, body) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", request);
                await Assert.That(body.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("length");
                await Assert.That(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()).IsEqualTo(6);
            }
            await File.WriteAllTextAsync(Path.Combine(dir, "generation_config.json"), $$"""{"eos_token_id": [{{stopId}}], "do_sample": true}""");
            await using var after = await ServerFixture.StartDedicatedAsync(o => o.Model = dir);
            await Assert.That(after.Engine.Contract.Config.EosTokenIds).Contains(stopId);
            using var client2 = ServerFixture.CreateClient(after);
            var (_, stopped) = await OpenAiWire.PostJsonAsync(client2, "/v1/completions", request);
            await Assert.That(stopped.GetProperty("choices")[0].GetProperty("finish_reason").GetString()).IsEqualTo("stop");
            await Assert.That(stopped.GetProperty("choices")[0].GetProperty("text").GetString()).IsEqualTo("");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Omitted_sampling_fields_take_the_models_recommended_values()
    {
        string dir = ChatTemplateFidelityTests.CopyModel(TestModels.TinyFp32);
        try
        {
            // do_sample false: requests without a temperature are greedy, so two unseeded requests agree with temperature 0.
            await File.WriteAllTextAsync(Path.Combine(dir, "generation_config.json"), """{"do_sample": false, "repetition_penalty": 1.3}""");
            await using (var server = await ServerFixture.StartDedicatedAsync(o => o.Model = dir))
            {
                await Assert.That(server.Engine.SamplingDefaults.Temperature).IsEqualTo(0f);
                await Assert.That(server.Engine.SamplingDefaults.RepetitionPenalty).IsEqualTo(1.3f);
                using var client = ServerFixture.CreateClient(server);
                string Text(JsonElement b) => b.GetProperty("choices")[0].GetProperty("text").GetString()!;
                var (_, a) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", """{"prompt":"Hello","max_tokens":12}""");
                var (_, b) = await OpenAiWire.PostJsonAsync(client, "/v1/completions", """{"prompt":"Hello","max_tokens":12}""");
                var (_, greedy) = await OpenAiWire.PostJsonAsync(client, "/v1/completions",
                    """{"prompt":"Hello","max_tokens":12,"temperature":0,"repetition_penalty":1.3}""");
                await Assert.That(Text(a)).IsEqualTo(Text(greedy));
                await Assert.That(Text(b)).IsEqualTo(Text(greedy));
            }
            // --sampling-defaults neutral: OpenAI's temperature 1 again; 8 seeded requests do not all agree with greedy.
            await using var neutral = await ServerFixture.StartDedicatedAsync(o => { o.Model = dir; o.ModelSamplingDefaults = false; });
            await Assert.That(neutral.Engine.SamplingDefaults.Temperature).IsNull();
            using var neutralClient = ServerFixture.CreateClient(neutral);
            var texts = new HashSet<string>();
            for (int seed = 0; seed < 8; seed++)
            {
                var (_, r) = await OpenAiWire.PostJsonAsync(neutralClient, "/v1/completions", $$"""{"prompt":"Hello","max_tokens":12,"seed":{{seed}}}""");
                texts.Add(r.GetProperty("choices")[0].GetProperty("text").GetString()!);
            }
            await Assert.That(texts.Count).IsGreaterThan(1);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
