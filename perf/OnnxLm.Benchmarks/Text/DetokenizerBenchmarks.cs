using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using OnnxLm.Engine.Text;

namespace OnnxLm.Benchmarks.Text;

/// <summary>
/// The per-token text path of one request: 1000 generated tokens through <see cref="IncrementalDetokenizer"/>, with and
/// without stop-string matching. Expected allocation: 0 B per operation (buffers are warmed in setup).
/// Tokens mix byte-level words with multi-byte characters split into single-byte tokens, so the hold-back paths run.
/// </summary>
[MemoryDiagnoser]
public class DetokenizerBenchmarks
{
    private const int TokenCount = 1000;
    private static readonly string[] Words =
        [" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog", ".", ",", "\n", " café", " naïve"];
    private static readonly string[] Characters = ["€", "🙂", "中", "文", "é"];

    private TokenVocabulary vocabulary = null!;
    private IncrementalDetokenizer detokenizer = null!;
    private StopMatchState stopState = null!;
    private StopMatchState noStopState = null!;
    private int[] tokens = null!;

    [GlobalSetup]
    public void Setup()
    {
        vocabulary = TokenVocabulary.Parse(BuildTokenizerJson(), "benchmark tokenizer.json");
        var random = new Random(7);
        var tokens = new List<int>(TokenCount);
        while (tokens.Count < TokenCount)
        {
            if (random.Next(4) == 0)
            {
                // A multi-byte character arriving one byte-token at a time, as byte-level BPE emits rare characters.
                foreach (byte b in Encoding.UTF8.GetBytes(Characters[random.Next(Characters.Length)]))
                {
                    tokens.Add(b);
                }
            }
            else
            {
                tokens.Add(256 + random.Next(Words.Length));
            }
        }
        this.tokens = [.. tokens.Take(TokenCount)];
        detokenizer = new IncrementalDetokenizer(vocabulary);
        // Stops that share prefixes with the text (" the" vs " th", "\n") but never complete: the worst case, full hold-back work.
        stopState = new StopMatchState(new StopMatcher([" thx", "\n\nUser:", "🙂🙂🙂"]));
        noStopState = new StopMatchState(StopMatcher.None);
        DetokenizeAndMatchStops(); // grow buffers before measurement
    }

    [Benchmark(Baseline = true)]
    public int Detokenize()
    {
        IncrementalDetokenizer detokenizer = this.detokenizer;
        detokenizer.Reset();
        int bytes = 0;
        foreach (int token in tokens)
        {
            detokenizer.Append(token, skipSpecial: true);
            bytes += detokenizer.TakeCompleted().Length;
        }
        return bytes + detokenizer.Flush().Length;
    }

    [Benchmark]
    public int DetokenizeAndMatchStops() => Run(stopState);

    [Benchmark]
    public int DetokenizeWithEmptyStopList() => Run(noStopState);

    private int Run(StopMatchState state)
    {
        IncrementalDetokenizer detokenizer = this.detokenizer;
        detokenizer.Reset();
        state.Reset();
        int bytes = 0;
        foreach (int token in tokens)
        {
            detokenizer.Append(token, skipSpecial: true);
            if (state.Process(detokenizer.TakeCompleted(), out ReadOnlySpan<byte> emit))
            {
                return bytes + emit.Length;
            }
            bytes += emit.Length;
        }
        state.Process(detokenizer.Flush(), out ReadOnlySpan<byte> last);
        return bytes + last.Length + state.Flush().Length;
    }

    /// <summary>A byte-level tokenizer.json: ids 0..255 are single bytes, then one id per word.</summary>
    internal static byte[] BuildTokenizerJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartArray("added_tokens");
            w.WriteStartObject();
            w.WriteNumber("id", 256 + Words.Length);
            w.WriteString("content", "<|endoftext|>");
            w.WriteBoolean("special", true);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteStartObject("vocab");
            for (int b = 0; b < 256; b++)
            {
                w.WriteNumber(ToByteLevel([(byte)b]), b);
            }
            for (int i = 0; i < Words.Length; i++)
            {
                w.WriteNumber(ToByteLevel(Encoding.UTF8.GetBytes(Words[i])), 256 + i);
            }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static string ToByteLevel(byte[] bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteLevelAlphabet.ToChar(bytes[i]);
        }
        return new string(chars);
    }
}
