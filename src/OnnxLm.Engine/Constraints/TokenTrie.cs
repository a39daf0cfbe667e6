using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Constraints;

/// <summary>
/// Every token's bytes as a trie in preorder, built once per model and shared by every constrained request: node
/// <c>i</c>'s subtree is <c>[i, Next[i])</c>, so a mask walk visits a shared prefix once and skips a dead subtree in one
/// jump (the layout llguidance uses). Special tokens and tokens without bytes are not in it: they are never allowed
/// inside JSON (EOS is the caller's decision).
/// Besides the full trie it keeps a second trie of the tokens that are not <em>plain string text</em> (printable,
/// complete UTF-8, no <c>"</c> or <c>\</c>), and the bitset of plain ones: inside an unbounded string every plain
/// token is allowed as a whole, so only the small second trie is walked.
/// </summary>
public sealed class TokenTrie
{
    internal readonly Layout All;
    internal readonly Layout NotPlain;
    /// <summary>Tokens containing a <c>"</c>: the only ones that can leave a pattern string (see <see cref="PatternMasks"/>).</summary>
    internal readonly Layout WithQuote;
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<RegexDfa, ulong[]?[]> patternMasks = new();
    internal readonly ulong[] PlainBits;

    /// <summary>Plain tokens of at most <c>k</c> characters, for k in [0, <see cref="ShortPlainChars"/>]: the mask of a
    /// length-bounded string with k characters left, without a walk.</summary>
    internal readonly ulong[][] PlainUpTo;
    internal readonly int[] LongPlainIds;
    internal readonly int[] LongPlainChars;
    internal readonly int MaxPlainChars;
    internal const int ShortPlainChars = 16;

    /// <summary>Number of token ids (the vocabulary's <see cref="TokenVocabulary.Count"/>); masks cover this many bits.</summary>
    public int VocabularySize { get; }

    /// <summary>Longest token, in bytes.</summary>
    public int MaxTokenBytes { get; }

    internal TokenVocabulary Vocabulary { get; }

    public TokenTrie(TokenVocabulary vocabulary)
    {
        Vocabulary = vocabulary;
        VocabularySize = vocabulary.Count;
        var ids = new List<int>(vocabulary.Count);
        var notPlain = new List<int>();
        var withQuote = new List<int>();
        var plainChars = new List<(int Id, int Chars)>();
        PlainBits = new ulong[(vocabulary.Count + 63) >> 6];
        int longest = 0;
        for (int id = 0; id < vocabulary.Count; id++)
        {
            ReadOnlySpan<byte> bytes = vocabulary.GetBytes(id);
            if (!vocabulary.IsDefined(id) || vocabulary.IsSpecial(id) || bytes.IsEmpty)
            {
                continue;
            }
            ids.Add(id);
            if (bytes.Contains((byte)'"'))
            {
                withQuote.Add(id);
            }
            longest = Math.Max(longest, bytes.Length);
            if (IsPlainStringText(bytes))
            {
                PlainBits[id >> 6] |= 1UL << id;
                int chars = 0;
                foreach (byte b in bytes)
                {
                    chars += (b & 0xC0) == 0x80 ? 0 : 1; // count lead bytes: code points
                }
                plainChars.Add((id, chars));
            }
            else
            {
                notPlain.Add(id);
            }
        }
        MaxTokenBytes = longest;
        PlainUpTo = new ulong[ShortPlainChars + 1][];
        for (int k = 0; k <= ShortPlainChars; k++)
        {
            PlainUpTo[k] = new ulong[PlainBits.Length];
        }
        var longIds = new List<int>();
        var longChars = new List<int>();
        foreach ((int id, int chars) in plainChars)
        {
            MaxPlainChars = Math.Max(MaxPlainChars, chars);
            for (int k = chars; k <= ShortPlainChars; k++)
            {
                PlainUpTo[k][id >> 6] |= 1UL << id;
            }
            if (chars > ShortPlainChars)
            {
                longIds.Add(id);
                longChars.Add(chars);
            }
        }
        LongPlainIds = [.. longIds];
        LongPlainChars = [.. longChars];
        All = Layout.Build(vocabulary, ids);
        NotPlain = Layout.Build(vocabulary, notPlain);
        WithQuote = Layout.Build(vocabulary, withQuote);
    }

    /// <summary>Automata with at most this many states get per-state token masks (memory: states × vocabulary / 8 bytes).</summary>
    internal const int MaxCachedPatternStates = 256;

    /// <summary>
    /// Per DFA state, the tokens without a quote that keep a pattern string alive from that state, filled on first
    /// use of each state (one trie walk, then a copy): the state's mask is that set plus a walk of <see cref="WithQuote"/>.
    /// A slot is published whole (a reference write), so racing fills are harmless.
    /// </summary>
    internal ulong[]?[] PatternMasks(RegexDfa dfa) => patternMasks.GetValue(dfa, d => new ulong[]?[d.StateCount]);

    /// <summary>True when the bytes are whole UTF-8 characters allowed unescaped in a JSON string.</summary>
    internal static bool IsPlainStringText(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            byte b = bytes[i];
            if (b < 0x80)
            {
                if (b < 0x20 || b == '"' || b == '\\')
                {
                    return false;
                }
                i++;
                continue;
            }
            int state = Utf8Step.Lead(b);
            if (state == Utf8Step.Invalid)
            {
                return false;
            }
            i++;
            while (state != 0)
            {
                if (i >= bytes.Length)
                {
                    return false;
                }
                state = Utf8Step.Continue(state, bytes[i++]);
                if (state == Utf8Step.Invalid)
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>A preorder trie: node 0 is the root (no byte); tokens ending at node i are <c>Ids[TokenStart[i]..TokenStart[i]+TokenCount[i]]</c>.</summary>
    internal sealed class Layout
    {
        public readonly byte[] Edge;
        public readonly int[] Depth;
        public readonly int[] Next;
        public readonly int[] TokenStart;
        public readonly int[] TokenCount;
        public readonly int[] Ids;

        private Layout(byte[] edge, int[] depth, int[] next, int[] tokenStart, int[] tokenCount, int[] ids)
        {
            Edge = edge;
            Depth = depth;
            Next = next;
            TokenStart = tokenStart;
            TokenCount = tokenCount;
            Ids = ids;
        }

        public int NodeCount => Edge.Length;

        public static Layout Build(TokenVocabulary vocabulary, List<int> ids)
        {
            int[] sorted = [.. ids];
            Array.Sort(sorted, (a, b) =>
            {
                int c = vocabulary.GetBytes(a).SequenceCompareTo(vocabulary.GetBytes(b));
                return c != 0 ? c : a.CompareTo(b);
            });
            var edge = new List<byte> { 0 };
            var depth = new List<int> { 0 };
            var next = new List<int> { 0 };
            var tokenStart = new List<int> { 0 };
            var tokenCount = new List<int> { 0 };
            var path = new List<int> { 0 }; // path[d] = node at depth d on the current branch
            ReadOnlySpan<byte> previous = default;
            for (int k = 0; k < sorted.Length; k++)
            {
                ReadOnlySpan<byte> bytes = vocabulary.GetBytes(sorted[k]);
                int common = bytes.CommonPrefixLength(previous);
                // Close the nodes below the common prefix: their subtrees end here.
                for (int d = path.Count - 1; d > common; d--)
                {
                    next[path[d]] = edge.Count;
                }
                path.RemoveRange(common + 1, path.Count - common - 1);
                for (int d = common; d < bytes.Length; d++)
                {
                    path.Add(edge.Count);
                    edge.Add(bytes[d]);
                    depth.Add(d + 1);
                    next.Add(0);
                    tokenStart.Add(k);
                    tokenCount.Add(0);
                }
                int leaf = path[bytes.Length];
                if (tokenCount[leaf] == 0)
                {
                    tokenStart[leaf] = k;
                }
                tokenCount[leaf]++;
                previous = bytes;
            }
            for (int d = path.Count - 1; d >= 0; d--)
            {
                next[path[d]] = edge.Count;
            }
            return new Layout([.. edge], [.. depth], [.. next], [.. tokenStart], [.. tokenCount], sorted);
        }
    }
}

/// <summary>
/// UTF-8 validation one byte at a time. A state is 0 at a character boundary, else
/// <c>remaining | low &lt;&lt; 8 | high &lt;&lt; 16</c>: continuation bytes still due and the range the next one must fall in
/// (narrower after E0, ED, F0, F4, which is what excludes overlong forms, surrogates and code points above U+10FFFF).
/// </summary>
internal static class Utf8Step
{
    public const int Invalid = -1;

    public static int Lead(byte b) => b switch
    {
        >= 0xC2 and <= 0xDF => Pack(1, 0x80, 0xBF),
        0xE0 => Pack(2, 0xA0, 0xBF),
        >= 0xE1 and <= 0xEC => Pack(2, 0x80, 0xBF),
        0xED => Pack(2, 0x80, 0x9F),
        0xEE or 0xEF => Pack(2, 0x80, 0xBF),
        0xF0 => Pack(3, 0x90, 0xBF),
        >= 0xF1 and <= 0xF3 => Pack(3, 0x80, 0xBF),
        0xF4 => Pack(3, 0x80, 0x8F),
        _ => Invalid,
    };

    public static int Continue(int state, byte b)
    {
        int low = (state >> 8) & 0xFF;
        int high = state >> 16;
        if (b < low || b > high)
        {
            return Invalid;
        }
        int remaining = (state & 0xFF) - 1;
        return remaining == 0 ? 0 : Pack(remaining, 0x80, 0xBF);
    }

    private static int Pack(int remaining, int low, int high) => remaining | low << 8 | high << 16;
}
