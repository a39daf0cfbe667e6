using System.Runtime.CompilerServices;

namespace OnnxLm.Engine.Constraints;

/// <summary>
/// One sequence's position in a <see cref="JsonGrammar"/>: a stack of frames (one per open value) advanced a byte at a
/// time. <see cref="ComputeMask"/> walks the <see cref="TokenTrie"/> with the stack, so a prefix shared by many tokens is
/// matched once; every write to the stack during a walk goes to an undo log, and stepping back up the trie replays the
/// log backwards, so a step costs a few frame writes and never copies the stack.
/// Invariants: the stack always holds a viable prefix (every reachable state can complete within
/// <see cref="JsonGrammar.MaxDepth"/>, because pushes check the pushed node's <c>MinDepth</c>), so "the token's bytes
/// step without failing" is exactly "the token keeps the output a prefix of an accepted document". Outside a walk or
/// an advance the undo log is empty. After the first use no method allocates.
/// Not thread-safe: one matcher per sequence; <see cref="Clone"/> or <see cref="CopyFrom"/> for n &gt; 1 forks.
/// </summary>
public sealed class GrammarMatcher
{
    private struct Frame
    {
        public int Node;
        public int Phase;
        public int A;
        public int B;
        public int C;
        public long L;
    }

    private const int MaxDepth = JsonGrammar.MaxDepth;
    private const long MagnitudeCap = 999_999_999_999_999_999;

    private JsonGrammar activeGrammar;
    private readonly TokenTrie tokenTrie;
    private readonly Frame[] frameStack = new Frame[MaxDepth];
    private int stackDepth;

    // Undo log: slot and previous contents of every frame written since the last commit.
    private Frame[] logFrames;
    private int[] logSlots;
    private int logCount;

    // Per trie level during a walk: the stack depth and log length after consuming that many bytes.
    private readonly int[] levelDepth;
    private readonly int[] levelLog;

    public GrammarMatcher(JsonGrammar grammar, TokenTrie trie)
    {
        activeGrammar = grammar;
        tokenTrie = trie;
        int capacity = (trie.MaxTokenBytes + 2) * 8;
        logFrames = new Frame[capacity];
        logSlots = new int[capacity];
        levelDepth = new int[trie.MaxTokenBytes + 2];
        levelLog = new int[trie.MaxTokenBytes + 2];
        Reset();
    }

    public JsonGrammar Grammar => activeGrammar;

    public TokenTrie Trie => tokenTrie;

    /// <summary>Words a mask needs for this vocabulary (bit <c>id</c> is word <c>id / 64</c>, bit <c>id % 64</c>).</summary>
    public int MaskWords => (tokenTrie.VocabularySize + 63) >> 6;

    /// <summary>The output so far is a complete document: EOS (or the end of a tool call) may be emitted now.</summary>
    public bool IsAccepting => stackDepth == 0 || (stackDepth == 1 && CanEnd(in frameStack[0]));

    /// <summary>Some byte can still extend the output (false after a closed root object/array/string: an accepting
    /// state with no continuation ends the sequence without another forward pass).</summary>
    public bool CanContinue
    {
        get
        {
            if (stackDepth == 0)
            {
                return false;
            }
            int depth = stackDepth;
            for (int b = 0; b < 256; b++)
            {
                bool ok = Step((byte)b);
                Rollback(0);
                stackDepth = depth;
                if (ok)
                {
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>Back to the start of a document, optionally for another grammar over the same vocabulary.</summary>
    public void Reset(JsonGrammar? grammar = null)
    {
        if (grammar is not null)
        {
            activeGrammar = grammar;
        }
        logCount = 0;
        stackDepth = 1;
        frameStack[0] = new Frame { Node = activeGrammar.Root };
    }

    /// <summary>A copy at the same position (for an n &gt; 1 fork); allocates the new matcher.</summary>
    public GrammarMatcher Clone()
    {
        var clone = new GrammarMatcher(activeGrammar, tokenTrie);
        clone.CopyFrom(this);
        return clone;
    }

    /// <summary>Takes <paramref name="other"/>'s grammar and position without allocating (pooled forks).</summary>
    public void CopyFrom(GrammarMatcher other)
    {
        if (!ReferenceEquals(other.tokenTrie, tokenTrie))
        {
            throw new ArgumentException("Matchers over different vocabularies.", nameof(other));
        }
        activeGrammar = other.activeGrammar;
        stackDepth = other.stackDepth;
        Array.Copy(other.frameStack, frameStack, stackDepth);
        logCount = 0;
    }

    /// <summary>Advances by a sampled token; false (and no change) when the token is not allowed here.</summary>
    public bool TryAdvance(int tokenId)
    {
        if ((uint)tokenId >= (uint)tokenTrie.VocabularySize || !tokenTrie.Vocabulary.IsDefined(tokenId) || tokenTrie.Vocabulary.IsSpecial(tokenId))
        {
            return false;
        }
        ReadOnlySpan<byte> bytes = tokenTrie.Vocabulary.GetBytes(tokenId);
        return !bytes.IsEmpty && TryAdvanceBytes(bytes);
    }

    /// <summary>Advances by a sampled token, or throws when the mask would not have allowed it.</summary>
    public void Advance(int tokenId)
    {
        if (!TryAdvance(tokenId))
        {
            throw new InvalidOperationException($"Token {tokenId} is not allowed by the grammar here.");
        }
    }

    /// <summary>Advances by raw bytes (forced text, tests); false (and no change) when they do not fit.</summary>
    public bool TryAdvanceBytes(ReadOnlySpan<byte> bytes)
    {
        int depth = stackDepth;
        foreach (byte b in bytes)
        {
            if (!Step(b))
            {
                Rollback(0);
                stackDepth = depth;
                return false;
            }
        }
        logCount = 0;
        return true;
    }

    /// <summary>
    /// Sets bit <c>id</c> of <paramref name="allowedBits"/> exactly for the tokens whose bytes keep the output a viable
    /// prefix; clears every other bit (words past the vocabulary included). Special tokens, EOS among them, are never
    /// set: the caller allows EOS when <see cref="IsAccepting"/>. Allocates nothing.
    /// </summary>
    public void ComputeMask(Span<ulong> allowedBits)
    {
        if (allowedBits.Length < MaskWords)
        {
            throw new ArgumentException($"The mask needs {MaskWords} words.", nameof(allowedBits));
        }
        allowedBits.Clear();
        if (stackDepth == 0)
        {
            return;
        }
        ref Frame top = ref frameStack[stackDepth - 1];
        ref GrammarNode node = ref activeGrammar.Nodes[top.Node];
        if (node.Kind == GrammarNodeKind.String && top.Phase == 1 && top.B == 0 && top.C == 0)
        {
            // A string with no upper bound, past its lower one, at a character boundary: its length no longer changes
            // what may follow, so a mask is a function of the frames alone, and a long string repeats the same mask
            // step after step. Reuse it when nothing but the length moved (a vocabulary with many tokens that are not
            // plain text would otherwise walk them all on every step of a free-text field).
            bool memoable = node.Max == int.MaxValue && top.A >= node.A;
            if (memoable && MemoMatches())
            {
                memoMask.AsSpan(0, MaskWords).CopyTo(allowedBits);
                return;
            }
            // Inside a string at a character boundary every plain-text token (no quote, backslash, control byte or split
            // character) stays inside it, if the length bound leaves room for its characters: take those as a block
            // and walk only the other tokens.
            int room = node.Max == int.MaxValue ? int.MaxValue : node.Max - top.A;
            if (room >= tokenTrie.MaxPlainChars)
            {
                tokenTrie.PlainBits.CopyTo(allowedBits);
            }
            else if (room <= TokenTrie.ShortPlainChars)
            {
                tokenTrie.PlainUpTo[room].CopyTo(allowedBits);
            }
            else
            {
                tokenTrie.PlainUpTo[TokenTrie.ShortPlainChars].CopyTo(allowedBits);
                int[] ids = tokenTrie.LongPlainIds;
                int[] chars = tokenTrie.LongPlainChars;
                for (int i = 0; i < ids.Length; i++)
                {
                    if (chars[i] <= room)
                    {
                        allowedBits[ids[i] >> 6] |= 1UL << ids[i];
                    }
                }
            }
            Walk(tokenTrie.NotPlain, allowedBits);
            if (memoable) Remember(allowedBits);
        }
        else if (node.Kind == GrammarNodeKind.Pattern && top.Phase == 1
            && activeGrammar.Patterns[node.A] is { StateCount: <= TokenTrie.MaxCachedPatternStates } dfa)
        {
            // Inside a pattern string, a token without a quote stays in the string, so whether it is allowed depends on
            // the DFA state alone: cache that set per state and walk only the tokens with a quote.
            ulong[]?[] cache = tokenTrie.PatternMasks(dfa);
            ulong[]? cached = cache[top.A];
            if (cached is null)
            {
                quoteEndsWalk = true;
                Walk(tokenTrie.All, allowedBits); // warm-up of this state: allocates its mask once per model
                quoteEndsWalk = false;
                cached = allowedBits[..MaskWords].ToArray();
                cache[top.A] = cached;
            }
            else
            {
                cached.CopyTo(allowedBits);
            }
            Walk(tokenTrie.WithQuote, allowedBits);
        }
        else
        {
            Walk(tokenTrie.All, allowedBits);
        }
    }

    // Set while filling a pattern-state cache: a quote is refused so only quote-free tokens are collected.
    private bool quoteEndsWalk;

    // The last unbounded-string mask and the state it was computed at (every frame; the top frame's length aside).
    private ulong[] memoMask = [];
    private readonly Frame[] memoFrames = new Frame[MaxDepth];
    private int memoDepth = -1;
    private JsonGrammar? memoGrammar;

    private bool MemoMatches()
    {
        if (memoDepth != stackDepth || !ReferenceEquals(memoGrammar, activeGrammar)) return false;
        for (int i = 0; i < stackDepth; i++)
        {
            ref Frame a = ref frameStack[i];
            ref Frame b = ref memoFrames[i];
            if (a.Node != b.Node || a.Phase != b.Phase || a.B != b.B || a.C != b.C || a.L != b.L
                || (a.A != b.A && i != stackDepth - 1))
                return false;
        }
        return true;
    }

    private void Remember(Span<ulong> allowedBits)
    {
        // Allocated once per matcher (matchers are pooled), at its first long free-text field.
        if (memoMask.Length < MaskWords) memoMask = new ulong[MaskWords];
        allowedBits[..MaskWords].CopyTo(memoMask);
        frameStack.AsSpan(0, stackDepth).CopyTo(memoFrames);
        memoDepth = stackDepth;
        memoGrammar = activeGrammar;
    }

    private void Walk(TokenTrie.Layout trie, Span<ulong> bits)
    {
        byte[] edge = trie.Edge;
        int[] depth = trie.Depth;
        int[] next = trie.Next;
        int[] tokenStart = trie.TokenStart;
        int[] tokenCount = trie.TokenCount;
        int[] ids = trie.Ids;
        levelDepth[0] = stackDepth;
        levelLog[0] = logCount;
        int n = edge.Length;
        int i = 1;
        while (i < n)
        {
            int d = depth[i];
            RestoreLevel(d - 1);
            if (Step(edge[i]))
            {
                levelDepth[d] = stackDepth;
                levelLog[d] = logCount;
                int count = tokenCount[i];
                for (int k = tokenStart[i], end = k + count; k < end; k++)
                {
                    int id = ids[k];
                    bits[id >> 6] |= 1UL << id;
                }
                i++;
            }
            else
            {
                i = next[i];
            }
        }
        RestoreLevel(0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RestoreLevel(int level)
    {
        Rollback(levelLog[level]);
        stackDepth = levelDepth[level];
    }

    private void Rollback(int toLog)
    {
        while (logCount > toLog)
        {
            logCount--;
            frameStack[logSlots[logCount]] = logFrames[logCount];
        }
    }

    /// <summary>The top frame, logged before the caller changes it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Frame Modify()
    {
        int slot = stackDepth - 1;
        Log(slot);
        return ref frameStack[slot];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Log(int slot)
    {
        if (logCount == logFrames.Length)
        {
            Array.Resize(ref logFrames, logFrames.Length * 2); // warm-up only: bounded by the longest token
            Array.Resize(ref logSlots, logSlots.Length * 2);
        }
        logSlots[logCount] = slot;
        logFrames[logCount] = frameStack[slot];
        logCount++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Fits(int node) => node >= 0 && stackDepth + activeGrammar.Nodes[node].MinDepth <= MaxDepth;

    private void Push(int node)
    {
        Log(stackDepth);
        frameStack[stackDepth] = new Frame { Node = node };
        stackDepth++;
    }

    /// <summary>Consumes one byte; false when no accepted document continues with it (the stack may then be
    /// half-written: the caller rolls back).</summary>
    private bool Step(byte b)
    {
        while (true)
        {
            if (stackDepth == 0)
            {
                return false; // the document is complete: nothing may follow
            }
            ref Frame f = ref frameStack[stackDepth - 1];
            ref GrammarNode n = ref activeGrammar.Nodes[f.Node];
            switch (n.Kind)
            {
                case GrammarNodeKind.String:
                    return StepString(ref n, b);
                case GrammarNodeKind.Object:
                    return StepObject(ref n, b);
                case GrammarNodeKind.Array:
                    {
                        int result = StepArray(ref n, b);
                        if (result >= 0)
                        {
                            return result == 1;
                        }
                        continue; // an element was pushed: it takes the byte
                    }
                case GrammarNodeKind.Number:
                    {
                        int result = StepNumber(b);
                        if (result >= 0)
                        {
                            return result == 1;
                        }
                        continue; // the number ended: the parent takes the byte
                    }
                case GrammarNodeKind.Integer:
                    {
                        int result = StepInteger(ref n, b);
                        if (result >= 0)
                        {
                            return result == 1;
                        }
                        continue;
                    }
                case GrammarNodeKind.Literal:
                    {
                        int result = StepLiteral(ref n, b);
                        if (result >= 0)
                        {
                            return result == 1;
                        }
                        continue;
                    }
                case GrammarNodeKind.Pattern:
                    return StepPattern(ref n, b);
                case GrammarNodeKind.BoundedNumber:
                    {
                        int result = StepBoundedNumber(ref n, b);
                        if (result >= 0)
                        {
                            return result == 1;
                        }
                        continue;
                    }
                case GrammarNodeKind.Union:
                    {
                        int branch = activeGrammar.Dispatch[n.A + b];
                        // The union's frame becomes the branch's frame (same depth).
                        if (branch < 0 || stackDepth - 1 + activeGrammar.Nodes[branch].MinDepth > MaxDepth)
                        {
                            return false;
                        }
                        ref Frame top = ref Modify();
                        top = new Frame { Node = branch };
                        continue;
                    }
                default:
                    return false;
            }
        }
    }

    private bool StepString(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        if (f.Phase == 0)
        {
            if (b != '"')
            {
                return false;
            }
            Modify().Phase = 1;
            return true;
        }
        int count = f.A;
        if (f.C != 0)
        {
            // Inside an escape: C == 1 after the backslash, else (value << 8) | (2 + hex digits read).
            if (f.C == 1)
            {
                if (b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                {
                    ref Frame m = ref Modify();
                    m.C = 0;
                    m.A = count + 1;
                    return true;
                }
                if (b == 'u')
                {
                    Modify().C = 2;
                    return true;
                }
                return false;
            }
            int digit = HexValue(b);
            if (digit < 0)
            {
                return false;
            }
            int read = (f.C & 0xFF) - 2 + 1;
            int value = (f.C >> 8) * 16 + digit;
            if (read == 2 && value is >= 0xD8 and <= 0xDF)
            {
                return false; // surrogate escapes are not produced (narrowing: write the character as UTF-8)
            }
            ref Frame e = ref Modify();
            if (read == 4)
            {
                e.C = 0;
                e.A = count + 1;
            }
            else
            {
                e.C = value << 8 | (2 + read);
            }
            return true;
        }
        if (f.B != 0)
        {
            int state = Utf8Step.Continue(f.B, b);
            if (state == Utf8Step.Invalid)
            {
                return false;
            }
            ref Frame m = ref Modify();
            m.B = state;
            if (state == 0)
            {
                m.A = count + 1;
            }
            return true;
        }
        if (b == '"')
        {
            if (count < n.A)
            {
                return false;
            }
            stackDepth--;
            return true;
        }
        if (count >= n.Max || b < 0x20)
        {
            return false;
        }
        if (b == '\\')
        {
            Modify().C = 1;
            return true;
        }
        if (b < 0x80)
        {
            Modify().A = count + 1;
            return true;
        }
        int lead = Utf8Step.Lead(b);
        if (lead == Utf8Step.Invalid)
        {
            return false;
        }
        Modify().B = lead;
        return true;
    }

    // Pattern: phase 0 expect '"'; phase 1 content, A = DFA state. Content bytes are raw (the DFA has no edge for a
    // quote, backslash or control byte), so a quote always ends the string.
    private bool StepPattern(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        RegexDfa dfa = activeGrammar.Patterns[n.A];
        if (f.Phase == 0)
        {
            if (b != '"')
            {
                return false;
            }
            ref Frame m = ref Modify();
            m.Phase = 1;
            m.A = RegexDfa.Start;
            return true;
        }
        if (b == '"')
        {
            if (quoteEndsWalk || !dfa.Accepting[f.A])
            {
                return false;
            }
            stackDepth--;
            return true;
        }
        int next = dfa.Transitions[f.A * 256 + b];
        if (next < 0)
        {
            return false;
        }
        Modify().A = next;
        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    // Object phases: 0 expect '{'; 1 after '{'; 2 in a declared key (A = first allowed property, B = bytes matched,
    // C = smallest matching property); 3 expect ':' (C = the property); 4 after a value; 5 after ','; 7 expect ':' after a
    // map key. Property indexes are relative to the object's first.
    private bool StepObject(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        bool map = n.C >= 0;
        switch (f.Phase)
        {
            case 0:
                if (b != '{')
                {
                    return false;
                }
                Modify().Phase = 1;
                return true;
            case 1:
            case 5:
                if (b == '"')
                {
                    if (map)
                    {
                        if (!Fits(n.C))
                        {
                            return false;
                        }
                        Modify().Phase = 7;
                        Push(activeGrammar.FreeString);
                        frameStack[stackDepth - 1].Phase = 1; // the key's opening quote is this byte
                        return true;
                    }
                    if (!HasFittingProperty(ref n, f.A))
                    {
                        return false;
                    }
                    ref Frame k = ref Modify();
                    k.Phase = 2;
                    k.B = 0;
                    k.C = k.A;
                    return true;
                }
                if (b == '}' && f.Phase == 1 && (map || NoRequiredFrom(ref n, f.A)))
                {
                    stackDepth--;
                    return true;
                }
                return false;
            case 2:
                return StepKey(ref n, b);
            case 3:
                if (b != ':')
                {
                    return false;
                }
                {
                    int property = f.C;
                    ref Frame m = ref Modify();
                    m.Phase = 4;
                    m.A = property + 1;
                    Push(activeGrammar.PropertyNode[n.A + property]);
                    return true;
                }
            case 4:
                if (b == ',')
                {
                    if (map ? !Fits(n.C) : !HasFittingProperty(ref n, f.A))
                    {
                        return false;
                    }
                    Modify().Phase = 5;
                    return true;
                }
                if (b == '}' && (map || NoRequiredFrom(ref n, f.A)))
                {
                    stackDepth--;
                    return true;
                }
                return false;
            case 7:
                if (b != ':')
                {
                    return false;
                }
                Modify().Phase = 4;
                Push(n.C);
                return true;
            default:
                return false;
        }
    }

    private bool NoRequiredFrom(ref GrammarNode n, int from) =>
        from >= n.B || activeGrammar.NextRequired[n.A + from] == n.A + n.B;

    /// <summary>Last property index a key may name from <paramref name="from"/>: keys may skip optional properties, never a required one.</summary>
    private int LastCandidate(ref GrammarNode n, int from) =>
        from >= n.B ? -1 : Math.Min(activeGrammar.NextRequired[n.A + from] - n.A, n.B - 1);

    private bool HasFittingProperty(ref GrammarNode n, int from)
    {
        int last = LastCandidate(ref n, from);
        for (int j = from; j <= last; j++)
        {
            if (Fits(activeGrammar.PropertyNode[n.A + j]))
            {
                return true;
            }
        }
        return false;
    }

    private bool StepKey(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        int offset = f.B;
        int current = f.C;
        int last = LastCandidate(ref n, f.A);
        ReadOnlySpan<byte> matched = activeGrammar.Key(n.A + current)[..offset];
        for (int j = current; j <= last; j++)
        {
            ReadOnlySpan<byte> key = activeGrammar.Key(n.A + j);
            if (key.Length < offset || (j != current && !key[..offset].SequenceEqual(matched))
                || !Fits(activeGrammar.PropertyNode[n.A + j]))
            {
                continue;
            }
            // A quote inside an escaped key (\") is key content; a quote where the key ends closes it. Escapes pair up,
            // so the two cannot both apply to keys sharing this prefix.
            if (key.Length > offset && key[offset] == b)
            {
                ref Frame m = ref Modify();
                m.C = j;
                m.B = offset + 1;
                return true;
            }
            if (b == '"' && key.Length == offset)
            {
                ref Frame m = ref Modify();
                m.C = j;
                m.Phase = 3;
                return true;
            }
        }
        return false;
    }

    // Array phases: 0 expect '['; 1 after '['; 2 after an element; 3 after ','. A = elements started.
    // Returns 1 consumed, 0 rejected, -1 an element was pushed and takes the byte.
    private int StepArray(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        switch (f.Phase)
        {
            case 0:
                if (b != '[')
                {
                    return 0;
                }
                Modify().Phase = 1;
                return 1;
            case 1:
            case 3:
                if (b == ']' && f.Phase == 1)
                {
                    if (n.D > 0)
                    {
                        return 0;
                    }
                    stackDepth--;
                    return 1;
                }
                {
                    int index = f.A;
                    int element = ElementNode(ref n, index);
                    if (!Fits(element))
                    {
                        return 0;
                    }
                    ref Frame m = ref Modify();
                    m.Phase = 2;
                    m.A = index + 1;
                    Push(element);
                    return -1;
                }
            case 2:
                if (b == ',')
                {
                    if (!Fits(ElementNode(ref n, f.A)))
                    {
                        return 0;
                    }
                    Modify().Phase = 3;
                    return 1;
                }
                if (b == ']' && f.A >= n.D)
                {
                    stackDepth--;
                    return 1;
                }
                return 0;
            default:
                return 0;
        }
    }

    private int ElementNode(ref GrammarNode n, int index) =>
        index >= n.Max ? -1 : index < n.B ? activeGrammar.PrefixNodes[n.A + index] : n.C;

    // Number phases: 0 start; 1 after '-'; 2 after a leading 0; 3 integer digits; 4 after '.'; 5 fraction digits;
    // 6 after 'e'; 7 after the exponent sign; 8 exponent digits. Final: 2, 3, 5, 8.
    // Returns 1 consumed, 0 rejected, -1 the number ended before this byte (popped; the parent takes it).
    private int StepNumber(byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        int next = f.Phase switch
        {
            0 => b == '-' ? 1 : b == '0' ? 2 : digit ? 3 : -1,
            1 => b == '0' ? 2 : digit ? 3 : -1,
            2 => b == '.' ? 4 : b is (byte)'e' or (byte)'E' ? 6 : -1,
            3 => digit ? 3 : b == '.' ? 4 : b is (byte)'e' or (byte)'E' ? 6 : -1,
            4 => digit ? 5 : -1,
            5 => digit ? 5 : b is (byte)'e' or (byte)'E' ? 6 : -1,
            6 => b is (byte)'+' or (byte)'-' ? 7 : digit ? 8 : -1,
            7 => digit ? 8 : -1,
            8 => digit ? 8 : -1,
            _ => -1,
        };
        if (next >= 0)
        {
            if (next != f.Phase)
            {
                Modify().Phase = next;
            }
            return 1;
        }
        if (f.Phase is 2 or 3 or 5 or 8)
        {
            stackDepth--;
            return -1;
        }
        return 0;
    }

    // Integer phases: 0 start; 1 after '-'; 2 a lone 0 (complete); 3 digits. Bounded (node A == 1): the magnitude is
    // A | B << 32, C = 1 when negative, and every digit keeps some value of the prefix's completions within [Lo, Hi].
    private int StepInteger(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        bool bounded = n.A == 1;
        int digit = b - '0';
        bool isDigit = (uint)digit <= 9;
        switch (f.Phase)
        {
            case 0:
                if (b == '-')
                {
                    if (bounded && n.Lo > -1)
                    {
                        return 0;
                    }
                    ref Frame m = ref Modify();
                    m.Phase = 1;
                    m.C = 1;
                    return 1;
                }
                if (b == '0')
                {
                    if (bounded && (n.Lo > 0 || n.Hi < 0))
                    {
                        return 0;
                    }
                    Modify().Phase = 2;
                    return 1;
                }
                if (isDigit)
                {
                    return SetMagnitude(ref n, bounded, negative: false, digit) ? 1 : 0;
                }
                return 0;
            case 1:
                if (b == '0')
                {
                    if (bounded)
                    {
                        return 0; // no "-0" when bounded
                    }
                    Modify().Phase = 2;
                    return 1;
                }
                return isDigit ? (SetMagnitude(ref n, bounded, negative: true, digit) ? 1 : 0) : 0;
            case 2:
                stackDepth--;
                return -1;
            case 3:
                if (isDigit)
                {
                    if (!bounded)
                    {
                        return 1;
                    }
                    long magnitude = (uint)f.A | (long)f.B << 32;
                    if (magnitude > MagnitudeCap / 10)
                    {
                        return 0;
                    }
                    return SetMagnitude(ref n, bounded, f.C == 1, magnitude * 10 + digit) ? 1 : 0;
                }
                if (bounded && !InRange(ref n, f))
                {
                    return 0;
                }
                stackDepth--;
                return -1;
            default:
                return 0;
        }
    }

    private bool SetMagnitude(ref GrammarNode n, bool bounded, bool negative, long magnitude)
    {
        if (bounded && !Reachable(n.Lo, n.Hi, negative, magnitude))
        {
            return false;
        }
        ref Frame m = ref Modify();
        m.Phase = 3;
        m.A = (int)magnitude;
        m.B = (int)(magnitude >> 32);
        m.C = negative ? 1 : 0;
        return true;
    }

    private static bool InRange(ref GrammarNode n, in Frame f)
    {
        long magnitude = (uint)f.A | (long)f.B << 32;
        long value = f.C == 1 ? -magnitude : magnitude;
        return value >= n.Lo && value <= n.Hi;
    }

    /// <summary>Whether some integer written as this prefix plus more digits (magnitude ≤ the cap) lies in [lo, hi].</summary>
    private static bool Reachable(long lo, long hi, bool negative, long magnitude)
    {
        long low = magnitude;
        long width = 1;
        while (true)
        {
            long high = Math.Min(low + width - 1, MagnitudeCap);
            bool hit = negative ? -high <= hi && -low >= lo : low <= hi && high >= lo;
            if (hit)
            {
                return true;
            }
            if (low > MagnitudeCap / 10)
            {
                return false;
            }
            low *= 10;
            width *= 10;
        }
    }

    // Bounded number phases: 0 start; 1 after '-'; 2 a leading 0; 3 integer digits; 4 after '.'; 5 fraction digits.
    // L = |value| in units of 1e-9, A = integer digits, B = fraction digits, C = 1 when negative. Every byte keeps some
    // completion (more digits, on the 1e-9 grid) within [Lo, Hi]; the end needs the value itself within.
    private const long Nano = 1_000_000_000;

    private int StepBoundedNumber(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        int digit = b - '0';
        bool isDigit = (uint)digit <= 9;
        bool negative = f.C == 1;
        switch (f.Phase)
        {
            case 0:
                if (b == '-')
                {
                    if (!Overlaps(n.Lo, n.Hi, true, 0, Nano * Nano - 1))
                    {
                        return 0;
                    }
                    ref Frame m = ref Modify();
                    m.Phase = 1;
                    m.C = 1;
                    return 1;
                }
                goto case 1;
            case 1:
                if (b == '0')
                {
                    return SetNumber(ref n, negative, phase: 2, value: 0, intDigits: 1, fracDigits: 0, low: 0, high: Nano - 1);
                }
                if (isDigit)
                {
                    long v = digit * Nano;
                    return SetNumber(ref n, negative, 3, v, 1, 0, v, 0);
                }
                return 0;
            case 2:
            case 3:
                if (f.Phase == 3 && isDigit)
                {
                    if (f.A >= 9)
                    {
                        return 0;
                    }
                    long v = (f.L * 10) + digit * Nano;
                    return SetNumber(ref n, negative, 3, v, f.A + 1, 0, v, 0);
                }
                if (b == '.')
                {
                    return SetNumber(ref n, negative, 4, f.L, f.A, 0, f.L, f.L + Nano - 1);
                }
                return End(ref n, f);
            case 4:
            case 5:
                if (isDigit)
                {
                    if (f.B >= 9)
                    {
                        return 0;
                    }
                    long unit = Pow10(8 - f.B);
                    long v = f.L + digit * unit;
                    return SetNumber(ref n, negative, 5, v, f.A, f.B + 1, v, v + unit - 1);
                }
                return f.Phase == 5 ? End(ref n, f) : 0;
            default:
                return 0;
        }
    }

    private int End(ref GrammarNode n, in Frame f)
    {
        long value = f.C == 1 ? -f.L : f.L;
        if (value < n.Lo || value > n.Hi)
        {
            return 0;
        }
        stackDepth--;
        return -1;
    }

    /// <summary>Moves to a prefix whose completions have magnitudes [low, high] (for integer digits, the union over more
    /// digits of [v·10^j, (v+1)·10^j)), if some completion lies within the bounds.</summary>
    private int SetNumber(ref GrammarNode n, bool negative, int phase, long value, int intDigits, int fracDigits, long low, long high)
    {
        bool reachable;
        if (phase == 3)
        {
            // Integer part v (scaled): completions are [v·10^j, v·10^j + 10^j·1e9 - 1] for j more integer digits.
            reachable = false;
            long a = low;
            long width = Nano;
            for (int d = intDigits; d <= 9; d++)
            {
                if (Overlaps(n.Lo, n.Hi, negative, a, a + width - 1))
                {
                    reachable = true;
                    break;
                }
                if (d == 9)
                {
                    break;
                }
                a *= 10;
                width *= 10;
            }
        }
        else
        {
            reachable = Overlaps(n.Lo, n.Hi, negative, low, high);
        }
        if (!reachable)
        {
            return 0;
        }
        ref Frame m = ref Modify();
        m.Phase = phase;
        m.L = value;
        m.A = intDigits;
        m.B = fracDigits;
        m.C = negative ? 1 : 0;
        return 1;
    }

    /// <summary>Whether magnitudes [low, high] (negated when <paramref name="negative"/>) meet [lo, hi].</summary>
    private static bool Overlaps(long lo, long hi, bool negative, long low, long high) =>
        negative ? -high <= hi && -low >= lo : low <= hi && high >= lo;

    private static long Pow10(int e)
    {
        long p = 1;
        for (int i = 0; i < e; i++)
        {
            p *= 10;
        }
        return p;
    }

    // Literal: B = bytes matched, C = smallest literal (relative index) with that prefix.
    private int StepLiteral(ref GrammarNode n, byte b)
    {
        ref Frame f = ref frameStack[stackDepth - 1];
        int offset = f.B;
        int current = f.C;
        ReadOnlySpan<byte> matched = activeGrammar.Literal(n.A + current)[..offset];
        for (int j = current; j < n.B; j++)
        {
            ReadOnlySpan<byte> literal = activeGrammar.Literal(n.A + j);
            if (literal.Length > offset && literal[offset] == b && (j == current || literal[..offset].SequenceEqual(matched)))
            {
                ref Frame m = ref Modify();
                m.B = offset + 1;
                m.C = j;
                return 1;
            }
        }
        if (activeGrammar.Literal(n.A + current).Length == offset)
        {
            stackDepth--;
            return -1;
        }
        return 0;
    }

    private bool CanEnd(in Frame f)
    {
        ref GrammarNode n = ref activeGrammar.Nodes[f.Node];
        return n.Kind switch
        {
            GrammarNodeKind.Number => f.Phase is 2 or 3 or 5 or 8,
            GrammarNodeKind.BoundedNumber => f.Phase is 2 or 3 or 5 && (f.C == 1 ? -f.L : f.L) >= n.Lo && (f.C == 1 ? -f.L : f.L) <= n.Hi,
            GrammarNodeKind.Integer => f.Phase == 2 || (f.Phase == 3 && (n.A == 0 || InRange(ref n, f))),
            GrammarNodeKind.Literal => f.B > 0 && activeGrammar.Literal(n.A + f.C).Length == f.B,
            _ => false,
        };
    }
}
