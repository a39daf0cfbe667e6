using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Benchmarks.Parsing;

/// <summary>
/// A typical ~4 KB chat request (system + 6 turns, sampling parameters) parsed by the generated Utf8JsonReader parser
/// into a reused <see cref="ChatCompletionBody"/>, against System.Text.Json source-generated deserialization into
/// equivalent POCOs. Expected allocation: Generated 0 B per operation; the STJ baseline allocates the object graph
/// and every string.
/// Measured (2-core shared EPYC, .NET 10.0.12, in-process toolchain, noisy): Generated 10.3 µs / 0 B,
/// SystemTextJson 23.9 µs / 9392 B.
/// </summary>
[MemoryDiagnoser]
public class RequestParserBenchmarks
{
    private byte[] json = null!;
    private readonly ChatCompletionBody body = new();

    [GlobalSetup]
    public void Setup()
    {
        json = TypicalChat();
        if (!ChatCompletionBody.TryParse(json, body, out var error)) throw new InvalidOperationException(error.Message);
        var poco = JsonSerializer.Deserialize(json, StjRequestContext.Default.StjChatRequest)!;
        if (poco.Messages!.Count != body.Messages.Count) throw new InvalidOperationException("the two parsers disagree");
    }

    [Benchmark(Baseline = true)]
    public int Generated()
    {
        ChatCompletionBody.TryParse(json, body, out _);
        return body.Messages.Count;
    }

    [Benchmark]
    public int SystemTextJson() => JsonSerializer.Deserialize(json, StjRequestContext.Default.StjChatRequest)!.Messages!.Count;

    /// <summary>Same shape as the parser tests' sample: escaped quotes and newlines in every turn.</summary>
    private static byte[] TypicalChat()
    {
        var json = new StringBuilder();
        json.Append("{\"model\":\"qwen2.5-0.5b-instruct\",\"messages\":[");
        json.Append("{\"role\":\"system\",\"content\":\"You are a careful assistant. Answer briefly, cite sources when you can, and say \\\"I don't know\\\" when unsure.\"}");
        for (int turn = 0; turn < 6; turn++)
        {
            json.Append(",{\"role\":\"").Append(turn % 2 == 0 ? "user" : "assistant").Append("\",\"content\":\"Turn ").Append(turn).Append(": ");
            for (int i = 0; i < 6; i++)
                json.Append("the quick brown fox jumps over the lazy dog, then asks about KV caches and \\\"paged\\\" attention.\\n");
            json.Append("\"}");
        }
        json.Append("],\"max_tokens\":256,\"temperature\":0.7,\"top_p\":0.95,\"top_k\":40,\"min_p\":0.05,\"seed\":1234567890123,");
        json.Append("\"stop\":[\"</s>\",\"\\nUser:\"],\"presence_penalty\":0.1,\"frequency_penalty\":0.2,\"repetition_penalty\":1.1,");
        json.Append("\"logit_bias\":{\"50256\":-100,\"198\":2.5},\"n\":1,\"stream\":true,\"stream_options\":{\"include_usage\":true},");
        json.Append("\"user\":\"user-42\",\"response_format\":{\"type\":\"text\"},\"tool_choice\":\"none\",\"ignore_eos\":false}");
        return Encoding.UTF8.GetBytes(json.ToString());
    }
}
