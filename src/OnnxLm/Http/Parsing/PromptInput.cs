namespace OnnxLm.Http.Parsing;

/// <summary>
/// A completions <c>prompt</c>: a string, an array of strings (<see cref="Texts"/>) or an array of token ids
/// (<see cref="Tokens"/>). An array's first element decides which; mixing is an error. Storage is kept across requests.
/// </summary>
public sealed class PromptInput
{
    int[] _tokens = [];
    int _tokenCount;

    public PromptKind Kind { get; private set; }

    public bool IsPresent => Kind != PromptKind.None;

    /// <summary>The text(s) for <see cref="PromptKind.Text"/> (one slice) and <see cref="PromptKind.Texts"/>.</summary>
    public Utf8SliceList Texts { get; } = new();

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, _tokenCount);

    public void SetKind(PromptKind kind) => Kind = kind;

    public void AddToken(int token)
    {
        if (_tokenCount == _tokens.Length) Array.Resize(ref _tokens, Math.Max(16, _tokens.Length * 2));
        _tokens[_tokenCount++] = token;
    }

    public void Clear()
    {
        Kind = PromptKind.None;
        _tokenCount = 0;
        Texts.Clear();
    }
}
