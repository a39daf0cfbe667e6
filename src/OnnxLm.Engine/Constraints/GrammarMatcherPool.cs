namespace OnnxLm.Engine.Constraints;

/// <summary>
/// Reusable matchers over one vocabulary, so admitting a constrained sequence (or forking one for n &gt; 1) does not
/// allocate once the pool has warmed up: a matcher's buffers depend only on the <see cref="TokenTrie"/>, never on the
/// grammar. Thread-safe (a lock around a stack: rented once per request, not per step).
/// </summary>
public sealed class GrammarMatcherPool(TokenTrie trie, int maxRetained = 256)
{
    private readonly Stack<GrammarMatcher> free = new();
    private readonly Lock gate = new();

    public TokenTrie Trie => trie;

    /// <summary>A matcher at the start of a document of <paramref name="grammar"/>.</summary>
    public GrammarMatcher Rent(JsonGrammar grammar)
    {
        lock (gate)
        {
            if (free.TryPop(out GrammarMatcher? matcher))
            {
                matcher.Reset(grammar);
                return matcher;
            }
        }
        return new GrammarMatcher(grammar, trie);
    }

    /// <summary>A matcher at the same position as <paramref name="source"/> (an n &gt; 1 fork).</summary>
    public GrammarMatcher RentCopy(GrammarMatcher source)
    {
        GrammarMatcher matcher = Rent(source.Grammar);
        matcher.CopyFrom(source);
        return matcher;
    }

    public void Return(GrammarMatcher matcher)
    {
        if (!ReferenceEquals(matcher.Trie, trie))
        {
            throw new ArgumentException("The matcher belongs to another vocabulary's pool.", nameof(matcher));
        }
        lock (gate)
        {
            if (free.Count < maxRetained)
            {
                free.Push(matcher);
            }
        }
    }
}
