using System.Text;

namespace OnnxLm.Builder;

/// <summary>
/// A byte-level BPE vocabulary: ids 0..255 are the GPT-2 byte symbols in byte order, then one token per merge in
/// rank order. Invariants: every token string occurs exactly once; merge i joins two earlier tokens into token 256+i.
/// Merges are first learned greedily from <see cref="PseudoEnglishCorpus"/> (so English text encodes to multi-byte
/// tokens); when the corpus has no pair left, seeded random pairs of existing tokens fill the vocabulary.
/// </summary>
internal sealed class BpeVocabulary
{
    private const int CorpusSentences = 4000;
    private const int MaxFillTokenLength = 16;

    private BpeVocabulary(List<string> tokens, List<(int Left, int Right)> merges)
    {
        Tokens = tokens;
        Merges = merges;
    }

    /// <summary>Token strings in id order (byte-level symbols).</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Merges in rank order; merge i produces token <c>256 + i</c>.</summary>
    public IReadOnlyList<(int Left, int Right)> Merges { get; }

    /// <summary>Trains a vocabulary of exactly <paramref name="size"/> tokens (at least 256).</summary>
    public static BpeVocabulary Train(int size, ulong seed)
    {
        var tokens = new List<string>(size);
        var known = new HashSet<string>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            tokens.Add(ByteLevelChar((byte)b).ToString());
            known.Add(tokens[b]);
        }
        var merges = new List<(int, int)>(Math.Max(0, size - 256));

        // Each distinct piece as a mutable token sequence with its count; sorted so iteration order is fixed.
        var counts = PseudoEnglishCorpus.PieceCounts(seed, CorpusSentences);
        var pieces = new List<(List<int> Ids, long Count)>(counts.Count);
        foreach (var (piece, count) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var ids = new List<int>();
            foreach (byte b in Encoding.UTF8.GetBytes(piece))
                ids.Add(b);
            pieces.Add((ids, count));
        }

        var pairCounts = new Dictionary<(int, int), long>();
        while (tokens.Count < size)
        {
            pairCounts.Clear();
            foreach (var (ids, count) in pieces)
            {
                for (int i = 0; i + 1 < ids.Count; i++)
                    pairCounts[(ids[i], ids[i + 1])] = pairCounts.GetValueOrDefault((ids[i], ids[i + 1])) + count;
            }

            // Most frequent pair; ties go to the smallest ids, so the result never depends on hash order.
            (int Left, int Right) best = (-1, -1);
            long bestCount = 0;
            foreach (var (pair, count) in pairCounts)
            {
                if (count < bestCount || (count == bestCount && pair.CompareTo(best) > 0))
                    continue;
                if (known.Contains(tokens[pair.Item1] + tokens[pair.Item2]))
                    continue; // a different split already produced this string
                (best, bestCount) = (pair, count);
            }
            if (bestCount == 0)
                break;

            int merged = AddMerge(tokens, known, merges, best.Left, best.Right);
            foreach (var (ids, _) in pieces)
                MergeInPlace(ids, best.Left, best.Right, merged);
        }

        var rng = new WeightRandom(WeightRandom.Derive(seed, WeightRandom.Label("tokenizer-fill")));
        while (tokens.Count < size)
        {
            int left = rng.NextInt(tokens.Count), right = rng.NextInt(tokens.Count);
            string joined = tokens[left] + tokens[right];
            if (joined.Length <= MaxFillTokenLength && !known.Contains(joined))
                AddMerge(tokens, known, merges, left, right);
        }
        return new BpeVocabulary(tokens, merges);
    }

    private static int AddMerge(List<string> tokens, HashSet<string> known, List<(int, int)> merges, int left, int right)
    {
        string joined = tokens[left] + tokens[right];
        known.Add(joined);
        tokens.Add(joined);
        merges.Add((left, right));
        return tokens.Count - 1;
    }

    private static void MergeInPlace(List<int> ids, int left, int right, int merged)
    {
        int write = 0;
        for (int read = 0; read < ids.Count; read++)
        {
            if (read + 1 < ids.Count && ids[read] == left && ids[read + 1] == right)
            {
                ids[write++] = merged;
                read++;
            }
            else
            {
                ids[write++] = ids[read];
            }
        }
        ids.RemoveRange(write, ids.Count - write);
    }

    /// <summary>
    /// GPT-2's byte-level spelling of <paramref name="value"/> in vocabulary strings (the file format's, not the engine's
    /// code): printable Latin-1 bytes stand for themselves, the other 68 are shifted, in order, to U+0100..U+0143.
    /// </summary>
    internal static char ByteLevelChar(byte value)
    {
        static bool SelfMapped(int b) => b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174;
        if (SelfMapped(value)) return (char)value;
        int shifted = 0;
        for (int b = 0; b < value; b++)
            if (!SelfMapped(b)) shifted++;
        return (char)(256 + shifted);
    }
}
