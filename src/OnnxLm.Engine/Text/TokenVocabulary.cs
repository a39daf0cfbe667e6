using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OnnxLm.Engine.Text;

/// <summary>
/// The bytes each token id stands for, built once from an HF <c>tokenizer.json</c> by running every token, added tokens
/// included, through its <c>decoder</c> section, so detokenization is a byte copy per token and never depends on GenAI's
/// decoder (which drops text after an invalid UTF-8 sequence). What the decoder does to a whole sequence rather than to
/// each token (Strip's leading space, Metaspace's first token) is left to <see cref="IncrementalDetokenizer"/>.
/// Invariant: token <c>id</c>'s bytes are <c>_bytes[_offsets[id].._offsets[id + 1]]</c>, and its bytes when it is the
/// first token of a sequence are the same slice of <c>_firstBytes</c> (Metaspace only; otherwise the same table); ids
/// that the file does not define map to no bytes. Immutable after load, so one instance is shared by every request.
/// </summary>
public sealed class TokenVocabulary
{
    // Guards against a corrupt file asking for a multi-gigabyte table; real vocabularies are below 300k ids.
    private const int MaxTokenId = (1 << 24) - 1;

    private readonly byte[] bytes;
    private readonly int[] offsets;
    private readonly byte[] firstBytes;
    private readonly int[] firstOffsets;
    private readonly ulong[] defined;
    private readonly ulong[] special;
    private readonly Dictionary<string, int> addedTokens;

    private TokenVocabulary(byte[] bytes, int[] offsets, byte[]? firstBytes, int[]? firstOffsets, ulong[] defined,
        ulong[] special, Dictionary<string, int> addedTokens, bool stripsLeadingSpace)
    {
        this.bytes = bytes;
        this.offsets = offsets;
        this.firstBytes = firstBytes ?? bytes;
        this.firstOffsets = firstOffsets ?? offsets;
        this.defined = defined;
        this.special = special;
        this.addedTokens = addedTokens;
        StripsLeadingSpace = stripsLeadingSpace;
    }

    /// <summary>Number of ids: one more than the highest id defined by <c>model.vocab</c> or <c>added_tokens</c>.</summary>
    public int Count => offsets.Length - 1;

    /// <summary>
    /// The SentencePiece-style decoder ends with <c>Strip(" ", 1, 0)</c>: the first space of a decoded sequence is
    /// dropped (it is the word-boundary marker of the first word, not text).
    /// </summary>
    public bool StripsLeadingSpace { get; }

    /// <summary>Total bytes of all tokens (the size of the flat table).</summary>
    public int TotalBytes => bytes.Length;

    public ReadOnlySpan<byte> GetBytes(int id)
    {
        if ((uint)id >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in [0, {Count}).");
        }
        int start = offsets[id];
        return new ReadOnlySpan<byte>(bytes, start, offsets[id + 1] - start);
    }

    /// <summary>
    /// The bytes of <paramref name="id"/> as the first token of a sequence: with a Metaspace decoder (prepend scheme
    /// other than <c>never</c>) its replacement characters are dropped rather than turned into spaces, as HF does;
    /// otherwise the same as <see cref="GetBytes"/>.
    /// </summary>
    public ReadOnlySpan<byte> GetFirstTokenBytes(int id)
    {
        if ((uint)id >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in [0, {Count}).");
        }
        int start = firstOffsets[id];
        return new ReadOnlySpan<byte>(firstBytes, start, firstOffsets[id + 1] - start);
    }

    /// <summary>True for ids the file defines (in <c>model.vocab</c> or <c>added_tokens</c>); HF's decode drops the others.</summary>
    public bool IsDefined(int id) => (uint)id < (uint)Count && (defined[id >> 6] & (1UL << id)) != 0;

    /// <summary>
    /// True for <c>added_tokens</c> entries marked <c>"special": true</c>, and for any id spelled like one (HF skips
    /// special tokens by their text), skipped when asked to.
    /// </summary>
    public bool IsSpecial(int id) => (uint)id < (uint)Count && (special[id >> 6] & (1UL << id)) != 0;

    /// <summary>The id of the added token whose content is exactly <paramref name="content"/> (e.g. <c>&lt;|im_end|&gt;</c>).</summary>
    public int? FindToken(string content) => addedTokens.TryGetValue(content, out int id) ? id : null;

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
        List<(int Id, string Content, bool Special)> addedTokens = ReadAddedTokens(root, sourceName);
        int count = CountIds(vocab, addedTokens, sourceName);
        var table = new TableWriter(count);
        // HF skips a token as special by its text, so a model.vocab entry spelled like a special added token is skipped too.
        var specialContents = new HashSet<string>(StringComparer.Ordinal);
        foreach ((_, string content, bool isSpecial) in addedTokens)
        {
            if (isSpecial)
            {
                specialContents.Add(content);
            }
        }
        var special = new ulong[(count + 63) >> 6];

        if (vocab.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty entry in vocab.EnumerateObject())
            {
                int id = ReadId(entry.Value, sourceName, "model.vocab");
                AddVocabToken(entry.Name, id, decoder, table, special, specialContents, sourceName);
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
                AddVocabToken(token, id++, decoder, table, special, specialContents, sourceName);
            }
        }

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new HashSet<int>();
        foreach ((int id, string content, _) in addedTokens)
        {
            if (!seen.Add(id))
            {
                throw new ModelFormatException($"{sourceName}: duplicate id {id} in added_tokens.");
            }
            // An added token replaces a model.vocab entry with the same id (Llama-2 lists <s> in both), its text decides
            // whether the id is special, and, as in HF's decode, it goes through the decoder like any token: Gemma's runs
            // of ▁ become spaces.
            table.Write(id, content, decoder);
            if (specialContents.Contains(content))
            {
                special[id >> 6] |= 1UL << id;
            }
            else
            {
                special[id >> 6] &= ~(1UL << id);
            }
            added.TryAdd(content, id);
        }
        (byte[] bytes, int[] offsets, byte[]? firstBytes, int[]? firstOffsets, ulong[] defined) = table.Compact();
        return new TokenVocabulary(bytes, offsets, firstBytes, firstOffsets, defined, special, added, decoder.StripLeadingSpace);
    }

    private static List<(int Id, string Content, bool Special)> ReadAddedTokens(JsonElement root, string sourceName)
    {
        var tokens = new List<(int, string, bool)>();
        if (!root.TryGetProperty("added_tokens"u8, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
        {
            return tokens;
        }
        foreach (JsonElement token in array.EnumerateArray())
        {
            int id = token.ValueKind == JsonValueKind.Object && token.TryGetProperty("id"u8, out JsonElement idElement)
                ? ReadId(idElement, sourceName, "added_tokens")
                : throw new ModelFormatException($"{sourceName}: an added_tokens entry has no 'id'.");
            string content = token.TryGetProperty("content"u8, out JsonElement c) && c.ValueKind == JsonValueKind.String
                ? c.GetString()!
                : throw new ModelFormatException($"{sourceName}: added token {id} has no 'content' string.");
            bool isSpecial = token.TryGetProperty("special"u8, out JsonElement s) && s.ValueKind == JsonValueKind.True;
            tokens.Add((id, content, isSpecial));
        }
        return tokens;
    }

    private static void AddVocabToken(string token, int id, DecoderSpec decoder, TableWriter table, ulong[] special,
        HashSet<string> specialContents, string sourceName)
    {
        if (table.IsDefined(id))
        {
            throw new ModelFormatException($"{sourceName}: duplicate id {id} in model.vocab.");
        }
        table.Write(id, token, decoder);
        if (specialContents.Contains(token))
        {
            special[id >> 6] |= 1UL << id;
        }
    }

    /// <summary>A token's bytes after the decoder's per-token steps (everything but the sequence-level strip).</summary>
    private static int WriteDecoded(string token, DecoderSpec decoder, ArrayBufferWriter<byte> scratch)
    {
        int length;
        if (decoder.ByteLevel)
        {
            length = WriteByteLevel(token, scratch.GetSpan(Encoding.UTF8.GetMaxByteCount(token.Length)));
        }
        else if (decoder.ByteFallback && TryParseByteToken(token, out byte value))
        {
            scratch.GetSpan(1)[0] = value;
            length = 1;
        }
        else
        {
            foreach ((string pattern, string content) in decoder.Replacements)
            {
                token = token.Replace(pattern, content, StringComparison.Ordinal);
            }
            length = Encoding.UTF8.GetBytes(token, scratch.GetSpan(Encoding.UTF8.GetMaxByteCount(token.Length)));
        }
        scratch.Advance(length);
        return length;
    }

    /// <summary>
    /// Collects each id's decoded bytes in file order (a later write for an id wins), then lays them out in id order.
    /// With a Metaspace decoder it also keeps each token's first-token form.
    /// </summary>
    private sealed class TableWriter(int count)
    {
        private readonly int[] starts = new int[count];
        private readonly int[] lengths = CreateLengths(count);
        private readonly ArrayBufferWriter<byte> scratch = new(Math.Max(256, count * 8));
        private int[]? firstStarts;
        private int[]? firstLengths;
        private ArrayBufferWriter<byte>? firstScratch;

        private static int[] CreateLengths(int count)
        {
            var lengths = new int[count];
            Array.Fill(lengths, -1);
            return lengths;
        }

        public bool IsDefined(int id) => lengths[id] >= 0;

        public void Write(int id, string token, DecoderSpec decoder)
        {
            starts[id] = scratch.WrittenCount;
            lengths[id] = WriteDecoded(token, decoder, scratch);
            if (decoder.FirstTokenDrops is { } drop)
            {
                firstStarts ??= new int[starts.Length];
                firstLengths ??= new int[starts.Length];
                firstScratch ??= new ArrayBufferWriter<byte>(Math.Max(256, starts.Length * 8));
                firstStarts[id] = firstScratch.WrittenCount;
                firstLengths[id] = WriteDecoded(token.Replace(drop, "", StringComparison.Ordinal), decoder, firstScratch);
            }
        }

        public (byte[] Bytes, int[] Offsets, byte[]? FirstBytes, int[]? FirstOffsets, ulong[] Defined) Compact()
        {
            var defined = new ulong[(lengths.Length + 63) >> 6];
            for (int id = 0; id < lengths.Length; id++)
            {
                if (lengths[id] >= 0)
                {
                    defined[id >> 6] |= 1UL << id;
                }
            }
            (byte[] bytes, int[] offsets) = Compact(scratch.WrittenSpan, starts, lengths);
            if (firstScratch is null)
            {
                return (bytes, offsets, null, null, defined);
            }
            (byte[] firstBytes, int[] firstOffsets) = Compact(firstScratch.WrittenSpan, firstStarts!, firstLengths!);
            return (bytes, offsets, firstBytes, firstOffsets, defined);
        }

        // Compact into id order so one token is one contiguous slice.
        private static (byte[], int[]) Compact(ReadOnlySpan<byte> written, int[] starts, int[] lengths)
        {
            int count = starts.Length;
            var offsets = new int[count + 1];
            for (int id = 0; id < count; id++)
            {
                offsets[id + 1] = offsets[id] + Math.Max(lengths[id], 0);
            }
            var bytes = GC.AllocateUninitializedArray<byte>(offsets[count]);
            for (int id = 0; id < count; id++)
            {
                if (lengths[id] > 0)
                {
                    written.Slice(starts[id], lengths[id]).CopyTo(bytes.AsSpan(offsets[id]));
                }
            }
            return (bytes, offsets);
        }
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

    private static int CountIds(JsonElement vocab, List<(int Id, string Content, bool Special)> addedTokens, string sourceName)
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
        foreach ((int id, _, _) in addedTokens)
        {
            max = Math.Max(max, id);
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
