using System.Text;

namespace OnnxLm.Load.Workloads;

/// <summary>
/// Builds prompts of roughly N tokens from random common English words. Short common words are one token in most BPE
/// vocabularies (including the builder's pseudo-English one), so N words ≈ N tokens; the exact count comes back in
/// usage.prompt_tokens. Token-id prompts give exact lengths where the server accepts them.
/// </summary>
public static class PromptText
{
    static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
        "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
        "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do", "how",
        "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some", "her",
        "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see", "number",
        "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil", "its", "now",
        "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over", "new", "sound", "take",
        "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most", "very", "after",
        "thing", "our", "just", "name", "good", "man", "think", "say", "great", "where", "help", "through", "much",
        "before", "line", "right", "too", "mean", "old", "any", "same", "tell", "boy", "follow", "came", "want",
        "show", "also", "around", "form", "three", "small", "set", "put", "end", "does", "another", "well", "large",
        "must", "big", "even", "such", "because", "turn", "here", "why", "ask", "went", "men", "read", "need", "land",
        "different", "home", "us", "move", "try", "kind", "hand", "picture", "again", "change", "off", "play", "spell",
        "air", "away", "animal", "house", "point", "page", "letter", "mother", "answer", "found", "study", "still",
        "learn", "should", "world", "high", "every", "near", "add", "food", "between", "own", "below", "country",
        "plant", "last", "school", "father", "keep", "tree", "never", "start", "city", "earth", "eye", "light",
        "thought", "head", "under", "story", "saw", "left", "few", "while", "along", "might", "close", "something",
        "seem", "next", "hard", "open", "example", "begin", "life", "always", "those", "both", "paper", "together",
    ];

    /// <summary>Appends <paramref name="count"/> random words separated by spaces.</summary>
    public static void AppendWords(StringBuilder sb, Random rng, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (sb.Length > 0 && sb[^1] != ' ' && sb[^1] != '\n') sb.Append(' ');
            sb.Append(Words[rng.Next(Words.Length)]);
        }
    }

    public static string RandomWords(Random rng, int count)
    {
        var sb = new StringBuilder(count * 6);
        AppendWords(sb, rng, count);
        return sb.ToString();
    }

    /// <summary><paramref name="count"/> random token ids uniform in [<paramref name="minId"/>, <paramref name="maxIdExclusive"/>).</summary>
    public static int[] TokenIds(Random rng, int count, int minId, int maxIdExclusive)
    {
        var ids = new int[count];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(minId, maxIdExclusive);
        return ids;
    }
}
