using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxLm.Tests.Fixtures;

/// <summary>
/// GenAI as the reference implementation: greedy tokens from its <see cref="Generator"/> and encodings from its
/// <see cref="Tokenizer"/>. One GenAI <see cref="Model"/> per folder is kept for the whole test run; calls on the same
/// folder are serialized because GenAI objects are not documented as thread-safe.
/// </summary>
public static class Oracle
{
    private sealed class Loaded(string directory)
    {
        public readonly Microsoft.ML.OnnxRuntimeGenAI.Model Model = new(directory);
        public Tokenizer? Tokenizer;
        public readonly Lock Gate = new();
    }

    private static readonly ConcurrentDictionary<string, Lazy<Loaded>> Cache = new(StringComparer.Ordinal);

    /// <summary>The tokens GenAI's greedy search appends after <paramref name="prompt"/>: at most
    /// <paramref name="maxNewTokens"/>, fewer when it stops at an EOS token. Like GenAI's own sequence, the result
    /// does not contain that EOS token.</summary>
    public static int[] GreedyTokens(string modelDir, ReadOnlySpan<int> prompt, int maxNewTokens) =>
        GreedyTokens(modelDir, prompt, maxNewTokens, out _);

    /// <inheritdoc cref="GreedyTokens(string, ReadOnlySpan{int}, int)"/>
    /// <param name="stoppedAtEos">True when generation ended on an EOS token (not included in the result).</param>
    public static int[] GreedyTokens(string modelDir, ReadOnlySpan<int> prompt, int maxNewTokens, out bool stoppedAtEos)
    {
        var loaded = Get(modelDir);
        lock (loaded.Gate)
        {
            using var parameters = new GeneratorParams(loaded.Model);
            parameters.SetSearchOption("max_length", prompt.Length + maxNewTokens);
            parameters.SetSearchOption("do_sample", false);
            using var generator = new Generator(loaded.Model, parameters);
            generator.AppendTokens(prompt);
            int last = -1;
            while (!generator.IsDone())
            {
                generator.GenerateNextToken();
                last = generator.GetNextTokens()[0];
            }
            int[] generated = generator.GetSequence(0)[prompt.Length..].ToArray();
            // GenAI drops the EOS from the sequence, so the last sampled token then differs from the sequence's end.
            stoppedAtEos = generated.Length < maxNewTokens && (generated.Length == 0 || last != generated[^1]);
            return generated;
        }
    }

    /// <summary>Token ids of <paramref name="text"/> from GenAI's tokenizer for the folder.</summary>
    public static int[] Encode(string modelDir, string text)
    {
        var loaded = Get(modelDir);
        lock (loaded.Gate)
        {
            using var sequences = Tokenizer(loaded).Encode(text);
            return sequences[0].ToArray();
        }
    }

    /// <summary>GenAI's decoding of <paramref name="tokens"/>.</summary>
    public static string Decode(string modelDir, ReadOnlySpan<int> tokens)
    {
        var loaded = Get(modelDir);
        lock (loaded.Gate)
            return Tokenizer(loaded).Decode(tokens);
    }

    /// <summary>GenAI's rendering of the folder's chat template over an OpenAI-style messages JSON array.</summary>
    public static string ApplyChatTemplate(string modelDir, string messagesJson, bool addGenerationPrompt)
    {
        var loaded = Get(modelDir);
        lock (loaded.Gate)
            return Tokenizer(loaded).ApplyChatTemplate(null, messagesJson, null, addGenerationPrompt);
    }

    private static Tokenizer Tokenizer(Loaded loaded) => loaded.Tokenizer ??= new Tokenizer(loaded.Model);

    private static Loaded Get(string modelDir) =>
        Cache.GetOrAdd(Path.GetFullPath(modelDir), d => new Lazy<Loaded>(() => new Loaded(d))).Value;
}
