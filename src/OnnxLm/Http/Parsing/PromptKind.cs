namespace OnnxLm.Http.Parsing;

/// <summary>Which of the accepted shapes a completions <c>prompt</c> had.</summary>
public enum PromptKind : byte
{
    /// <summary>Absent or null.</summary>
    None,
    /// <summary>A single string.</summary>
    Text,
    /// <summary>An array of strings (possibly empty).</summary>
    Texts,
    /// <summary>An array of token ids.</summary>
    Tokens,
}
