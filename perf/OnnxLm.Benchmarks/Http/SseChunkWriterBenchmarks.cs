using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using OnnxLm.Benchmarks.Text;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Http;

namespace OnnxLm.Benchmarks.Http;

/// <summary>
/// The per-token cost of streaming: one token chunk (<c>data: {json}\n\n</c>) written by the server's
/// <see cref="SseChunkWriter"/> into a <see cref="Pipe"/>, flushed, and drained by the reader side, as Kestrel's response
/// pipe is per token. Results are per token (256 tokens per invocation). Expected allocation: 0 B per token (the writer's
/// <see cref="Utf8JsonWriter"/> is reused and the pipe's segments are pooled once warm).
/// </summary>
[MemoryDiagnoser]
public class SseChunkWriterBenchmarks
{
    const int Tokens = 256;
    static readonly string[] Words = [" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog"];

    Pipe pipe = null!;
    SseChunkWriter chat = null!;
    SseChunkWriter text = null!;
    GenerationRequest request = null!;
    TokenEvent[] events = [];
    TokenEvent[] thoughts = [];

    [GlobalSetup]
    public void Setup()
    {
        // No back-pressure: the reader drains after every flush, as a fast client would.
        pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
        var vocabulary = TokenVocabulary.Parse(DetokenizerBenchmarks.BuildTokenizerJson(), "benchmark tokenizer.json");
        var id = JsonEncodedText.Encode("chatcmpl-0123456789abcdef0123456789abcdef");
        var model = JsonEncodedText.Encode("benchmark-fp32");
        chat = new SseChunkWriter(pipe.Writer, chat: true, id, 1_764_000_000, model, includeUsage: true, vocabulary);
        this.text = new SseChunkWriter(pipe.Writer, chat: false, id, 1_764_000_000, model, includeUsage: false, vocabulary);
        request = new GenerationRequest([1, 2, 3], SamplingParams.Greedy, Tokens);
        events = new TokenEvent[Tokens];
        for (int i = 0; i < Tokens; i++)
        {
            byte[] text = Encoding.UTF8.GetBytes(Words[i % Words.Length]);
            var ev = new TokenEvent { Kind = TokenEventKind.Token, TokenId = 256 + i % Words.Length, Index = i, TextLength = (byte)text.Length };
            text.CopyTo(ev.Text);
            events[i] = ev;
        }
        thoughts = [.. events];
        for (int i = 0; i < Tokens; i++) thoughts[i].Reasoning = true;
        Chat_token_chunk();
        Completion_token_chunk();
        Chat_reasoning_token_chunk();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Tokens)]
    public long Chat_token_chunk() => Stream(chat);

    [Benchmark(OperationsPerInvoke = Tokens)]
    public long Completion_token_chunk() => Stream(text);

    /// <summary>A reasoning model's thought: the same chunk with <c>delta.reasoning_content</c>.</summary>
    [Benchmark(OperationsPerInvoke = Tokens)]
    public long Chat_reasoning_token_chunk() => Stream(chat, thoughts);

    long Stream(SseChunkWriter writer) => Stream(writer, events);

    long Stream(SseChunkWriter writer, TokenEvent[] events)
    {
        long bytes = 0;
        var reader = pipe.Reader;
        for (int i = 0; i < events.Length; i++)
        {
            writer.WriteToken(0, in events[i], LogprobsMode.None, request, 0, 0);
            // Synchronous: no back-pressure and no reader waiting, so the flush completes inline.
            writer.FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
            if (!reader.TryRead(out ReadResult result)) throw new InvalidOperationException("nothing was written");
            bytes += result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
        }
        return bytes;
    }
}
