using System.Collections.Concurrent;
using OnnxLm.Cli;
using OnnxLm.Engine.Text;
using OnnxLm.Hosting;
using OnnxLm.Http;
using OnnxLm.Tests.Fixtures;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.Http;

/// <summary>
/// Servers on random-weight reasoning models with real vocabularies (DeepSeek-R1-Distill, Qwen3), shared by the reasoning
/// tests. A request with a seed in [<see cref="FirstScriptSeed"/>, +1000) follows a scripted output
/// (<see cref="Script"/>, through the engine's TokenScript hook): the same ids the real model would sample, so the split,
/// the detokenizer and the SSE path are the real ones. Other requests sample the random model as usual.
/// </summary>
public sealed class ReasoningServers : IAsyncInitializer, IAsyncDisposable
{
    public const ulong FirstScriptSeed = 1000;

    /// <summary>The answer after the thought, as the model writes it (vLLM returns it verbatim, newlines included).</summary>
    public const string Answer = "\n\nRayleigh scattering.";
    public const string Thought = " The sky is blue because air scatters short waves";

    readonly ConcurrentDictionary<OnnxLmServer, int[]> thoughtTokens = new();

    public OnnxLmServer R1 { get; private set; } = null!;
    public OnnxLmServer R1Raw { get; private set; } = null!;
    public OnnxLmServer Qwen3 { get; private set; } = null!;
    public HttpClient R1Client { get; private set; } = null!;
    public HttpClient R1RawClient { get; private set; } = null!;
    public HttpClient Qwen3Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string r1 = await RealFamilies.DeepSeekR1Distill.ModelAsync();
        string qwen3 = await RealFamilies.Qwen3.ModelAsync();
        R1 = await StartAsync(r1, ReasoningFormat.DeepSeek);
        R1Raw = await StartAsync(r1, ReasoningFormat.None);
        Qwen3 = await StartAsync(qwen3, ReasoningFormat.DeepSeek);
        R1Client = ServerFixture.CreateClient(R1);
        R1RawClient = ServerFixture.CreateClient(R1Raw);
        Qwen3Client = ServerFixture.CreateClient(Qwen3);
    }

    async Task<OnnxLmServer> StartAsync(string model, ReasoningFormat format)
    {
        var server = await ServerFixture.StartDedicatedAsync(o =>
        {
            o.Model = model;
            o.ReasoningFormat = format;
            o.MaxBatchSize = 4;
            o.KvCacheMemory = EngineDriver.TestCacheMemory;
        });
        var engine = server.Engine;
        thoughtTokens[server] = engine.Prompts.Encode(Thought);
        engine.TokenScript = (request, index) =>
            request.Sampling.Seed is ulong seed && seed - FirstScriptSeed < 1000 && Script(server, seed) is var script && index < script.Length
                ? script[index]
                : null;
        return server;
    }

    /// <summary>Thought tokens a request with <paramref name="seed"/> writes before closing it: 2 to 5, by seed.</summary>
    public static int ThoughtLength(ulong seed) => 2 + (int)(seed % 4);

    /// <summary>
    /// The scripted output for <paramref name="seed"/>: on Qwen3 the opening tag first (its template leaves that to the
    /// model; R1's opens it in the prompt), the first <see cref="ThoughtLength"/> tokens of <see cref="Thought"/>, the
    /// closing tag, <see cref="Answer"/> and the end-of-sequence token.
    /// </summary>
    public int[] Script(OnnxLmServer server, ulong seed)
    {
        var engine = server.Engine;
        var tags = ReasoningTags.Find(engine.Vocabulary)!.Value;
        var opening = server == Qwen3 ? new[] { tags.Open } : [];
        return [.. opening, .. thoughtTokens[server].Take(ThoughtLength(seed)), tags.Close, .. engine.Prompts.Encode(Answer),
            engine.Contract.Config.EosTokenIds[0]];
    }

    /// <summary>The text of the scripted thought for <paramref name="seed"/>.</summary>
    public string ThoughtText(OnnxLmServer server, ulong seed) =>
        OpenAiWire.Detokenize(server.Engine.Contract.Directory, thoughtTokens[server].AsSpan(0, ThoughtLength(seed)));

    public async ValueTask DisposeAsync()
    {
        foreach (var client in new[] { R1Client, R1RawClient, Qwen3Client }) client?.Dispose();
        foreach (var server in new[] { R1, R1Raw, Qwen3 })
            if (server is not null) await server.DisposeAsync();
    }
}
