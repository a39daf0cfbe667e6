using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxLm.Engine.Model;

namespace OnnxLm.Engine.Text;

/// <summary>
/// The bytes each token id stands for, built once from an HF <c>tokenizer.json</c> by following its <c>decoder</c>
/// section, so detokenization is a byte copy per token and never depends on GenAI's decoder (which drops text after an
/// invalid UTF-8 sequence).
/// Invariant: token <c>id</c>'s bytes are <c>_bytes[_offsets[id].._offsets[id + 1]]</c>; ids that the file does not
/// define map to no bytes. Immutable after load, so one instance is shared by every request of a model.
/// </summary>
public sealed class TokenVocabulary
{
    // Guards against a corrupt file asking for a multi-gigabyte table; real vocabularies are below 300k ids.
    private const int MaxTokenId = (1 << 24) - 1;

    private readonly byte[] _bytes;
    private readonly int[] _offsets;
    private readonly ulong[] _special;
    private readonly Dictionary<string, int> _addedTokens;

    private TokenVocabulary(byte[] bytes, int[] offsets, ulong[] special, Dictionary<string, int> addedTokens,
        bool stripsLeadingSpace)
    {
        _bytes = bytes;
        _offsets = offsets;
        _special = special;
        _addedTokens = addedTokens;
        StripsLeadingSpace = stripsLeadingSpace;
    }

    /// <summary>Number of ids: one more than the highest id defined by <c>model.vocab</c> or <c>added_tokens</c>.</summary>
    public int Count => _offsets.Length - 1;

    /// <summary>
    /// The SentencePiece-style decoder ends with <c>Strip(" ", 1, 0)</c>: the first space of a decoded sequence is
    /// dropped (it is the word-boundary marker of the first word, not text).
    /// </summary>
    public bool StripsLeadingSpace { get; }

    /// <summary>Total bytes of all tokens (the size of the flat table).</summary>
    public int TotalBytes => _bytes.Length;

    public ReadOnlySpan<byte> GetBytes(int id)
    {
        if ((uint)id >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in [0, {Count}).");
        }
        int start = _offsets[id];
        return new ReadOnlySpan<byte>(_bytes, start, _offsets[id + 1] - start);
    }

    /// <summary>True for <c>added_tokens</c> entries marked <c>"special": true</c> (skipped when asked to).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)Count && (_special[id >> 6] & (1UL << id)) != 0;

    /// <summary>The id of the added token whose content is exactly <paramref name="content"/> (e.g. <c>&lt;|im_end|&gt;</c>).</summary>
    public int? FindToken(string content) => _addedTokens.TryGetValue(content, out int id) ? id : null;

    public static TokenVocabulary Load(string tokenizerJsonPath)
    {
        byte[] json = File.ReadAllBytes(tokenizerJsonPath);
        return Parse(json, tokenizerJsonPath);
    }

    /// <summary>Parses tokenizer.json text; <paramref name="sourceName"/> names the file in error messages.</summary>
    public static TokenVocabulary Parse(ReadOnlyMemory<byte> utf8Json, string sourceName)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{sourceName}: not valid JSON ({e.Message}).");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException($"{sourceName}: the root is not a JSON object.");
            }
            DecoderSpec decoder = DecoderSpec.Read(root, sourceName);
            return Build(root, decoder, sourceName);
        }
    }

    private static TokenVocabulary Build(JsonElement root, DecoderSpec decoder, string sourceName)
    {
        if (!root.TryGetProperty("model"u8, out JsonElement model) || model.ValueKind != JsonValueKind.Object
            || !model.TryGetProperty("vocab"u8, out JsonElement vocab)
            || vocab.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
        {
            throw new ModelFormatException($"{sourceName}: missing 'model.vocab' (token → id).");
        }
        JsonElement addedTokens = root.TryGetProperty("added_tokens"u8, out JsonElement a) && a.ValueKind == JsonValueKind.Array
            ? a
            : default;

        int count = CountIds(vocab, addedTokens, sourceName);
        var starts = new int[count];
        var lengths = new int[count];
        Array.Fill(lengths, -1);
        var scratch = new ArrayBufferWriter<byte>(Math.Max(256, count * 8));

        if (vocab.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty entry in vocab.EnumerateObject())
            {
                int id = ReadId(entry.Value, sourceName, "model.vocab");
                AddVocabToken(entry.Name, id, decoder, scratch, starts, lengths, sourceName);
            }
        }
        else
        {
            // Unigram stores [token, score] pairs; the id is the position.
            int id = 0;
            foreach (JsonElement pair in vocab.EnumerateArray())
            {
                string token = pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() > 0
                    && pair[0].ValueKind == JsonValueKind.String
                    ? pair[0].GetString()!
                    : throw new ModelFormatException($"{sourceName}: model.vocab entry {id} is not a [token, score] pair.");
                AddVocabToken(token, id++, decoder, scratch, starts, lengths, sourceName);
            }
        }

        var special = new ulong[(count + 63) >> 6];
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (addedTokens.ValueKind == JsonValueKind.Array)
        {
            var seen = new HashSet<int>();
            foreach (JsonElement token in addedTokens.EnumerateArray())
            {
                int id = token.ValueKind == JsonValueKind.Object && token.TryGetProperty("id"u8, out JsonElement idElement)
                    ? ReadId(idElement, sourceName, "added_tokens")
                    : throw new ModelFormatException($"{sourceName}: an added_tokens entry has no 'id'.");
                string content = token.TryGetProperty("content"u8, out JsonElement c) && c.ValueKind == JsonValueKind.String
                    ? c.GetString()!
                    : throw new ModelFormatException($"{sourceName}: added token {id} has no 'content' string.");
                if (!seen.Add(id))
                {
                    throw new ModelFormatException($"{sourceName}: duplicate id {id} in added_tokens.");
                }
                // Added tokens decode to their literal text and take precedence over a model.vocab entry with the same
                // id (Llama-2 lists <s> in both), as in HF's decode.
                starts[id] = scratch.WrittenCount;
                lengths[id] = Encoding.UTF8.GetBytes(content, scratch.GetSpan(Encoding.UTF8.GetMaxByteCount(content.Length)));
                scratch.Advance(lengths[id]);
                if (token.TryGetProperty("special"u8, out JsonElement s) && s.ValueKind == JsonValueKind.True)
                {
                    special[id >> 6] |= 1UL << id;
                }
                added.TryAdd(content, id);
            }
        }

        // Compact into id order so one token is one contiguous slice.
        var offsets = new int[count + 1];
        for (int id = 0; id < count; id++)
        {
            offsets[id + 1] = offsets[id] + Math.Max(lengths[id], 0);
        }
        var bytes = GC.AllocateUninitializedArray<byte>(offsets[count]);
        ReadOnlySpan<byte> written = scratch.WrittenSpan;
        for (int id = 0; id < count; id++)
        {
            if (lengths[id] > 0)
            {
                written.Slice(starts[id], lengths[id]).CopyTo(bytes.AsSpan(offsets[id]));
            }
        }
        return new TokenVocabulary(bytes, offsets, special, added, decoder.StripLeadingSpace);
    }

    private static void AddVocabToken(string token, int id, DecoderSpec decoder, ArrayBufferWriter<byte> scratch,
        int[] starts, int[] lengths, string sourceName)
    {
        if (lengths[id] >= 0)
        {
            throw new ModelFormatException($"{sourceName}: duplicate id {id} in model.vocab.");
        }
        starts[id] = scratch.WrittenCount;
        if (decoder.ByteLevel)
        {
            lengths[id] = WriteByteLevel(token, scratch.GetSpan(Encoding.UTF8.GetMaxByteCount(token.Length)));
        }
        else if (decoder.ByteFallback && TryParseByteToken(token, out byte value))
        {
            scratch.GetSpan(1)[0] = value;
            lengths[id] = 1;
        }
        else
        {
            foreach ((string pattern, string content) in decoder.Replacements)
            {
                token = token.Replace(pattern, content, StringComparison.Ordinal);
            }
            lengths[id] = Encoding.UTF8.GetBytes(token, scratch.GetSpan(Encoding.UTF8.GetMaxByteCount(token.Length)));
        }
        scratch.Advance(lengths[id]);
    }

    private static int WriteByteLevel(string token, Span<byte> destination)
    {
        for (int i = 0; i < token.Length; i++)
        {
            if (!ByteLevelAlphabet.TryGetByte(token[i], out destination[i]))
            {
                // HF's ByteLevel decoder keeps a token with a character outside the alphabet as its raw UTF-8.
                return Encoding.UTF8.GetBytes(token, destination);
            }
        }
        return token.Length;
    }

    /// <summary>SentencePiece byte-fallback tokens are spelled <c>&lt;0xNN&gt;</c> and stand for one raw byte.</summary>
    private static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static int CountIds(JsonElement vocab, JsonElement addedTokens, string sourceName)
    {
        int max = -1;
        if (vocab.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty entry in vocab.EnumerateObject())
            {
                max = Math.Max(max, ReadId(entry.Value, sourceName, "model.vocab"));
            }
        }
        else
        {
            max = vocab.GetArrayLength() - 1;
            if (max > MaxTokenId)
            {
                throw new ModelFormatException($"{sourceName}: model.vocab has {max + 1} entries, more than {MaxTokenId + 1}.");
            }
        }
        if (addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement token in addedTokens.EnumerateArray())
            {
                if (token.ValueKind == JsonValueKind.Object && token.TryGetProperty("id"u8, out JsonElement id))
                {
                    max = Math.Max(max, ReadId(id, sourceName, "added_tokens"));
                }
            }
        }
        if (max < 0)
        {
            throw new ModelFormatException($"{sourceName}: 'model.vocab' is empty.");
        }
        return max + 1;
    }

    private static int ReadId(JsonElement element, string sourceName, string section)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long id))
        {
            throw new ModelFormatException($"{sourceName}: a token id in {section} is not an integer ({element.GetRawText()}).");
        }
        if (id is < 0 or > MaxTokenId)
        {
            throw new ModelFormatException($"{sourceName}: token id {id} in {section} is out of range [0, {MaxTokenId}].");
        }
        return (int)id;
    }
}
