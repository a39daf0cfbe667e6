using System.Text.Json;

namespace OnnxLm.Tests.Text;

/// <summary>
/// A tokenizer.json as the test reads it, independently of <c>TokenVocabulary</c>: each id's token text (an added token
/// replaces a <c>model.vocab</c> entry with the same id), which ids are added, and which are special. HF skips special
/// tokens by their text, so an id spelled like a special added token counts as special too.
/// </summary>
internal sealed class RawTokenizerFile
{
    private RawTokenizerFile(string?[] tokens, bool[] special, int[] addedIds)
    {
        Tokens = tokens;
        Special = special;
        AddedIds = addedIds;
    }

    public string?[] Tokens { get; }
    public bool[] Special { get; }
    public int[] AddedIds { get; }

    public static RawTokenizerFile Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
        JsonElement root = document.RootElement;
        JsonElement vocab = root.GetProperty("model").GetProperty("vocab");
        var byId = new Dictionary<int, string>();
        if (vocab.ValueKind == JsonValueKind.Array)
        {
            int id = 0;
            foreach (JsonElement pair in vocab.EnumerateArray()) byId[id++] = pair[0].GetString()!;
        }
        else
        {
            foreach (JsonProperty entry in vocab.EnumerateObject()) byId[entry.Value.GetInt32()] = entry.Name;
        }
        var specialTexts = new HashSet<string>(StringComparer.Ordinal);
        var added = new List<int>();
        foreach (JsonElement token in root.GetProperty("added_tokens").EnumerateArray())
        {
            int id = token.GetProperty("id").GetInt32();
            string content = token.GetProperty("content").GetString()!;
            byId[id] = content;
            added.Add(id);
            if (token.GetProperty("special").GetBoolean()) specialTexts.Add(content);
        }
        int count = byId.Keys.Max() + 1;
        var tokens = new string?[count];
        var special = new bool[count];
        foreach ((int id, string text) in byId)
        {
            tokens[id] = text;
            special[id] = specialTexts.Contains(text);
        }
        return new RawTokenizerFile(tokens, special, [.. added]);
    }
}
