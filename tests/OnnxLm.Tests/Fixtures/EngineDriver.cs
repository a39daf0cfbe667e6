using System.Buffers;
using OnnxLm.Builder;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Tests.Fixtures;

/// <summary>What one request produced, read from its event ring.</summary>
public sealed record RunResult(int[] Tokens, FinishReason Finish, string Text, string? Error, int PromptTokens, int CompletionTokens, int CachedTokens = 0)
{
    /// <summary>Generated tokens without a final EOS (GenAI's Generator leaves it out too).</summary>
    public int[] TokensWithoutEos(IReadOnlyCollection<int> eos) =>
        Tokens.Length > 0 && Finish == FinishReason.Stop && eos.Contains(Tokens[^1]) ? Tokens[..^1] : Tokens;
}

/// <summary>Reads a request's events in the background, like an HTTP handler would, and exposes progress.</summary>
public sealed class Collector
{
    readonly List<int> tokens = [];
    readonly System.Buffers.ArrayBufferWriter<byte> text = new();

    public Collector(GenerationRequest request)
    {
        Request = request;
        Completion = Task.Run(RunAsync);
    }

    public GenerationRequest Request { get; }
    public Task<RunResult> Completion { get; }

    public int TokenCount
    {
        get { lock (tokens) return tokens.Count; }
    }

    public async Task WaitForTokensAsync(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (TokenCount < count && !Completion.IsCompleted)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"request {Request.Id} produced {TokenCount} of {count} tokens");
            await Task.Delay(1);
        }
    }

    async Task<RunResult> RunAsync()
    {
        var events = Request.Events;
        TokenEvent last = default;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (await events.WaitToReadAsync(timeout.Token))
        {
            while (events.TryRead(out var ev))
            {
                switch (ev.Kind)
                {
                    case TokenEventKind.Token:
                        lock (tokens) tokens.Add(ev.TokenId);
                        text.Write(ev.TextBytes);
                        break;
                    case TokenEventKind.Text:
                        text.Write(ev.TextBytes);
                        break;
                    default:
                        last = ev;
                        break;
                }
            }
        }
        lock (tokens)
            return new RunResult([.. tokens], last.Finish, System.Text.Encoding.UTF8.GetString(text.WrittenSpan), last.Kind == TokenEventKind.Error ? last.Error : null,
                last.PromptTokens, last.CompletionTokens, last.CachedTokens);
    }
}

public static class EngineDriver
{
    /// <summary>Test engines get a small block pool: the tests run many engines at once.</summary>
    public const long TestCacheMemory = 64L << 20;

    public static InferenceEngine Start(string modelDir, int maxBatchSize = 4, int prefillStepSize = 512, int maxQueue = 64, int? contextLength = null,
        bool prefixCache = true, int blockSize = 16, long kvCacheMemory = TestCacheMemory, int kvBits = 0, string? ssdDir = null, bool ssdWriteThrough = false,
        int decodePrefillTokens = 0) =>
        InferenceEngine.Start(new EngineOptions
        {
            ModelDirectory = modelDir,
            MaxBatchSize = maxBatchSize,
            PrefillStepSize = prefillStepSize,
            DecodePrefillTokens = decodePrefillTokens,
            MaxQueue = maxQueue,
            ContextLength = contextLength,
            PrefixCache = prefixCache,
            BlockSize = blockSize,
            KvCacheMemory = kvCacheMemory,
            KvBits = kvBits,
            // Tests never touch the user's cache directory: the SSD tier only runs where a test gives it a directory.
            SsdCache = ssdDir is not null,
            KvCacheDir = ssdDir,
            SsdWriteThrough = ssdWriteThrough,
            // The collapse walks the whole test process's memory on a thread of its own after readiness: with many
            // engines at once that is CPU the tests' timing-sensitive parts would share. HugePagesTests covers it.
            HugePages = false,
        });

    /// <summary>A seeded prompt of ordinary (non-special) tokens of the tiny test vocabulary.</summary>
    public static int[] RandomPrompt(int seed, int length, int vocab = 0)
    {
        if (vocab == 0) vocab = ModelBuilderOptions.Tiny.EndOfTextTokenId;
        var rng = new Random(seed);
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = rng.Next(vocab);
        return p;
    }

    public static GenerationRequest Greedy(int[] prompt, int maxTokens, IReadOnlyList<string>? stop = null) =>
        new(prompt, SamplingParams.Greedy, maxTokens, stop);

    public static Collector Submit(InferenceEngine engine, GenerationRequest request)
    {
        if (!engine.TrySubmit(request)) throw new InvalidOperationException("queue full");
        return new Collector(request);
    }

    public static Task<RunResult> RunAsync(InferenceEngine engine, GenerationRequest request) => Submit(engine, request).Completion;

    /// <summary>Waits until the engine has no sequence in any row (cancellations and retirements applied).</summary>
    public static async Task<bool> WaitIdleAsync(InferenceEngine engine, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            if (engine.ActiveSequences == 0 && engine.WaitingRequests == 0 && engine.RowOwners().All(o => o == 0)) return true;
            await Task.Delay(5);
        }
        return false;
    }
}
