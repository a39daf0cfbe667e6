namespace OnnxLm.Http.Parsing;

/// <summary>
/// Binds a property or field of a <see cref="JsonRequestAttribute"/> type to the JSON property <paramref name="name"/>.
/// The member's type picks the wire shape (see <c>JsonFieldReader</c>); the limits turn oversized input into errors.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field, Inherited = false)]
public sealed class JsonFieldAttribute(string name) : Attribute
{
    public string Name { get; } = name;

    /// <summary>Largest accepted string, in bytes of the JSON text (escapes counted as written); 0 = no limit.</summary>
    public int MaxLength { get; set; }

    /// <summary>Largest accepted array or object entry count; 0 = no limit.</summary>
    public int MaxItems { get; set; }

    /// <summary>The property must be present and not null.</summary>
    public bool Required { get; set; }
}
