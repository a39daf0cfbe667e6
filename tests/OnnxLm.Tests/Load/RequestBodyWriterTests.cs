using System.Buffers;
using System.Text.Json;
using OnnxLm.Load.Client;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Tests.Load;

/// <summary>Request bodies: always streaming with usage, token-id prompts as arrays, replay lines copied with
/// stream settings replaced, and the workloads' prompt shapes.</summary>
public class RequestBodyWriterTests
{
    static JsonElement Body(RequestPlan plan, RequestOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>();
        RequestBodyWriter.Write(buffer, plan, options);
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    [Test]
    public async Task Token_id_prompt_is_sent_as_an_array_with_streaming_usage_and_ignore_eos()
    {
        var plan = new RequestPlan { Kind = EndpointKind.Completion, PromptTokenIds = [5, 6, 7], MaxTokens = 9 };
        var b = Body(plan, new RequestOptions("m", 0, IgnoreEos: true, Seed: null));
        await Assert.That(b.GetProperty("prompt").GetArrayLength()).IsEqualTo(3);
        await Assert.That(b.GetProperty("prompt")[2].GetInt32()).IsEqualTo(7);
        await Assert.That(b.GetProperty("max_tokens").GetInt32()).IsEqualTo(9);
        await Assert.That(b.GetProperty("model").GetString()).IsEqualTo("m");
        await Assert.That(b.GetProperty("stream").GetBoolean()).IsTrue();
        await Assert.That(b.GetProperty("stream_options").GetProperty("include_usage").GetBoolean()).IsTrue();
        await Assert.That(b.GetProperty("ignore_eos").GetBoolean()).IsTrue();
    }

    [Test]
    public async Task Replay_line_is_copied_with_stream_forced_on()
    {
        var plans = ReplayWorkload.Parse(
        [
            """{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":false,"stream_options":{"include_usage":false},"top_p":0.5}""",
            "",
            """{"prompt":"abc"}""",
        ]);
        await Assert.That(plans.Length).IsEqualTo(2);
        await Assert.That(plans[0].Kind).IsEqualTo(EndpointKind.Chat);
        await Assert.That(plans[0].MaxTokens).IsEqualTo(5);
        await Assert.That(plans[1].Kind).IsEqualTo(EndpointKind.Completion);
        var b = Body(plans[0], new RequestOptions(null, 0, IgnoreEos: false, Seed: null));
        await Assert.That(b.GetProperty("stream").GetBoolean()).IsTrue();
        await Assert.That(b.GetProperty("stream_options").GetProperty("include_usage").GetBoolean()).IsTrue();
        await Assert.That(b.GetProperty("top_p").GetDouble()).IsEqualTo(0.5);
        await Assert.That(b.GetProperty("messages")[0].GetProperty("content").GetString()).IsEqualTo("hi");
        int streams = 0;
        foreach (var p in b.EnumerateObject()) if (p.NameEquals("stream")) streams++;
        await Assert.That(streams).IsEqualTo(1);
    }

    [Test]
    public async Task Replay_line_without_prompt_or_messages_names_its_line()
    {
        await Assert.That(() => ReplayWorkload.Parse(["""{"prompt":"a"}""", """{"max_tokens":3}"""]))
            .Throws<FormatException>().WithMessageContaining("line 2");
    }

    [Test]
    public async Task Shared_prefix_requests_of_a_group_share_the_exact_prefix_tokens()
    {
        var prompts = new PromptSource(EndpointKind.Chat, exactTokens: true, 100, 200);
        var w = new SharedPrefixWorkload(prompts, groups: 2, systemTokens: 40, LengthSpec.Fixed(8), LengthSpec.Fixed(4), seed: 7);
        var ids = new List<int[]>();
        for (int i = 0; i < 4; i++)
        {
            w.NextSession()!.TryNext(null, out var plan);
            ids.Add(plan.PromptTokenIds!);
        }
        await Assert.That(ids[0].Length).IsEqualTo(48);
        await Assert.That(ids[0].AsSpan(0, 40).SequenceEqual(ids[2].AsSpan(0, 40))).IsTrue();   // round robin: 0 and 2 share group 0
        await Assert.That(ids[0].AsSpan(0, 40).SequenceEqual(ids[1].AsSpan(0, 40))).IsFalse();
        await Assert.That(ids[0].AsSpan(40).SequenceEqual(ids[2].AsSpan(40))).IsFalse();       // fresh questions
    }

    [Test]
    public async Task Multi_turn_sends_the_previous_answer_back_as_the_assistant_turn()
    {
        var w = new MultiTurnWorkload(turns: 3, LengthSpec.Fixed(5), LengthSpec.Fixed(3), LengthSpec.Fixed(4), seed: 1);
        var s = w.NextSession()!;
        await Assert.That(s.TryNext(null, out var t1)).IsTrue();
        await Assert.That(s.TryNext("answer one", out var t2)).IsTrue();
        await Assert.That(s.TryNext("answer two", out var t3)).IsTrue();
        await Assert.That(s.TryNext("answer three", out _)).IsFalse();
        await Assert.That(t1.Messages!.Count).IsEqualTo(1);
        await Assert.That(t2.Messages!.Count).IsEqualTo(3);
        await Assert.That(t3.Messages!.Count).IsEqualTo(5);
        await Assert.That(t3.Messages[1]).IsEqualTo(new ChatTurn("assistant", "answer one"));
        await Assert.That(t3.Messages[3]).IsEqualTo(new ChatTurn("assistant", "answer two"));
        await Assert.That(t3.Messages[0]).IsEqualTo(t1.Messages[0]);
        await Assert.That(t3.CollectText).IsTrue();
    }

    [Test]
    public async Task Response_format_is_sent_as_given_and_replaces_a_replay_lines_own()
    {
        const string format = """{"type":"json_schema","json_schema":{"name":"a","strict":true,"schema":{"type":"object"}}}""";
        var chat = new RequestPlan { Kind = EndpointKind.Chat, Messages = [new ChatTurn("user", "hi")], MaxTokens = 4 };
        var b = Body(chat, new RequestOptions(null, 0, IgnoreEos: false, Seed: null, ResponseFormat: format));
        await Assert.That(b.GetProperty("response_format").GetRawText()).IsEqualTo(format);
        await Assert.That(Body(chat, new RequestOptions(null, 0, IgnoreEos: false, Seed: null)).TryGetProperty("response_format", out _)).IsFalse();
        var replay = ReplayWorkload.Parse(["""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}"""]);
        var r = Body(replay[0], new RequestOptions(null, 0, IgnoreEos: false, Seed: null, ResponseFormat: format));
        int formats = 0;
        foreach (var p in r.EnumerateObject()) if (p.NameEquals("response_format")) formats++;
        await Assert.That(formats).IsEqualTo(1);
        await Assert.That(r.GetProperty("response_format").GetProperty("type").GetString()).IsEqualTo("json_schema");
    }
}
