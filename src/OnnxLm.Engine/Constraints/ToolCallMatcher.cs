namespace OnnxLm.Engine.Constraints;

/// <summary>
/// One sequence's position in a <see cref="ToolCallGrammar"/>: free text (auto / none, optionally held to the
/// <c>response_format</c> grammar), a literal choice (the format's text and the tool names), or a call's arguments (a
/// <see cref="GrammarMatcher"/> over that tool's schema). <see cref="ComputeMask"/> sets the allowed ids, or says that
/// nothing is restricted (free text with no trigger in reach: the caller then leaves the logits alone).
/// Narrowing: a token never spans two parts (literal / arguments), and in free text a token that would finish the
/// trigger and run past it is refused, so every call starts on a token boundary. EOS is the caller's, allowed when
/// <see cref="IsAccepting"/>. Invariants: in a literal state at least one candidate is alive and all alive candidates
/// agree on the first <c>pos</c> symbols; every reachable state can still complete. Allocation-free after construction.
/// Not thread-safe: one matcher per sequence.
/// </summary>
public sealed class ToolCallMatcher
{
    enum Phase : byte { Free, Literal, Arguments, Done }

    readonly ToolCallGrammar grammar;
    readonly TokenTrie trie;
    readonly TokenTrie.Layout all;
    readonly GrammarMatcher arguments;
    readonly GrammarMatcher? response;
    readonly bool[] alive;
    Phase phase;
    int[][] candidates = [];
    int pos;
    bool endReached;
    int kmp;
    int calls;
    // Free text of an auto request with a response_format: the first tokens may start the answer or a call.
    bool undecided;
    bool responseAlive;

    public ToolCallMatcher(ToolCallGrammar grammar)
    {
        this.grammar = grammar;
        trie = grammar.Trie;
        all = trie.All;
        arguments = new GrammarMatcher(grammar.Arguments[0], trie);
        alive = new bool[grammar.MaxCandidates];
        if (grammar.Response is { } r && grammar.Mode != ToolChoiceMode.Required) response = new GrammarMatcher(r, trie);
        Reset();
    }

    public ToolCallGrammar Grammar => grammar;

    /// <summary>Words a mask needs.</summary>
    public int MaskWords => (trie.VocabularySize + 63) >> 6;

    /// <summary>Calls whose arguments have started.</summary>
    public int Calls => calls;

    /// <summary>True while the output is free text (no call started).</summary>
    public bool InFreeText => phase == Phase.Free;

    public void Reset()
    {
        kmp = 0;
        calls = 0;
        endReached = false;
        if (grammar.Mode == ToolChoiceMode.Required)
        {
            EnterLiteral(grammar.First, 0);
            return;
        }
        phase = Phase.Free;
        response?.Reset();
        responseAlive = response is not null;
        undecided = response is not null && grammar.Mode == ToolChoiceMode.Auto;
        if (undecided) EnterCandidates(grammar.First, 0);
    }

    /// <summary>The output may end here (EOS).</summary>
    public bool IsAccepting => phase switch
    {
        Phase.Free => response is null || (responseAlive && response.IsAccepting),
        Phase.Literal => endReached,
        Phase.Done => true,
        _ => false,
    };

    /// <summary>Some token can still extend the output.</summary>
    public bool CanContinue => phase switch
    {
        Phase.Free => response is null || !responseAlive || undecided || response.CanContinue,
        Phase.Literal => AnyLonger(),
        Phase.Arguments => true,
        _ => false,
    };

    /// <summary>
    /// Sets the allowed ids in <paramref name="allowedBits"/> and returns true, or returns false (bits untouched) when
    /// nothing is restricted. Special tokens are set only where the format writes one.
    /// </summary>
    public bool ComputeMask(Span<ulong> allowedBits)
    {
        switch (phase)
        {
            case Phase.Free:
                if (response is not null && responseAlive)
                {
                    response.ComputeMask(allowedBits);
                    if (undecided) LiteralMask(allowedBits);
                    return true;
                }
                return FreeMask(allowedBits);
            case Phase.Literal:
                allowedBits.Clear();
                LiteralMask(allowedBits);
                return true;
            case Phase.Arguments:
                arguments.ComputeMask(allowedBits);
                return true;
            default:
                allowedBits.Clear();
                return true;
        }
    }

    /// <summary>Advances by a sampled token; false (and no change) when the token is not allowed here.</summary>
    public bool TryAdvance(int token)
    {
        switch (phase)
        {
            case Phase.Free:
                return AdvanceFree(token);
            case Phase.Literal:
                return AdvanceLiteral(token);
            case Phase.Arguments:
                if (!arguments.TryAdvance(token)) return false;
                if (arguments.IsAccepting && !arguments.CanContinue) EnterLiteral(grammar.After, 0);
                return true;
            default:
                return false;
        }
    }

    bool FreeMask(Span<ulong> allowedBits)
    {
        if (grammar.Mode == ToolChoiceMode.None)
        {
            if (grammar.TriggerToken < 0) return false;
            allowedBits.Fill(ulong.MaxValue);
            allowedBits[grammar.TriggerToken >> 6] &= ~(1UL << grammar.TriggerToken);
            return true;
        }
        if (grammar.TriggerBytes is not { } trigger) return false;
        // Tokens that would finish the trigger and run on: from any partial match in progress (the KMP borders of the
        // current state), and tokens holding the whole trigger inside them.
        bool restricted = false;
        if (kmp > 0)
        {
            allowedBits.Fill(ulong.MaxValue);
            restricted = true;
            for (int k = kmp; k > 0; k = grammar.TriggerFailure![k])
            {
                int node = Walk(trigger.AsSpan(k));
                if (node < 0) continue;
                for (int n = node + 1; n < all.Next[node]; n++)
                    for (int t = all.TokenStart[n], e = t + all.TokenCount[n]; t < e; t++)
                        allowedBits[all.Ids[t] >> 6] &= ~(1UL << all.Ids[t]);
            }
        }
        ulong[] containing = grammar.ContainingTrigger!;
        if (!restricted)
        {
            if (!grammar.AnyContainsTrigger) return false;
            allowedBits.Fill(ulong.MaxValue);
        }
        for (int w = 0; w < containing.Length; w++) allowedBits[w] &= ~containing[w];
        return true;
    }

    /// <summary>The trie node reached by <paramref name="bytes"/> from the root, or -1.</summary>
    int Walk(ReadOnlySpan<byte> bytes)
    {
        int node = 0;
        foreach (byte b in bytes)
        {
            node = Child(node, b);
            if (node < 0) return -1;
        }
        return node;
    }

    int Child(int node, byte b)
    {
        int end = all.Next[node];
        for (int c = node + 1; c < end; c = all.Next[c])
        {
            byte edge = all.Edge[c];
            if (edge == b) return c;
            if (edge > b) return -1;
        }
        return -1;
    }

    void LiteralMask(Span<ulong> allowedBits)
    {
        for (int i = 0; i < candidates.Length; i++)
        {
            if (!alive[i]) continue;
            int[] c = candidates[i];
            if (pos >= c.Length) continue;
            if (c[pos] >= ToolCallGrammar.TokenSymbol)
            {
                int id = c[pos] - ToolCallGrammar.TokenSymbol;
                allowedBits[id >> 6] |= 1UL << id;
                continue;
            }
            int node = 0;
            for (int p = pos; p < c.Length && c[p] < ToolCallGrammar.TokenSymbol; p++)
            {
                node = Child(node, (byte)c[p]);
                if (node < 0) break;
                for (int t = all.TokenStart[node], e = t + all.TokenCount[node]; t < e; t++)
                    allowedBits[all.Ids[t] >> 6] |= 1UL << all.Ids[t];
            }
        }
    }

    bool AdvanceFree(int token)
    {
        if (undecided)
        {
            bool asAnswer = responseAlive && response!.TryAdvance(token);
            bool asCall = MatchCandidates(token, out int consumed);
            if (!asAnswer && !asCall) return false;
            if (asCall && !asAnswer)
            {
                undecided = false;
                responseAlive = false;
                phase = Phase.Literal;
                Consume(token, consumed);
                return true;
            }
            if (asCall) Consume(token, consumed);
            else undecided = false;
            if (undecided && phase == Phase.Free && pos >= grammar.TriggerLength)
            {
                // Both readings fit and the trigger is complete: the call wins.
                undecided = false;
                responseAlive = false;
                phase = Phase.Literal;
                Settle();
            }
            return true;
        }
        if (response is not null && responseAlive) return response.TryAdvance(token);
        var vocabulary = trie.Vocabulary;
        if (grammar.Mode == ToolChoiceMode.None) return token != grammar.TriggerToken;
        if (token == grammar.TriggerToken)
        {
            EnterLiteral(grammar.First, grammar.TriggerLength);
            return true;
        }
        if (grammar.TriggerBytes is not { } trigger || (uint)token >= (uint)vocabulary.Count || vocabulary.IsSpecial(token)) return true;
        ReadOnlySpan<byte> bytes = vocabulary.GetBytes(token);
        int k = kmp;
        int[] failure = grammar.TriggerFailure!;
        for (int i = 0; i < bytes.Length; i++)
        {
            while (k > 0 && bytes[i] != trigger[k]) k = failure[k];
            if (bytes[i] == trigger[k]) k++;
            if (k == trigger.Length)
            {
                if (i != bytes.Length - 1) return false;   // the mask refuses tokens that run past the trigger
                kmp = 0;
                EnterLiteral(grammar.First, grammar.TriggerLength);
                return true;
            }
        }
        kmp = k;
        return true;
    }

    bool AdvanceLiteral(int token)
    {
        if (!MatchCandidates(token, out int consumed)) return false;
        Consume(token, consumed);
        return true;
    }

    /// <summary>Whether <paramref name="token"/> continues some alive candidate; <paramref name="consumed"/> = symbols it covers.</summary>
    bool MatchCandidates(int token, out int consumed)
    {
        consumed = 0;
        var vocabulary = trie.Vocabulary;
        bool special = (uint)token >= (uint)vocabulary.Count || vocabulary.IsSpecial(token);
        ReadOnlySpan<byte> bytes = special ? default : vocabulary.GetBytes(token);
        for (int i = 0; i < candidates.Length; i++)
        {
            if (!alive[i]) continue;
            int[] c = candidates[i];
            if (pos < c.Length && c[pos] == ToolCallGrammar.TokenSymbol + token)
            {
                consumed = 1;
                return true;
            }
            if (!bytes.IsEmpty && Fits(c, bytes))
            {
                consumed = bytes.Length;
                return true;
            }
        }
        return false;
    }

    bool Fits(int[] c, ReadOnlySpan<byte> bytes)
    {
        if (pos + bytes.Length > c.Length) return false;
        for (int j = 0; j < bytes.Length; j++)
            if (c[pos + j] != bytes[j]) return false;
        return true;
    }

    /// <summary>Advances the alive candidates by the token (known to fit one), then settles a finished one.</summary>
    void Consume(int token, int consumed)
    {
        var vocabulary = trie.Vocabulary;
        bool special = (uint)token >= (uint)vocabulary.Count || vocabulary.IsSpecial(token);
        ReadOnlySpan<byte> bytes = special ? default : vocabulary.GetBytes(token);
        for (int i = 0; i < candidates.Length; i++)
        {
            if (!alive[i]) continue;
            int[] c = candidates[i];
            bool fits = consumed == 1 && pos < c.Length && c[pos] == ToolCallGrammar.TokenSymbol + token
                || (!bytes.IsEmpty && bytes.Length == consumed && Fits(c, bytes));
            alive[i] = fits;
        }
        pos += consumed;
        if (phase == Phase.Literal) Settle();
    }

    /// <summary>A candidate that is complete decides: its tool's arguments start, or the end is reached.</summary>
    void Settle()
    {
        endReached = false;
        for (int i = 0; i < candidates.Length; i++)
        {
            if (!alive[i] || pos != candidates[i].Length) continue;
            int target = ReferenceEquals(candidates, grammar.First) ? i : grammar.AfterTargets[i];
            if (target == ToolCallGrammar.End)
            {
                endReached = true;
                if (!AnyLonger()) phase = Phase.Done;
                return;
            }
            phase = Phase.Arguments;
            calls++;
            arguments.Reset(grammar.Arguments[target]);
            return;
        }
    }

    bool AnyLonger()
    {
        for (int i = 0; i < candidates.Length; i++)
            if (alive[i] && candidates[i].Length > pos) return true;
        return false;
    }

    void EnterLiteral(int[][] list, int start)
    {
        phase = Phase.Literal;
        EnterCandidates(list, start);
        if (start > 0) Settle();
    }

    void EnterCandidates(int[][] list, int start)
    {
        candidates = list;
        pos = start;
        for (int i = 0; i < alive.Length; i++) alive[i] = i < list.Length;
    }
}
