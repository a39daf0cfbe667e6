// The random walk the constrained-decoding benchmarks share: a token drawn uniformly from a mask, except that 40 % of
// the time a single-byte closing token (", }, ], ",", 0) is taken when the mask allows one, so documents end.
using System.Numerics;
using OnnxLm.Engine.Constraints;

namespace OnnxLm.Benchmarks.Constraints;

public sealed class MaskWalk
{
    readonly int vocabularySize;
    readonly int[] closers;

    public MaskWalk(TokenTrie trie)
    {
        vocabularySize = trie.VocabularySize;
        var found = new List<int>();
        foreach (byte b in "\"}],0"u8)
            for (int id = 0; id < trie.VocabularySize; id++)
                if (trie.Vocabulary.GetBytes(id) is [var only] && only == b)
                {
                    found.Add(id);
                    break;
                }
        closers = [.. found];
    }

    /// <summary>The next token of the walk, or -1 when the mask allows nothing (a dead state).</summary>
    public int Pick(ReadOnlySpan<ulong> mask, Random random)
    {
        int total = 0;
        for (int w = 0; w < mask.Length; w++) total += BitOperations.PopCount(Word(mask, w));
        if (total == 0) return -1;
        if (random.Next(10) < 4)
            foreach (int c in closers)
                if ((mask[c >> 6] & (1UL << c)) != 0) return c;
        int k = random.Next(total);
        for (int w = 0; ; w++)
        {
            ulong bits = Word(mask, w);
            int n = BitOperations.PopCount(bits);
            if (k < n)
            {
                for (; k > 0; k--) bits &= bits - 1;
                return (w << 6) + BitOperations.TrailingZeroCount(bits);
            }
            k -= n;
        }
    }

    ulong Word(ReadOnlySpan<ulong> mask, int w)
    {
        int left = vocabularySize - (w << 6);
        return left >= 64 ? mask[w] : left <= 0 ? 0 : mask[w] & ((1UL << left) - 1);
    }
}
