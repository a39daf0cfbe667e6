using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Text;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Constraints;

/// <summary>Vocabularies and tries for the constrained-decoder tests, built once per test run.</summary>
internal static class ConstraintFixtures
{
    static readonly Lazy<TokenTrie> ByteTrie = new(() => new TokenTrie(BuildByteVocabulary()));
    static readonly Lazy<TokenTrie> QwenTrie = new(() => new TokenTrie(TokenVocabulary.Load(
        Path.Combine(RealFamilies.SharedTokenizers, "qwen2.5-1.5b-instruct", "tokenizer.json"))));
    static readonly Lazy<TokenTrie> GemmaTrie = new(() => new TokenTrie(TokenVocabulary.Load(
        Path.Combine(RealFamilies.SharedTokenizers, "gemma-3-1b-it", "tokenizer.json"))));

    /// <summary>A byte-level vocabulary: ids 0–255 are the single bytes, then a few multi-byte tokens, then a special EOS.</summary>
    public static TokenTrie Bytes => ByteTrie.Value;

    public static TokenTrie Qwen => QwenTrie.Value;

    public static TokenTrie Gemma => GemmaTrie.Value;

    static readonly Lazy<TokenTrie> O200kTrie = new(() => new TokenTrie(BuildTiktokenVocabulary(
        System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.O200kBase"), "o200k_base.tiktoken.deflate", "o200k_base")));

    /// <summary>OpenAI's o200k_base (GPT-4o, 200k tokens): the ranks and bytes of the tiktoken file that
    /// Microsoft.ML.Tokenizers.Data.O200kBase embeds, as a byte-level vocabulary, plus its end-of-text token.</summary>
    public static TokenTrie O200k => O200kTrie.Value;

    private static TokenVocabulary BuildTiktokenVocabulary(System.Reflection.Assembly assembly, string resource, string name)
    {
        using var compressed = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{assembly.GetName().Name} holds no resource {resource}");
        using var reader = new StreamReader(new System.IO.Compression.DeflateStream(compressed, System.IO.Compression.CompressionMode.Decompress));
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = 0;
        // The packaged form: a "Capacity: N" line, then one base64 token per line in rank order (tiktoken's own
        // "base64 rank" lines are read too).
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            int rank = space < 0 ? next : int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture);
            vocab[ByteLevel(Convert.FromBase64String(space < 0 ? line : line[..space]))] = rank;
            next = Math.Max(next, rank + 1);
        }
        return ByteLevelVocabulary(vocab, next, "<|endoftext|>", name);
    }

    public static readonly string[] ExtraTokens = ["{\"", "\":", "\",\"", "true", "null", "12", "\"}", "],", "é", "\\u00"];

    public static int ByteEos => 256 + ExtraTokens.Length;

    private static TokenVocabulary BuildByteVocabulary()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteLevel(new[] { (byte)b })] = b;
        }
        for (int i = 0; i < ExtraTokens.Length; i++)
        {
            vocab[ByteLevel(Encoding.UTF8.GetBytes(ExtraTokens[i]))] = 256 + i;
        }
        return ByteLevelVocabulary(vocab, ByteEos, "<eos>", "byte-vocabulary");
    }

    /// <summary>A tokenizer.json with a byte-level vocabulary and decoder and one special end token, parsed.</summary>
    private static TokenVocabulary ByteLevelVocabulary(Dictionary<string, int> vocab, int eosId, string eosContent, string name)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("model");
            writer.WriteStartObject("vocab");
            foreach ((string token, int id) in vocab)
            {
                writer.WriteNumber(token, id);
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteStartObject("decoder");
            writer.WriteString("type", "ByteLevel");
            writer.WriteEndObject();
            writer.WriteStartArray("added_tokens");
            writer.WriteStartObject();
            writer.WriteNumber("id", eosId);
            writer.WriteString("content", eosContent);
            writer.WriteBoolean("special", true);
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return TokenVocabulary.Parse(stream.ToArray(), name);
    }

    // GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards.
    private static readonly char[] ByteLevelMap = BuildByteLevelMap();

    private static char[] BuildByteLevelMap()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static string ByteLevel(byte[] bytes)
    {
        var map = ByteLevelMap;
        var sb = new StringBuilder();
        foreach (byte b in bytes)
        {
            sb.Append(map[b]);
        }
        return sb.ToString();
    }

    public static JsonGrammar Compile(string schema) => JsonSchemaCompiler.Compile(Encoding.UTF8.GetBytes(schema));

    /// <summary>Whether the matcher accepts exactly this document (every byte steps, and the end is accepting).</summary>
    public static bool Accepts(JsonGrammar grammar, ReadOnlySpan<byte> document, TokenTrie? trie = null)
    {
        var matcher = new GrammarMatcher(grammar, trie ?? Bytes);
        return matcher.TryAdvanceBytes(document) && matcher.IsAccepting;
    }

    public static bool Accepts(JsonGrammar grammar, string document) => Accepts(grammar, Encoding.UTF8.GetBytes(document));
}
