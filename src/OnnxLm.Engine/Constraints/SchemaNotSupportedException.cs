namespace OnnxLm.Engine.Constraints;

/// <summary>
/// A JSON schema the constrained decoder will not compile: a keyword that restricts the language and is not enforced,
/// an unsatisfiable schema, or a limit (size, states, compile time) exceeded. The HTTP layer maps it to a 400 whose
/// message names <see cref="Keyword"/> and <see cref="Pointer"/>; the compiler never skips a keyword silently.
/// </summary>
public sealed class SchemaNotSupportedException(string keyword, string pointer, string reason)
    : Exception($"JSON schema keyword '{keyword}' at '{(pointer.Length == 0 ? "#" : "#" + pointer)}': {reason}")
{
    /// <summary>The keyword refused (e.g. <c>uniqueItems</c>), or the limit's name (e.g. <c>maxNodes</c>).</summary>
    public string Keyword { get; } = keyword;

    /// <summary>JSON pointer of the schema object holding the keyword (empty for the root).</summary>
    public string Pointer { get; } = pointer;

    public string Reason { get; } = reason;
}
