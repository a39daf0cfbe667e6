using System.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Tests.Http.Parsing;

public class ChatCompletionBodyTests
{
    static (bool Ok, RequestParseError Error, ChatCompletionBody Body) Parse(string json)
    {
        var body = new ChatCompletionBody();
        bool ok = ChatCompletionBody.TryParse(Encoding.UTF8.GetBytes(json), body, out var error);
        return (ok, error, body);
    }

    static string Text(Utf8Slice slice, byte[] json) => slice.GetString(json);

    [Test]
    public async Task Typical_chat_request_fills_every_field()
    {
        byte[] json = SampleRequests.TypicalChat();
        var body = new ChatCompletionBody();
        bool ok = ChatCompletionBody.TryParse(json, body, out var error);

        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        await Assert.That(Text(body.Model, json)).IsEqualTo("qwen2.5-0.5b-instruct");
        await Assert.That(body.Messages.Count).IsEqualTo(7);
        await Assert.That(Text(body.Messages[0].Role, json)).IsEqualTo("system");
        await Assert.That(Text(body.Messages[0].Content.Parts[0], json)).IsEqualTo(SampleRequests.SystemPrompt.Replace("\\\"", "\"", StringComparison.Ordinal));
        await Assert.That(body.Messages[0].Content.IsArray).IsFalse();
        for (int turn = 0; turn < 6; turn++)
        {
            var message = body.Messages[turn + 1];
            await Assert.That(message.Role.ValueEquals(json, turn % 2 == 0 ? "user"u8 : "assistant"u8)).IsTrue();
            await Assert.That(Text(message.Content.Parts[0], json)).IsEqualTo(SampleRequests.TurnText(turn));
        }
        await Assert.That(body.MaxTokens).IsEqualTo(256);
        await Assert.That(body.MaxCompletionTokens).IsNull();
        await Assert.That(body.Temperature).IsEqualTo(0.7f);
        await Assert.That(body.TopP).IsEqualTo(0.95f);
        await Assert.That(body.TopK).IsEqualTo(40);
        await Assert.That(body.MinP).IsEqualTo(0.05f);
        await Assert.That(body.Seed).IsEqualTo(1234567890123L);
        await Assert.That(body.Stop.Count).IsEqualTo(2);
        await Assert.That(body.Stop.IsArray).IsTrue();
        await Assert.That(Text(body.Stop[0], json)).IsEqualTo("</s>");
        await Assert.That(Text(body.Stop[1], json)).IsEqualTo("\nUser:");
        await Assert.That(body.PresencePenalty).IsEqualTo(0.1f);
        await Assert.That(body.FrequencyPenalty).IsEqualTo(0.2f);
        await Assert.That(body.RepetitionPenalty).IsEqualTo(1.1f);
        await Assert.That(body.LogitBias.Count).IsEqualTo(2);
        await Assert.That(body.LogitBias[0]).IsEqualTo(new KeyValuePair<int, float>(50256, -100f));
        await Assert.That(body.LogitBias[1]).IsEqualTo(new KeyValuePair<int, float>(198, 2.5f));
        await Assert.That(body.N).IsEqualTo(1);
        await Assert.That(body.Stream).IsTrue();
        await Assert.That(body.StreamOptions!.IncludeUsage).IsTrue();
        await Assert.That(Text(body.User, json)).IsEqualTo("user-42");
        await Assert.That(body.ResponseFormat!.Type.ValueEquals(json, "text"u8)).IsTrue();
        await Assert.That(body.ToolChoice.TokenType).IsEqualTo(System.Text.Json.JsonTokenType.String);
        await Assert.That(Encoding.UTF8.GetString(body.ToolChoice.RawBytes(json))).IsEqualTo("\"none\"");
        await Assert.That(body.Tools.HasValue).IsFalse();
        await Assert.That(body.IgnoreEos).IsFalse();
        await Assert.That(body.Logprobs).IsNull();
    }

    [Test]
    public async Task Unicode_and_escaped_content_round_trips()
    {
        const string content = "héllo 世界 🦀 tab\t quote\" backslash\\ newline\n nul\u0000 end";
        string json = "{\"messages\":[{\"role\":\"user\",\"content\":" + System.Text.Json.JsonSerializer.Serialize(content, OnnxLm.Tests.Http.Parsing.TestJson.Default.String) + "}]}";
        // \uXXXX escapes too, including a surrogate pair, as some clients send ASCII-only JSON.
        string asciiJson = "{\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9llo \\u4e16\\u754c \\ud83e\\udd80\"}]}";

        var (ok, _, body) = Parse(json);
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        await Assert.That(ok).IsTrue();
        var part = body.Messages[0].Content.Parts[0];
        await Assert.That(part.NeedsUnescape).IsTrue();
        await Assert.That(part.GetString(bytes)).IsEqualTo(content);
        using var scratch = new UnescapeBuffer();
        await Assert.That(Encoding.UTF8.GetString(part.GetUtf8(bytes, scratch))).IsEqualTo(content);

        var (ok2, _, body2) = Parse(asciiJson);
        await Assert.That(ok2).IsTrue();
        await Assert.That(body2.Messages[0].Content.Parts[0].GetString(Encoding.UTF8.GetBytes(asciiJson))).IsEqualTo("héllo 世界 🦀");

        string plain = "{\"messages\":[{\"role\":\"user\",\"content\":\"日本語のテキスト\"}]}";
        var (ok3, _, body3) = Parse(plain);
        await Assert.That(ok3).IsTrue();
        await Assert.That(body3.Messages[0].Content.Parts[0].NeedsUnescape).IsFalse();
        await Assert.That(body3.Messages[0].Content.Parts[0].GetString(Encoding.UTF8.GetBytes(plain))).IsEqualTo("日本語のテキスト");
    }

    [Test]
    public async Task Content_parts_are_read_in_order_and_escaped_role_matches()
    {
        string json = "{\"messages\":[{\"r\\u006fle\":\"us\\u0065r\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},{\"text\":\"two\",\"type\":\"text\",\"extra\":[1,{}]}]}]}";
        var (ok, error, body) = Parse(json);
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        var message = body.Messages[0];
        await Assert.That(message.Role.ValueEquals(bytes, "user"u8)).IsTrue();
        await Assert.That(message.Content.IsArray).IsTrue();
        await Assert.That(message.Content.Parts.Count).IsEqualTo(2);
        await Assert.That(message.Content.Parts[1].GetString(bytes)).IsEqualTo("two");
    }

    [Test]
    public async Task Unknown_fields_are_skipped_whatever_their_shape()
    {
        var (ok, error, body) = Parse("{\"x_custom\":{\"a\":[1,2,{\"b\":null}]},\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"weird\":[[]]}],\"zzz\":\"s\",\"temperature\":1}");
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        await Assert.That(body.Messages.Count).IsEqualTo(1);
        await Assert.That(body.Temperature).IsEqualTo(1f);
    }

    [Test]
    public async Task Nulls_mean_absent()
    {
        var (ok, _, body) = Parse("{\"messages\":[{\"role\":\"assistant\",\"content\":null}],\"temperature\":null,\"stop\":null,\"stream_options\":null,\"tools\":null,\"audio\":null,\"logit_bias\":null}");
        await Assert.That(ok).IsTrue();
        await Assert.That(body.Temperature).IsNull();
        await Assert.That(body.Stop.IsPresent).IsFalse();
        await Assert.That(body.StreamOptions).IsNull();
        await Assert.That(body.Messages[0].Content.IsPresent).IsFalse();
        await Assert.That(body.LogitBias.IsPresent).IsFalse();
    }

    [Test]
    public async Task Refused_parameters_pass_when_off_and_fail_naming_themselves_when_set()
    {
        var (ok, error, _) = Parse("{\"messages\":[],\"store\":false,\"tools\":[],\"metadata\":{},\"parallel_tool_calls\":false,\"functions\":[ ]}");
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        // tools, tool_choice and parallel_tool_calls are read by ToolRequest after parsing (ToolRequestErrorTests).
        var (withTools, toolsError, parsed) = Parse("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"parallel_tool_calls\":true}");
        await Assert.That(withTools).IsTrue().Because(toolsError.Message ?? "");
        await Assert.That(parsed.Tools.IsSet).IsTrue();
        await Assert.That(parsed.ParallelToolCalls.TokenType).IsEqualTo(System.Text.Json.JsonTokenType.True);

        foreach (var (param, value) in new[] { ("functions", "[{\"name\":\"f\"}]"), ("audio", "{\"voice\":\"x\"}"),
                     ("store", "true"), ("modalities", "[\"text\",\"audio\"]"), ("reasoning_effort", "\"high\""), ("service_tier", "\"flex\""),
                     ("web_search_options", "{\"a\":1}"), ("prediction", "{\"type\":\"content\"}"), ("function_call", "\"auto\"") })
        {
            var (refused, e, _) = Parse("{\"messages\":[],\"" + param + "\":" + value + "}");
            await Assert.That(refused).IsFalse();
            await Assert.That(e.Param).IsEqualTo(param);
            await Assert.That(e.Message).StartsWith(param + " ");
        }
    }

    [Test]
    [Arguments("{\"messages\":[],\"temperature\":\"hot\"}", "temperature", "temperature must be a number")]
    [Arguments("{\"messages\":[],\"max_tokens\":1.5}", "max_tokens", "max_tokens must be an integer")]
    [Arguments("{\"messages\":[],\"max_tokens\":3000000000}", "max_tokens", "max_tokens is out of range for a 32-bit integer")]
    [Arguments("{\"messages\":[],\"seed\":9223372036854775808}", "seed", "seed is out of range for a 64-bit integer")]
    [Arguments("{\"messages\":[],\"temperature\":1e39}", "temperature", "temperature is out of range")]
    [Arguments("{\"messages\":[],\"stream\":1}", "stream", "stream must be a boolean")]
    [Arguments("{\"messages\":[],\"model\":7}", "model", "model must be a string")]
    [Arguments("{\"messages\":{}}", "messages", "messages must be an array")]
    [Arguments("{\"messages\":[\"hi\"]}", "messages[0]", "messages[0] must be an object")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}", "messages[1].role", "messages[1].role is required")]
    [Arguments("{\"messages\":[{\"role\":\"user\"},{\"role\":\"user\"},{\"role\":\"user\",\"content\":5}]}", "messages[2].content", "messages[2].content must be a string or an array of content parts")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{}}]}]}", "messages[0].content[1].type", "messages[0].content[1].type 'image_url' is not supported (only \"text\" content parts are)")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content[0].text", "messages[0].content[0].text is required")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":3}]}]}", "messages[0].content[0].text", "messages[0].content[0].text must be a string")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}", "messages[0].content[0]", "messages[0].content[0] must be an object")]
    [Arguments("{\"messages\":[],\"stop\":[\"a\",3]}", "stop[1]", "stop[1] must be a string")]
    [Arguments("{\"messages\":[],\"stop\":{}}", "stop", "stop must be a string or an array of strings")]
    [Arguments("{\"messages\":[],\"logit_bias\":{\"abc\":1}}", "logit_bias", "logit_bias keys must be token ids (non-negative integers), not 'abc'")]
    [Arguments("{\"messages\":[],\"logit_bias\":{\"12\":\"x\"}}", "logit_bias", "logit_bias values must be numbers")]
    [Arguments("{\"messages\":[],\"stream_options\":{\"include_usage\":\"yes\"}}", "stream_options.include_usage", "stream_options.include_usage must be a boolean")]
    [Arguments("{\"messages\":[],\"stream_options\":true}", "stream_options", "stream_options must be an object")]
    [Arguments("{\"messages\":[],\"response_format\":{\"schema\":{}}}", "response_format.type", "response_format.type is required")]
    [Arguments("{\"messages\":[],\"temperature\":1,\"temperature\":2}", "temperature", "temperature is specified more than once")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}", "messages[0].role", "messages[0].role is specified more than once")]
    [Arguments("{\"model\":\"m\"}", "messages", "messages is required")]
    public async Task Invalid_values_name_their_param(string json, string param, string message)
    {
        var (ok, error, body) = Parse(json);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsEqualTo(param);
        await Assert.That(error.Message).IsEqualTo(message);
        await Assert.That(body.Messages.IsPresent).IsFalse().Because("a failed parse leaves the target reset");
    }

    [Test]
    public async Task Limits_on_strings_and_items_are_enforced()
    {
        var (ok, error, _) = Parse("{\"messages\":[{\"role\":\"" + new string('r', 33) + "\"}]}");
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsEqualTo("messages[0].role");
        await Assert.That(error.Message).IsEqualTo("messages[0].role must be at most 32 bytes long");

        string stops = string.Join(",", Enumerable.Range(0, 17).Select(i => "\"s" + i + "\""));
        (ok, error, _) = Parse("{\"messages\":[],\"stop\":[" + stops + "]}");
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Message).IsEqualTo("stop must have at most 16 items");

        string messages = string.Join(",", Enumerable.Repeat("{\"role\":\"user\"}", 4097));
        (ok, error, _) = Parse("{\"messages\":[" + messages + "]}");
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Message).IsEqualTo("messages must have at most 4096 items");
    }

    [Test]
    [Arguments("", "request body is empty")]
    [Arguments(" \r\n\t", "request body is empty")]
    [Arguments("[1,2]", "request body must be a JSON object")]
    [Arguments("\"text\"", "request body must be a JSON object")]
    public async Task Unusable_bodies_fail_without_a_param(string json, string message)
    {
        var (ok, error, _) = Parse(json);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsNull();
        await Assert.That(error.Message).IsEqualTo(message);
    }

    [Test]
    [Arguments("{\"messages\":[],\"temperature\":}")]
    [Arguments("{\"messages\":[]")]
    [Arguments("{\"messages\":[]} trailing")]
    [Arguments("{\"messages\":[],}")]
    [Arguments("{\"messages\":[] /* comment */}")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":\"unterminated}]}")]
    public async Task Malformed_json_fails_without_a_param(string json)
    {
        var (ok, error, _) = Parse(json);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsNull();
        await Assert.That(error.Message).StartsWith("request body is not valid JSON: ");
    }

    [Test]
    public async Task Invalid_utf8_in_a_string_fails_naming_the_field()
    {
        byte[] json = [.. "{\"messages\":[{\"role\":\"user\",\"content\":\""u8, 0xC3, 0x28, .. "\"}]}"u8];
        var body = new ChatCompletionBody();
        bool ok = ChatCompletionBody.TryParse(json, body, out var error);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsEqualTo("messages[0].content");
        await Assert.That(error.Message).IsEqualTo("messages[0].content " + JsonStringText.InvalidUtf8);
    }

    [Test]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\ud800b\"}]}", "messages[0].content")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83e\"}]}", "messages[0].content")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\\ud800\"}]}", "messages[0].content")]
    [Arguments("{\"messages\":[{\"role\":\"\\udc00\",\"content\":\"hi\"}]}", "messages[0].role")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\\udfff\"}]}]}", "messages[0].content[0].text")]
    [Arguments("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"\\ud800\"}]}]}", "messages[0].content[0].type")]
    [Arguments("{\"messages\":[],\"stop\":[\"ok\",\"\\udbff\\u0041\"]}", "stop[1]")]
    [Arguments("{\"messages\":[],\"model\":\"\\ud800\"}", "model")]
    [Arguments("{\"messages\":[],\"response_format\":{\"type\":\"\\udc00x\"}}", "response_format.type")]
    [Arguments("{\"messages\":[],\"logit_bias\":{\"\\ud800\":1}}", "logit_bias")]
    public async Task Unpaired_surrogate_escape_fails_naming_the_field(string json, string param)
    {
        var (ok, error, _) = Parse(json);
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsEqualTo(param);
    }

    [Test]
    public async Task Property_names_that_are_not_text_are_skipped_as_unknown()
    {
        // A known name cannot be spelled with an unpaired surrogate; the reader would throw if asked to unescape it.
        var (ok, error, body) = Parse("{\"\\ud800\":1,\"messages\":[{\"\\udc00\":2,\"role\":\"user\",\"content\":[{\"t\\ud800\":1,\"type\":\"text\",\"text\":\"hi\"}]}]}");
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        await Assert.That(body.Messages[0].Content.Parts.Count).IsEqualTo(1);
    }

    [Test]
    public async Task Null_booleans_mean_absent()
    {
        var (ok, error, body) = Parse("{\"messages\":[],\"stream\":null,\"ignore_eos\":null,\"logprobs\":null}");
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
        await Assert.That(body.Stream).IsFalse();
        await Assert.That(body.IgnoreEos).IsFalse();
        await Assert.That(body.Logprobs).IsNull();
    }

    [Test]
    public async Task Nesting_beyond_the_depth_limit_fails_even_inside_skipped_values()
    {
        string deep = new string('[', RequestBody.MaxDepth) + new string(']', RequestBody.MaxDepth);
        var (ok, error, _) = Parse("{\"messages\":[],\"unknown\":" + deep + "}");
        await Assert.That(ok).IsFalse();
        await Assert.That(error.Param).IsNull();
        await Assert.That(error.Message).Contains("depth");

        string shallow = new string('[', RequestBody.MaxDepth - 2) + new string(']', RequestBody.MaxDepth - 2);
        (ok, error, _) = Parse("{\"messages\":[],\"unknown\":" + shallow + "}");
        await Assert.That(ok).IsTrue().Because(error.Message ?? "");
    }

    [Test]
    public async Task Reusing_one_instance_gives_independent_results()
    {
        var body = new ChatCompletionBody();
        byte[] first = SampleRequests.TypicalChat();
        byte[] second = Encoding.UTF8.GetBytes("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"only\"}]}],\"stop\":\"x\"}");

        await Assert.That(ChatCompletionBody.TryParse(first, body, out _)).IsTrue();
        var firstMessage = body.Messages[0];
        await Assert.That(ChatCompletionBody.TryParse(second, body, out _)).IsTrue();

        await Assert.That(body.Messages.Count).IsEqualTo(1);
        await Assert.That(body.Messages[0]).IsSameReferenceAs(firstMessage).Because("message objects are pooled");
        await Assert.That(body.Messages[0].Content.IsArray).IsTrue();
        await Assert.That(body.Messages[0].Content.Parts.Count).IsEqualTo(1);
        await Assert.That(body.Messages[0].Content.Parts[0].GetString(second)).IsEqualTo("only");
        await Assert.That(body.Model.HasValue).IsFalse();
        await Assert.That(body.Temperature).IsNull();
        await Assert.That(body.Seed).IsNull();
        await Assert.That(body.Stream).IsFalse();
        await Assert.That(body.StreamOptions).IsNull();
        await Assert.That(body.ResponseFormat).IsNull();
        await Assert.That(body.LogitBias.Count).IsEqualTo(0);
        await Assert.That(body.Stop.IsArray).IsFalse();
        await Assert.That(body.Stop.Count).IsEqualTo(1);
        await Assert.That(body.ToolChoice.HasValue).IsFalse();

        await Assert.That(ChatCompletionBody.TryParse(first, body, out _)).IsTrue();
        await Assert.That(body.Messages.Count).IsEqualTo(7);
        await Assert.That(body.Messages[0].Content.IsArray).IsFalse();
        await Assert.That(body.StreamOptions!.IncludeUsage).IsTrue();
    }
}
