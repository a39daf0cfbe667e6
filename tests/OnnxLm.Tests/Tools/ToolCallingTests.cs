using System.Text;
using System.Text.Json;
using OnnxLm.Tests.Constraints;
using OnnxLm.Tests.Http;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// Tool calling through HTTP on a random-weight model with Qwen 2.5's vocabulary and template: whatever the weights
/// sample, a <c>required</c> or named choice yields calls whose names are among the allowed tools and whose arguments
/// validate against the tool's schema; <c>none</c> never calls; streamed deltas assemble to the non-streamed answer.
/// </summary>
[ClassDataSource<ToolServer>(Shared = SharedType.PerTestSession)]
public class ToolCallingTests(ToolServer server)
{
    const string Chat = "/v1/chat/completions";
    const string User = """[{"role":"user","content":"What is the weather in Paris, and what time is it?"}]""";

    internal const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Current weather.","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"],"additionalProperties":false},"strict":true}},{"type":"function","function":{"name":"now","description":"The time."}},{"type":"function","function":{"name":"get_weather_alerts","parameters":{"type":"object","properties":{"severe":{"type":"boolean"}},"required":["severe"]}}}]""";

    static readonly Dictionary<string, string?> Schemas = new()
    {
        ["get_weather"] = """{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","unit"],"additionalProperties":false}""",
        ["now"] = null,
        ["get_weather_alerts"] = """{"type":"object","properties":{"severe":{"type":"boolean"}},"required":["severe"]}""",
    };

    static string Body(string extra, int seed, bool stream = false, int maxTokens = 200) =>
        $"{{\"messages\":{User},\"tools\":{Tools},\"max_tokens\":{maxTokens},\"seed\":{seed},\"temperature\":1,\"stream\":{(stream ? "true" : "false")}{extra}}}";

    /// <summary>Checks every call of a choice and returns them as (name, arguments).</summary>
    static async Task<List<(string Name, string Arguments, string Id)>> ValidCalls(JsonElement choice, IReadOnlyCollection<string> allowed, bool shortIds = false)
    {
        var message = choice.GetProperty("message");
        var calls = new List<(string, string, string)>();
        if (!message.TryGetProperty("tool_calls", out var list)) return calls;
        bool cut = choice.GetProperty("finish_reason").GetString() == "length";
        int count = list.GetArrayLength(), k = 0;
        foreach (var call in list.EnumerateArray())
        {
            // A length finish may cut the last call's arguments: every earlier call is complete.
            if (cut && ++k == count) break;
            await Assert.That(call.GetProperty("type").GetString()).IsEqualTo("function");
            string id = call.GetProperty("id").GetString()!;
            if (shortIds) await Assert.That(id.Length == 9 && id.All(char.IsAsciiLetterOrDigit)).IsTrue().Because(id);
            else await Assert.That(id).StartsWith("call_");
            string name = call.GetProperty("function").GetProperty("name").GetString()!;
            await Assert.That(allowed).Contains(name);
            string arguments = call.GetProperty("function").GetProperty("arguments").GetString()!;
            using var args = JsonDocument.Parse(arguments);
            if (Schemas[name] is { } schema)
            {
                using var schemaDoc = JsonDocument.Parse(schema);
                await Assert.That(new ReferenceValidator(schemaDoc.RootElement).IsValid(args.RootElement)).IsTrue().Because(arguments);
            }
            else await Assert.That(arguments).IsEqualTo("{}");
            // Minified: the arguments are exactly their own compact form.
            await Assert.That(arguments).IsEqualTo(Compact(args.RootElement));
            calls.Add((name, arguments, id));
        }
        return calls;
    }

    internal static string Compact(JsonElement e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })) e.WriteTo(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Test]
    public async Task Required_always_yields_valid_calls_over_seeds()
    {
        int calls = 0;
        for (int seed = 0; seed < 6; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\"", seed));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            var found = await ValidCalls(choice, Schemas.Keys);
            if (choice.GetProperty("finish_reason").GetString() == "tool_calls")
            {
                await Assert.That(found.Count).IsGreaterThanOrEqualTo(1);
                await Assert.That(choice.GetProperty("message").GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
                calls += found.Count;
            }
            else await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("length");
        }
        await Assert.That(calls).IsGreaterThanOrEqualTo(3).Because("most seeds finish their calls within 200 tokens");
    }

    [Test]
    public async Task A_named_choice_calls_that_function_only()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat,
                Body(",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather_alerts\"}},\"parallel_tool_calls\":false", seed));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            var found = await ValidCalls(choice, ["get_weather_alerts"]);
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
            await Assert.That(found.Count).IsEqualTo(1);
        }
    }

    [Test]
    public async Task Allowed_tools_narrow_the_names_and_a_parameterless_call_has_empty_arguments()
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat,
                Body(",\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":\"required\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]}},\"parallel_tool_calls\":false", seed));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            var found = await ValidCalls(choice, ["now"]);
            await Assert.That(found.Count).IsEqualTo(1);
            await Assert.That(found[0].Arguments).IsEqualTo("{}");
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
        }
    }

    [Test]
    public async Task None_never_calls_and_auto_calls_only_valid_tools()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"none\"", seed, maxTokens: 40));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            await Assert.That(choice.GetProperty("message").TryGetProperty("tool_calls", out _)).IsFalse();
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsNotEqualTo("tool_calls");
            await Assert.That(choice.GetProperty("message").GetProperty("content").GetString()!).DoesNotContain("<tool_call>");

            (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"auto\"", seed, maxTokens: 40));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            await ValidCalls(body.GetProperty("choices")[0], Schemas.Keys);
        }
    }

    /// <summary>Qwen 2.5's ids: "\n" and the added token &lt;tool_call&gt; (not special, so its text is content-visible).</summary>
    const int Newline = 198, ToolCallToken = 151657;

    [Test]
    public async Task Auto_enforces_a_valid_call_once_the_model_writes_the_start_marker()
    {
        // logit_bias makes the random model open a call at once; from there the grammar holds it to a valid call.
        for (int seed = 0; seed < 4; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat,
                Body($",\"tool_choice\":\"auto\",\"parallel_tool_calls\":false,\"logit_bias\":{{\"{ToolCallToken}\":100}}", seed, maxTokens: 300));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            var calls = await ValidCalls(choice, Schemas.Keys);
            await Assert.That(calls.Count).IsEqualTo(1).Because(body.ToString());
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
            await Assert.That(choice.GetProperty("message").GetProperty("content").ValueKind).IsEqualTo(JsonValueKind.Null);
        }
        // none: the same bias cannot open a call (the marker is masked).
        var (_, none) = await OpenAiWire.PostJsonAsync(server.Client, Chat,
            Body($",\"tool_choice\":\"none\",\"logit_bias\":{{\"{ToolCallToken}\":100}}", 1, maxTokens: 20));
        await Assert.That(none.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!).DoesNotContain("<tool_call>");
    }

    [Test]
    public async Task Parallel_off_makes_one_call_and_parallel_on_makes_several()
    {
        // "\n" is only allowed where the format writes one, so biasing it picks "another call" over EOS after each call.
        string bias = $",\"logit_bias\":{{\"{Newline}\":100}}";
        for (int seed = 0; seed < 3; seed++)
        {
            var (_, single) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\",\"parallel_tool_calls\":false" + bias, seed, maxTokens: 300));
            var choice = single.GetProperty("choices")[0];
            var calls = await ValidCalls(choice, Schemas.Keys);
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
            await Assert.That(calls.Count).IsEqualTo(1);
            var (_, parallel) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\"" + bias, seed, maxTokens: 120));
            var many = await ValidCalls(parallel.GetProperty("choices")[0], Schemas.Keys);
            await Assert.That(many.Count).IsGreaterThanOrEqualTo(2).Because(parallel.ToString());
            await Assert.That(many.Select(c => c.Id).Distinct().Count()).IsEqualTo(many.Count);
        }
    }

    [Test]
    public async Task Streamed_tool_call_deltas_assemble_to_the_non_streamed_calls()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            var (_, plain) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\"", seed, maxTokens: 300));
            var expected = await ValidCalls(plain.GetProperty("choices")[0], Schemas.Keys);
            string expectedFinish = plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;

            using var response = await OpenAiWire.PostAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\"", seed, stream: true, maxTokens: 300));
            var events = OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync());
            var names = new Dictionary<int, string>();
            var ids = new Dictionary<int, string>();
            var args = new Dictionary<int, StringBuilder>();
            string? finish = null;
            foreach (string data in events)
            {
                if (data == "[DONE]") break;
                using var chunk = JsonDocument.Parse(data);
                var choice = chunk.RootElement.GetProperty("choices")[0];
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
                if (!choice.GetProperty("delta").TryGetProperty("tool_calls", out var deltas)) continue;
                foreach (var d in deltas.EnumerateArray())
                {
                    int index = d.GetProperty("index").GetInt32();
                    var function = d.GetProperty("function");
                    if (!names.ContainsKey(index))
                    {
                        // The first delta of an index: id, type, the whole name and empty arguments.
                        names[index] = function.GetProperty("name").GetString()!;
                        ids[index] = d.GetProperty("id").GetString()!;
                        await Assert.That(d.GetProperty("type").GetString()).IsEqualTo("function");
                        await Assert.That(function.GetProperty("arguments").GetString()).IsEqualTo("");
                        args[index] = new StringBuilder();
                    }
                    else
                    {
                        await Assert.That(function.TryGetProperty("name", out _)).IsFalse().Because("a name is never sent twice");
                        args[index].Append(function.GetProperty("arguments").GetString());
                    }
                }
            }
            await Assert.That(finish).IsEqualTo(expectedFinish);
            await Assert.That(names.Count).IsEqualTo(expected.Count);
            for (int k = 0; k < expected.Count; k++)
            {
                await Assert.That(names[k]).IsEqualTo(expected[k].Name);
                await Assert.That(args[k].ToString()).IsEqualTo(expected[k].Arguments);
                await Assert.That(ids[k]).StartsWith("call_");
            }
        }
    }

    [Test]
    [Arguments("generic", "{\"tool_calls\": [{\"name\": \"", "}]}")]
    [Arguments("mistral", "[TOOL_CALLS] [{\"name\": \"", "}]")]
    public async Task Tool_call_format_override_makes_the_model_write_that_format(string formatName, string start, string end)
    {
        // --tool-call-format on the Qwen model: the calls are written in that format (its markers spelled in bytes) and
        // parse back the same; Mistral's ids are 9 alphanumerics.
        var format = Engine.Text.ToolCallFormat.Find(formatName)!;
        await using var generic = await Fixtures.ServerFixture.StartDedicatedAsync(o =>
        {
            o.Model = server.ModelDir;
            o.ToolCallFormat = format;
        });
        using var client = Fixtures.ServerFixture.CreateClient(generic);
        for (int seed = 0; seed < 3; seed++)
        {
            var (status, body) = await OpenAiWire.PostJsonAsync(client, Chat, Body(",\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"logprobs\":true", seed, maxTokens: 300));
            await Assert.That(status).IsEqualTo(200).Because(body.ToString());
            var choice = body.GetProperty("choices")[0];
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
            await Assert.That((await ValidCalls(choice, Schemas.Keys, format.ShortIds)).Count).IsEqualTo(1);
            // The tokens themselves (logprobs show each one's text) spell the format.
            string raw = string.Concat(choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().Select(t => t.GetProperty("token").GetString()));
            await Assert.That(raw).StartsWith(start);
            await Assert.That(raw).EndsWith(end);
        }
    }

    [Test]
    public async Task Streamed_logprobs_of_a_tool_call_match_the_non_streamed_ones()
    {
        string extra = ",\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"logprobs\":true";
        var (_, plain) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(extra, 2, maxTokens: 300));
        var expected = plain.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content").EnumerateArray()
            .Select(t => t.GetProperty("token").GetString()).ToList();
        using var response = await OpenAiWire.PostAsync(server.Client, Chat, Body(extra, 2, stream: true, maxTokens: 300));
        var streamed = new List<string?>();
        foreach (string data in OpenAiWire.DataEvents(await response.Content.ReadAsStringAsync()))
        {
            if (data == "[DONE]") break;
            using var chunk = JsonDocument.Parse(data);
            var choice = chunk.RootElement.GetProperty("choices")[0];
            if (choice.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.Object)
                streamed.AddRange(lp.GetProperty("content").EnumerateArray().Select(t => t.GetProperty("token").GetString()));
        }
        await Assert.That(expected.Count).IsGreaterThan(5);
        await Assert.That(streamed).IsEquivalentTo(expected);
    }

    [Test]
    public async Task Every_choice_of_n_calls_with_its_own_ids()
    {
        var (status, body) = await OpenAiWire.PostJsonAsync(server.Client, Chat, Body(",\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"n\":3", 7, maxTokens: 300));
        await Assert.That(status).IsEqualTo(200).Because(body.ToString());
        var ids = new List<string>();
        foreach (var choice in body.GetProperty("choices").EnumerateArray())
        {
            await Assert.That(choice.GetProperty("finish_reason").GetString()).IsEqualTo("tool_calls");
            var calls = await ValidCalls(choice, Schemas.Keys);
            await Assert.That(calls.Count).IsEqualTo(1);
            ids.Add(calls[0].Id);
        }
        await Assert.That(ids.Count).IsEqualTo(3);
        await Assert.That(ids.Distinct().Count()).IsEqualTo(3);
    }
}
