namespace OnnxLm.Engine.Text;

/// <summary>
/// The added tokens a reasoning model (DeepSeek-R1, Qwen3, QwQ) thinks between: <c>&lt;think&gt;</c> and
/// <c>&lt;/think&gt;</c>. Found by id in the vocabulary, so the output is split on the tokens the model sampled, never
/// on text that merely spells a tag. A vocabulary without both has none, and its requests pay nothing.
/// </summary>
public readonly record struct ReasoningTags(int Open, int Close)
{
    /// <summary>Whitespace-only tokens a template may write after the opening tag (R1's ends with <c>&lt;think&gt;\n</c>).</summary>
    const int MaxTrailingWhitespaceTokens = 4;

    /// <summary>
    /// The tags of <paramref name="vocabulary"/>, or null when it lacks either, or when either lies past the model's
    /// <paramref name="logits"/> (a tokenizer larger than the model): a thought the model could never close would swallow
    /// the whole answer.
    /// </summary>
    public static ReasoningTags? Find(TokenVocabulary vocabulary, int logits = int.MaxValue) =>
        vocabulary.FindToken("<think>") is int open && vocabulary.FindToken("</think>") is int close && open != close
            && open < logits && close < logits
            ? new ReasoningTags(open, close)
            : null;

    public bool IsTag(int token) => token == Open || token == Close;

    /// <summary>
    /// True when the rendered prompt leaves a thought open: it ends with the opening tag, possibly followed by
    /// whitespace-only tokens (the DeepSeek-R1 template ends the generation prompt with <c>&lt;think&gt;\n</c>, so the
    /// model starts inside its thought and never samples the tag).
    /// </summary>
    public bool OpenedBy(ReadOnlySpan<int> prompt, TokenVocabulary vocabulary)
    {
        int last = prompt.Length - 1;
        for (int skipped = 0; last >= 0 && skipped < MaxTrailingWhitespaceTokens && IsWhitespace(prompt[last], vocabulary); skipped++)
        {
            last--;
        }
        return last >= 0 && prompt[last] == Open;
    }

    private bool IsWhitespace(int token, TokenVocabulary vocabulary)
    {
        if (IsTag(token) || (uint)token >= (uint)vocabulary.Count)
        {
            return false;
        }
        ReadOnlySpan<byte> bytes = vocabulary.GetBytes(token);
        return !bytes.IsEmpty && bytes.IndexOfAnyExcept(" \t\r\n"u8) < 0;
    }
}
