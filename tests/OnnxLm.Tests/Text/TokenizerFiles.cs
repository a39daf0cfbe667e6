using System.Text;
using System.Text.Json;

namespace OnnxLm.Tests.Text;

/// <summary>
/// Writes small tokenizer.json files shaped like the real ones (GPT-2/Qwen byte-level BPE, Llama-2/Phi-3 SentencePiece
/// BPE with byte fallback) into a temp folder, so the loader is tested on files, not on in-memory shortcuts.
/// </summary>
internal static class TokenizerFiles
{
    /// <summary>Byte-level vocabulary: ids 0..255 are the single bytes, then multi-byte and partial-UTF-8 tokens.</summary>
    public static readonly byte[][] ByteLevelTokens = BuildByteLevelTokens();

    public const int EAcute = 256;        // C3 A9
    public const int EuroHead = 257;      // E2 82 (first two bytes of €)
    public const int SmileHead = 258;     // F0 9F
    public const int SmileTail = 259;     // 99 82 (🙂 = F0 9F 99 82)
    public const int SpaceHello = 260;    // " hello"
    public const int CjkLead = 261;       // E4 (中 = E4 B8 AD)
    public const int CjkTail = 262;       // B8 AD
    public const int Stop = 263;          // "<END>"
    public const int ImEnd = 300;         // added, special: <|im_end|>
    public const int Tool = 301;          // added, not special: <tool>

    public static string WriteByteLevel(string directory)
    {
        var vocab = new List<(string, int)>();
        for (int id = 0; id < ByteLevelTokens.Length; id++)
        {
            vocab.Add((ToGpt2String(ByteLevelTokens[id]), id));
        }
        return Write(directory, "bytelevel.json", vocab, [(ImEnd, "<|im_end|>", true), (Tool, "<tool>", false)],
            w =>
            {
                w.WriteString("type", "ByteLevel");
                w.WriteBoolean("add_prefix_space", false);
                w.WriteBoolean("trim_offsets", true);
                w.WriteBoolean("use_regex", true);
            });
    }

    public const int SpUnk = 0, SpBos = 1, SpEos = 2, SpByte0 = 3; // <0x00> is id 3, <0xNN> is 3 + NN
    public const int SpHello = 259, SpWorld = 260, SpEAcute = 261, SpSpace = 262, SpEuro = 263, SpAssistant = 264;

    /// <summary>Llama-2 style: specials, 256 byte-fallback tokens, words with ▁, decoder Replace/ByteFallback/Fuse/Strip.</summary>
    public static string WriteSentencePiece(string directory)
    {
        var vocab = new List<(string, int)> { ("<unk>", SpUnk), ("<s>", SpBos), ("</s>", SpEos) };
        for (int b = 0; b < 256; b++)
        {
            vocab.Add(($"<0x{b:X2}>", SpByte0 + b));
        }
        vocab.Add(("▁Hello", SpHello));
        vocab.Add(("▁world", SpWorld));
        vocab.Add(("é", SpEAcute));
        vocab.Add(("▁", SpSpace));
        vocab.Add(("€", SpEuro));
        return Write(directory, "sentencepiece.json", vocab,
            [(SpUnk, "<unk>", true), (SpBos, "<s>", true), (SpEos, "</s>", true), (SpAssistant, "<|assistant|>", true)],
            SentencePieceDecoder);
    }

    public static void SentencePieceDecoder(Utf8JsonWriter w)
    {
        w.WriteString("type", "Sequence");
        w.WriteStartArray("decoders");
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", "▁");
        w.WriteEndObject();
        w.WriteString("content", " ");
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "ByteFallback");
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "Fuse");
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "Strip");
        w.WriteString("content", " ");
        w.WriteNumber("start", 1);
        w.WriteNumber("stop", 0);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    /// <summary>Writes a tokenizer.json with the given vocab, added tokens and decoder (null decoder writer: no decoder).</summary>
    public static string Write(string directory, string fileName, IEnumerable<(string Token, int Id)> vocab,
        IEnumerable<(int Id, string Content, bool Special)> added, Action<Utf8JsonWriter>? decoder)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteStartArray("added_tokens");
            foreach ((int id, string content, bool special) in added)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", content);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", special);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            if (decoder is not null)
            {
                w.WriteStartObject("decoder");
                decoder(w);
                w.WriteEndObject();
            }
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteStartObject("vocab");
            foreach ((string token, int id) in vocab)
            {
                w.WriteNumber(token, id);
            }
            w.WriteEndObject();
            w.WriteStartArray("merges");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, stream.ToArray());
        return path;
    }

    public static string NewTempDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "onnxlm-text-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>GPT-2's bytes_to_unicode, written independently of the engine's table so the test checks it.</summary>
    public static string ToGpt2String(byte[] bytes)
    {
        var chars = new List<int>();
        for (int b = '!'; b <= '~'; b++) chars.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) chars.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) chars.Add(b);
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            map[b] = chars.Contains(b) ? (char)b : (char)(256 + n++);
        }
        var sb = new StringBuilder();
        foreach (byte b in bytes) sb.Append(map[b]);
        return sb.ToString();
    }

    private static byte[][] BuildByteLevelTokens()
    {
        var tokens = new List<byte[]>();
        for (int b = 0; b < 256; b++) tokens.Add([(byte)b]);
        tokens.Add([0xC3, 0xA9]);
        tokens.Add([0xE2, 0x82]);
        tokens.Add([0xF0, 0x9F]);
        tokens.Add([0x99, 0x82]);
        tokens.Add(Encoding.UTF8.GetBytes(" hello"));
        tokens.Add([0xE4]);
        tokens.Add([0xB8, 0xAD]);
        tokens.Add(Encoding.UTF8.GetBytes("<END>"));
        return [.. tokens];
    }
}
