namespace OnnxLm.Http.Parsing;

/// <summary>
/// A completions <c>prompt</c>: a string, an array of strings (<see cref="Texts"/>) or an array of token ids
/// (<see cref="Tokens"/>). An array's first element decides which; mixing is an error. Storage is kept across requests.
/// </summary>
public sealed class PromptInput
{
    int[] tokens = [];
    int tokenCount;

    public PromptKind Kind { get; private set; }

    public bool IsPresent => Kind != PromptKind.None;

    /// <summary>The text(s) for <see cref="PromptKind.Text"/> (one slice) and <see cref="PromptKind.Texts"/>.</summary>
    public Utf8SliceList Texts { get; } = new();

    public ReadOnlySpan<int> Tokens => tokens.AsSpan(0, tokenCount);

    public void SetKind(PromptKind kind) => Kind = kind;

    public void AddToken(int token)
    {
        if (tokenCount == tokens.Length) Array.Resize(ref tokens, Math.Max(16, tokens.Length * 2));
        tokens[tokenCount++] = token;
    }

    public void Clear()
    {
        Kind = PromptKind.None;
        tokenCount = 0;
        Texts.Clear();
    }
}
