using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxLm.Baseline;

/// <summary>
/// The straightforward way to serve a GenAI model from C#: one <see cref="Model"/> and <see cref="Tokenizer"/>, and for
/// each request a fresh <see cref="Generator"/> run to completion while holding the only permit of a FIFO
/// <see cref="SemaphoreSlim"/>. Requests wait their turn and are never rejected. Everything GenAI is touched only while
/// holding the permit (GenAI objects are not documented as thread-safe).
/// </summary>
public sealed class GenAiModel : IDisposable
{
    readonly Config config;
    readonly Model model;
    readonly Tokenizer tokenizer;
    readonly SemaphoreSlim queue = new(1, 1);
    readonly int[] eosIds;

    public GenAiModel(string directory, int? threads)
    {
        config = new Config(directory);
        if (threads is { } t)
            config.Overlay("{\"model\":{\"decoder\":{\"session_options\":{\"intra_op_num_threads\":" +
                t.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"inter_op_num_threads\":1}}}}");
        model = new Model(config);
        tokenizer = new Tokenizer(model);
        eosIds = tokenizer.GetEosTokenIds().ToArray();
        ContextLength = ReadContextLength(directory);
        Name = Path.GetFileName(Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar));
    }

    public int ContextLength { get; }

    public string Name { get; }

    /// <summary>Waits for the model, then generates, calling <paramref name="onText"/> with each non-empty decoded
    /// piece as soon as its token is sampled.</summary>
    public async Task<GenerationOutcome> GenerateAsync(PromptInput input, GenerationSettings settings,
        Func<string, ValueTask> onText, CancellationToken ct)
    {
        await queue.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            int[] prompt = Tokens(input);
            if (prompt.Length == 0) throw new BadRequestException("the prompt is empty");
            if (prompt.Length >= ContextLength)
                throw new BadRequestException($"the prompt has {prompt.Length} tokens; the context length is {ContextLength}");
            int maxLength = settings.MaxTokens is { } m ? Math.Min(ContextLength, prompt.Length + m) : ContextLength;

            using var parameters = new GeneratorParams(model);
            parameters.SetSearchOption("max_length", maxLength);
            if (settings.IgnoreEos) parameters.SetSearchOption("min_length", maxLength);
            if (settings.Temperature > 0)
            {
                parameters.SetSearchOption("do_sample", true);
                parameters.SetSearchOption("temperature", settings.Temperature);
                if (settings.TopP is { } p) parameters.SetSearchOption("top_p", p);
                if (settings.TopK is { } k) parameters.SetSearchOption("top_k", k);
                if (settings.Seed is { } seed) parameters.SetSearchOption("random_seed", seed);
            }
            else parameters.SetSearchOption("do_sample", false);

            using var generator = new Generator(model, parameters);
            generator.AppendTokens(prompt);
            using var stream = tokenizer.CreateStream();
            int generated = 0;
            string finish = "length";
            while (!generator.IsDone())
            {
                ct.ThrowIfCancellationRequested();
                generator.GenerateNextToken();
                int token = generator.GetNextTokens()[0];
                if (!settings.IgnoreEos && Array.IndexOf(eosIds, token) >= 0)
                {
                    finish = "stop";
                    break;
                }
                generated++;
                string piece = stream.Decode(token);
                if (piece.Length > 0) await onText(piece).ConfigureAwait(false);
            }
            return new GenerationOutcome(prompt.Length, generated, finish);
        }
        finally
        {
            queue.Release();
        }
    }

    int[] Tokens(PromptInput input)
    {
        if (input.Tokens is { } ids) return ids;
        string text = input.MessagesJson is { } messages
            ? tokenizer.ApplyChatTemplate(null, messages, null, true)
            : input.Text ?? "";
        using var sequences = tokenizer.Encode(text);
        return sequences[0].ToArray();
    }

    static int ReadContextLength(string directory)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "genai_config.json")));
        var root = doc.RootElement;
        if (root.TryGetProperty("model", out var m) && m.TryGetProperty("context_length", out var c) && c.TryGetInt32(out int n)) return n;
        if (root.TryGetProperty("search", out var s) && s.TryGetProperty("max_length", out var l) && l.TryGetInt32(out n)) return n;
        return 2048;
    }

    public void Dispose()
    {
        tokenizer.Dispose();
        model.Dispose();
        config.Dispose();
        queue.Dispose();
    }
}
