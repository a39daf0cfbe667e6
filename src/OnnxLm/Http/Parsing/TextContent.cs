namespace OnnxLm.Http.Parsing;

/// <summary>
/// A message's <c>content</c>: a string, or an array of <c>{"type":"text","text":...}</c> parts whose texts are
/// <see cref="Parts"/> in order (a single string is one part). Other part types are refused while parsing.
/// </summary>
public sealed class TextContent
{
    public Utf8SliceList Parts { get; } = new();

    /// <summary>False when <c>content</c> was absent or null (assistant turns with tool calls).</summary>
    public bool IsPresent => Parts.IsPresent;

    /// <summary>True when the content was an array of parts.</summary>
    public bool IsArray => Parts.IsArray;

    public void Clear() => Parts.Clear();
}
