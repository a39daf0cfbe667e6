namespace OnnxLm.Engine.Cache;

/// <summary>
/// On a <c>partial struct</c> that declares one record (its instance fields): the generator emits a sealed class named
/// <paramref name="storageName"/> in the same namespace that stores N records as one array per field, allocated once,
/// with <c>ref</c> accessors per field and <c>Reset(i)</c> back to the field initializers. The struct itself is only the
/// declaration; no record objects exist at run time.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class StructOfArraysAttribute(string storageName) : Attribute
{
    public string StorageName { get; } = storageName;
}
