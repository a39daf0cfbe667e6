namespace OnnxLm.Http.Parsing;

/// <summary>
/// A recognised OpenAI parameter this server refuses: present with a non-default value (anything but null, false, 0,
/// "", [] or {}) it fails the request with "<c>param</c> <paramref name="message"/>". The member must be a <see cref="RawJson"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false)]
public sealed class UnsupportedAttribute(string message) : Attribute
{
    public string Message { get; } = message;
}
